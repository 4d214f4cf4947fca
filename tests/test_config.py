"""Tests of faceripper.config: the v1 config format, its validation and ``--refs``.

Everything here is synthetic and fast: config files and tiny reference images are
written into pytest's tmp_path. Every bad input checks the exact one-line message,
which names the file and the place in the JSON.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from PIL import Image

from faceripper.config import (
    Config,
    config_from_refs,
    folder_key,
    label_problem,
    load_config,
    negatives_config,
    parse_config,
)
from faceripper.errors import ConfigError, UsageError

from conftest import run_cli

NOT_FOUND_HINT = "config file not found (create one with: faceripper init-config REFS_DIR)"

# ---------------------------------------------------------------------------- helpers


def make_faces(folder: Path, n: int = 1, ext: str = ".png") -> Path:
    """A folder of ``n`` tiny images (the config only looks at names; encode reads them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (8, 8), (i * 40 % 256, 90, 120)).save(folder / f"{i}{ext}")
    return folder


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def problems_of(path: Path, check_folders: bool = True) -> list[str]:
    """The problems load_config reports for ``path`` (fails if it loads)."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_folders=check_folders)
    assert str(caught.value) == "\n".join(caught.value.problems)
    assert caught.value.exit_code == 2
    return caught.value.problems


def one_person(tmp_path: Path, **entry: object) -> Path:
    """A config of one person ``P`` whose faces folder ``faces`` exists, with ``entry``."""
    make_faces(tmp_path / "faces")
    return write_json(tmp_path / "config.json", {"P": {"faces_dir": "faces", **entry}})


def cli_errors(result) -> list[str]:
    """The stderr lines of a failed command, checking nothing went to stdout."""
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    return result.stderr.splitlines()


# ---------------------------------------------------------------------------- valid files


def test_v1_example_loads_with_faces_dir_relative_to_the_config(tmp_path, monkeypatch):
    config_dir = tmp_path / "project"
    make_faces(config_dir / "faces" / "mina", 2)
    write_json(
        config_dir / "config.json",
        {
            "Myoui Mina": {
                "label": "名井 南",
                "group": "TWICE (트와이스)",
                "faces_dir": "faces/mina",
            }
        },
    )
    elsewhere = tmp_path / "elsewhere"
    make_faces(elsewhere / "faces" / "mina")  # a decoy: the cwd must not be used
    monkeypatch.chdir(elsewhere)

    config = load_config(Path("../project/config.json"))

    assert isinstance(config, Config)
    assert len(config) == 1
    (mina,) = config
    assert mina.name == "Myoui Mina"
    assert mina.label == "名井 南"
    assert mina.group == "TWICE (트와이스)"
    assert mina.faces_dir == (config_dir / "faces" / "mina").resolve()
    assert mina.faces_dir.is_absolute()
    assert config.source == Path("../project/config.json")
    assert config.person("Myoui Mina") is mina


def test_absolute_faces_dir(tmp_path):
    faces = make_faces(tmp_path / "somewhere" / "else" / "amy")
    path = write_json(
        tmp_path / "cfg" / "c.json", {"Amy": {"label": "amy", "faces_dir": str(faces)}}
    )
    assert load_config(path).person("Amy").faces_dir == faces.resolve()


def test_group_is_optional_and_extra_keys_are_ignored(tmp_path):
    make_faces(tmp_path / "a")
    make_faces(tmp_path / "b")
    path = write_json(
        tmp_path / "config.json",
        {
            "Amy": {"label": "amy", "faces_dir": "a"},
            "Bob": {"label": "bob", "faces_dir": "b", "notes": "v1 extra", "tolerance": 0.5},
        },
    )
    config = load_config(path)
    assert [(p.name, p.label, p.group) for p in config] == [("Amy", "amy", ""), ("Bob", "bob", "")]


def test_people_keep_the_order_of_the_file(tmp_path):
    names = ["Zoe", "Amy", "Mia", "Bob"]
    for name in names:
        make_faces(tmp_path / name)
    path = write_json(
        tmp_path / "config.json", {n: {"label": n.lower(), "faces_dir": n} for n in names}
    )
    config = load_config(path)
    assert [p.name for p in config] == names
    with pytest.raises(KeyError):
        config.person("Nobody")


def test_utf8_bom_is_accepted(tmp_path):
    make_faces(tmp_path / "faces")
    path = tmp_path / "config.json"
    text = json.dumps({"名井": {"label": "名井 南", "faces_dir": "faces"}}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert load_config(path).person("名井").label == "名井 南"


def test_nested_faces_are_found_and_hidden_files_do_not_count(tmp_path):
    make_faces(tmp_path / "faces" / "2019" / "summer")
    (tmp_path / "hidden" / ".thumbs").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "hidden" / ".thumbs" / "a.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "hidden" / ".a.png")
    path = write_json(
        tmp_path / "config.json",
        {"A": {"label": "a", "faces_dir": "faces"}, "H": {"label": "h", "faces_dir": "hidden"}},
    )
    assert problems_of(path) == [
        f'{path}: $["H"].faces_dir: {(tmp_path / "hidden").resolve()} holds no images'
    ]


@pytest.mark.parametrize(
    "label",
    ["名井 南", "Amy", "amy-2", "O'Brien", "a.b", "COM10", "CONSOLE", "LPT", "x" * 200, "é" * 100],
)
def test_good_labels(tmp_path, label):
    assert label_problem(label) is None
    assert load_config(one_person(tmp_path, label=label)).person("P").label == label


# ---------------------------------------------------------------------------- many problems at once


def test_every_problem_is_reported_at_once(tmp_path):
    make_faces(tmp_path / "a")
    path = write_json(
        tmp_path / "config.json",
        {
            "Amy": {"label": "a/b", "faces_dir": "a"},
            "Bob": {"label": "bob", "faces_dir": "missing"},
            "Cat": {"label": 7, "faces_dir": "a"},
        },
    )
    assert problems_of(path) == [
        f"{path}: $[\"Amy\"].label: label 'a/b' contains '/', which cannot appear in a folder name",
        f'{path}: $["Bob"].faces_dir: folder {(tmp_path / "missing").resolve()} does not exist',
        f'{path}: $["Cat"].label: must be a string, got int',
    ]


def test_bad_label_and_missing_folder_of_one_person_are_both_reported(tmp_path):
    path = write_json(tmp_path / "config.json", {"Amy": {"label": "CON", "faces_dir": "gone"}})
    assert problems_of(path) == [
        f"{path}: $[\"Amy\"].label: label 'CON' is a reserved device name on Windows",
        f'{path}: $["Amy"].faces_dir: folder {(tmp_path / "gone").resolve()} does not exist',
    ]


# ---------------------------------------------------------------------------- file-level problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a" 1}', ":1:6: invalid JSON: Expecting ':' delimiter"),
        (
            '{\n  "a": {\n    "label": "x",\n    "faces_dir": "f",\n  }\n}',
            ":5:3: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        ('{"a": {"label": "x"}\n\n   ]', ":3:4: invalid JSON: Expecting ',' delimiter"),
        ("", ":1:1: invalid JSON: Expecting value"),
    ],
)
def test_malformed_json_reports_line_and_column(tmp_path, text, expected):
    path = tmp_path / "config.json"
    path.write_text(text, encoding="utf-8")
    assert problems_of(path) == [f"{path}{expected}"]


@pytest.mark.parametrize(
    ("data", "kind"), [([], "list"), ("people", "str"), (3, "int"), (None, "NoneType")]
)
def test_top_level_must_be_an_object(tmp_path, data, kind):
    path = write_json(tmp_path / "config.json", data)
    assert problems_of(path) == [f"{path}: expected a JSON object keyed by person name, got {kind}"]


def test_empty_object(tmp_path):
    path = write_json(tmp_path / "config.json", {})
    assert problems_of(path) == [f"{path}: no people defined"]


def test_config_file_not_found_suggests_init_config(tmp_path):
    path = tmp_path / "nope.json"
    assert problems_of(path) == [f"{path}: {NOT_FOUND_HINT}"]


def test_config_path_is_a_folder(tmp_path):
    assert problems_of(tmp_path) == [f"{tmp_path}: is a folder, expected a JSON config file"]


@pytest.mark.parametrize(
    ("raw", "byte"),
    [
        ('{"Zoë": {"label": "z", "faces_dir": "f"}}'.encode("latin-1"), 4),
        ('{"a": 1}'.encode("utf-16"), 0),
    ],
)
def test_not_utf8(tmp_path, raw, byte):
    path = tmp_path / "config.json"
    path.write_bytes(raw)
    assert problems_of(path) == [f"{path}: not UTF-8 text (byte {byte})"]


def test_duplicate_person_keys(tmp_path):
    make_faces(tmp_path / "f")
    path = tmp_path / "config.json"
    path.write_text(
        '{"Amy": {"label": "amy", "faces_dir": "f"},\n'
        ' "Bob": {"label": "bob", "faces_dir": "f"},\n'
        ' "Amy": {"label": "amy2", "faces_dir": "f"}}',
        encoding="utf-8",
    )
    assert problems_of(path) == [f'{path}: $["Amy"]: person defined more than once']


# ---------------------------------------------------------------------------- person entries


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"label": 3, "faces_dir": "faces"}, [".label: must be a string, got int"]),
        ({"label": None, "faces_dir": "faces"}, [".label: must be a string, got null"]),
        ({"label": ["a"], "faces_dir": "faces"}, [".label: must be a string, got list"]),
        ({"faces_dir": "faces"}, [".label: required field is missing"]),
        ({"label": "p"}, [".faces_dir: required field is missing"]),
        ({"label": "p", "faces_dir": 1}, [".faces_dir: must be a string, got int"]),
        ({"label": "p", "faces_dir": "  "}, [".faces_dir: faces_dir is empty"]),
        ({"label": "p", "faces_dir": "faces", "group": 5}, [".group: must be a string, got int"]),
        ({}, [".label: required field is missing", ".faces_dir: required field is missing"]),
    ],
)
def test_missing_and_mistyped_fields(tmp_path, entry, expected):
    make_faces(tmp_path / "faces")
    path = write_json(tmp_path / "config.json", {"P": entry})
    assert problems_of(path) == [f'{path}: $["P"]{line}' for line in expected]


@pytest.mark.parametrize(("entry", "kind"), [("faces/p", "str"), (["faces"], "list"), (1, "int")])
def test_person_entry_must_be_an_object(tmp_path, entry, kind):
    path = write_json(tmp_path / "config.json", {"P": entry})
    assert problems_of(path) == [
        f'{path}: $["P"]: expected an object with label, group and faces_dir, got {kind}'
    ]


def test_person_name_is_quoted_as_json_in_messages(tmp_path):
    path = write_json(tmp_path / "config.json", {'Dwayne "The Rock"\nJohnson': {"label": 1}})
    problems = problems_of(path, check_folders=False)
    assert (
        problems[0]
        == f'{path}: $["Dwayne \\"The Rock\\"\\nJohnson"].label: must be a string, got int'
    )
    assert all("\n" not in line for line in problems)


def test_empty_person_name(tmp_path):
    make_faces(tmp_path / "f")
    path = write_json(tmp_path / "config.json", {" ": {"label": "a", "faces_dir": "f"}})
    assert problems_of(path) == [f'{path}: $[" "]: person name is empty']


# ---------------------------------------------------------------------------- faces_dir


def test_faces_dir_missing(tmp_path):
    path = write_json(tmp_path / "config.json", {"P": {"label": "p", "faces_dir": "nope"}})
    assert problems_of(path) == [
        f'{path}: $["P"].faces_dir: folder {(tmp_path / "nope").resolve()} does not exist'
    ]


def test_faces_dir_is_a_file(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"")
    path = write_json(tmp_path / "config.json", {"P": {"label": "p", "faces_dir": "photo.jpg"}})
    assert problems_of(path) == [
        f'{path}: $["P"].faces_dir: {(tmp_path / "photo.jpg").resolve()} is not a folder'
    ]


@pytest.mark.parametrize("files", [[], ["notes.txt", "video.mp4"], [".hidden.jpg"]])
def test_faces_dir_holding_no_images(tmp_path, files):
    faces = tmp_path / "faces"
    faces.mkdir()
    for name in files:
        (faces / name).write_bytes(b"x")
    path = write_json(tmp_path / "config.json", {"P": {"label": "p", "faces_dir": "faces"}})
    assert problems_of(path) == [f'{path}: $["P"].faces_dir: {faces.resolve()} holds no images']


def test_check_folders_false_skips_the_folder_checks(tmp_path):
    path = write_json(tmp_path / "config.json", {"P": {"label": "p", "faces_dir": "nope"}})
    config = load_config(path, check_folders=False)
    assert config.person("P").faces_dir == (tmp_path / "nope").resolve()


# ---------------------------------------------------------------------------- labels

FOLDER_NAME = "cannot appear in a folder name"
RESERVED = "a reserved device name on Windows"
TRAILING = "ends with a space or a dot, which Windows removes from folder names"


@pytest.mark.parametrize(
    ("label", "problem"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (".", "is '.', which is not a folder name"),
        ("..", "is '..', which is not a folder name"),
        ("a/b", f"contains '/', which {FOLDER_NAME}"),
        ("/", f"contains '/', which {FOLDER_NAME}"),
        ("a\\b", f"contains '\\\\', which {FOLDER_NAME}"),
        ("CON", f"is {RESERVED}"),
        ("nul", f"is {RESERVED}"),
        ("COM1", f"is {RESERVED}"),
        ("com9", f"is {RESERVED}"),
        ("LPT9.txt", f"is {RESERVED}"),
        ("aux.tar.gz", f"is {RESERVED}"),
        ("PRN", f"is {RESERVED}"),
        ("amy.", TRAILING),
        ("amy ", TRAILING),
        ("amy. ", TRAILING),
        ("...", TRAILING),
        (" amy", "starts with a space"),
        (
            ".amy",
            "starts with '.', which makes a hidden folder that dataset loaders skip or misread",
        ),
        ("x" * 201, "is longer than 200 bytes"),
        ("名" * 67, "is longer than 200 bytes"),  # 201 bytes in UTF-8
    ],
)
def test_bad_labels(tmp_path, label, problem):
    assert label_problem(label) == problem
    path = one_person(tmp_path, label=label)
    assert problems_of(path) == [f'{path}: $["P"].label: label {label!r} {problem}']


@pytest.mark.parametrize("char", list('<>:"|?*'))
def test_windows_forbidden_characters(tmp_path, char):
    label = f"a{char}b"
    path = one_person(tmp_path, label=label)
    assert problems_of(path) == [
        f'{path}: $["P"].label: label {label!r} contains {char!r}, which {FOLDER_NAME}'
    ]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\t", "\n", "\r", "\x1b", "\x1f", "\x7f"])
def test_control_characters(tmp_path, char):
    label = f"a{char}b"
    path = one_person(tmp_path, label=label)
    (line,) = problems_of(path)
    assert line == f'{path}: $["P"].label: label {label!r} contains the control character {char!r}'
    assert "\n" not in line and "\r" not in line


def _two_people(tmp_path: Path, first: str, second: str) -> Path:
    make_faces(tmp_path / "f")
    return write_json(
        tmp_path / "config.json",
        {
            "First": {"label": first, "faces_dir": "f"},
            "Second": {"label": second, "faces_dir": "f"},
        },
    )


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("amy", "amy", "the same label"),
        ("Amy", "amy", "labels that collide"),
        ("STRASSE", "straße", "labels that collide"),  # casefold
        ("Zoë", unicodedata.normalize("NFD", "Zoë"), "labels that collide"),  # NFC vs NFD
    ],
)
def test_labels_must_name_different_folders(tmp_path, first, second, same):
    path = _two_people(tmp_path, first, second)
    assert problems_of(path) == [
        f"{path}: $[\"Second\"].label: 'Second' and 'First' have {same} "
        f"({first!r}, {second!r}); each person needs a class folder of their own"
    ]


def test_folder_key():
    assert folder_key("Amy") == folder_key("AMY") == folder_key("amy")
    assert folder_key("Amy") != folder_key("Amy2")


def test_parse_config_names_the_given_path(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_config("[]", Path("some/where.json"))
    assert caught.value.problems == [
        "some/where.json: expected a JSON object keyed by person name, got list"
    ]


# ---------------------------------------------------------------------------- the CLI


def test_cli_reports_every_problem_on_stderr_with_exit_2(tmp_path):
    make_faces(tmp_path / "a")
    path = write_json(
        tmp_path / "bad.json",
        {
            "Amy": {"label": "a|b", "faces_dir": "a"},
            "Bob": {"label": "bob"},
            "Cat": {"label": "cat", "faces_dir": "nowhere"},
        },
    )
    result = run_cli(["encode", "--config", str(path)])
    assert result.exit_code == 2
    assert cli_errors(result) == [
        f"error: {path}: $[\"Amy\"].label: label 'a|b' contains '|', which {FOLDER_NAME}",
        f'error: {path}: $["Bob"].faces_dir: required field is missing',
        f'error: {path}: $["Cat"].faces_dir: folder {(tmp_path / "nowhere").resolve()} '
        "does not exist",
    ]
    assert not list(tmp_path.glob("*.npz"))


def test_cli_relative_config_path_in_messages(tmp_path):
    (tmp_path / "bad.json").write_text('{"a": }', encoding="utf-8")
    result = run_cli(["encode", "--config", "bad.json"], cwd=tmp_path)
    assert result.exit_code == 2
    assert cli_errors(result) == ["error: bad.json:1:7: invalid JSON: Expecting value"]


def test_cli_default_config_missing(tmp_path):
    result = run_cli(["encode"], cwd=tmp_path)
    assert result.exit_code == 2
    assert cli_errors(result) == [f"error: config.json: {NOT_FOUND_HINT}"]


@pytest.mark.parametrize("command", ["encode", "check-refs"])
def test_cli_not_utf8(tmp_path, command):
    (tmp_path / "c.json").write_bytes(b"\xff\xfe{}")
    result = run_cli([command, "-c", "c.json"], cwd=tmp_path)
    assert result.exit_code == 2
    assert cli_errors(result) == ["error: c.json: not UTF-8 text (byte 0)"]


def test_cli_rip_with_a_bad_config(tmp_path):
    path = write_json(tmp_path / "c.json", {})
    result = run_cli(["rip", "-c", str(path), "--video-dir", str(tmp_path), "--target-dir", "out"])
    assert result.exit_code == 2
    assert cli_errors(result) == [f"error: {path}: no people defined"]


# ---------------------------------------------------------------------------- --refs


def _refs(tmp_path: Path) -> Path:
    refs = tmp_path / "refs"
    make_faces(refs / "Zoë", 2)
    make_faces(refs / "amy", 1, ".jpg")
    make_faces(refs / "bob" / "nested")
    (refs / "empty").mkdir()
    (refs / "notes").mkdir()
    (refs / "notes" / "readme.txt").write_text("x", encoding="utf-8")
    make_faces(refs / ".cache")
    Image.new("RGB", (8, 8)).save(refs / "loose.png")
    return refs


def test_config_from_refs(tmp_path):
    refs = _refs(tmp_path)
    config, skipped = config_from_refs(refs, group="G")
    assert [(p.name, p.label, p.group) for p in config] == [
        ("Zoë", "Zoë", "G"),
        ("amy", "amy", "G"),
        ("bob", "bob", "G"),
    ]
    assert [p.faces_dir for p in config] == [(refs / n).resolve() for n in ("Zoë", "amy", "bob")]
    assert skipped == [refs / "empty", refs / "notes"]
    assert config.source == refs


@pytest.mark.parametrize(
    ("make", "what"), [(False, "does not exist"), (True, "is a file, not a folder")]
)
def test_config_from_refs_needs_a_folder(tmp_path, make, what):
    refs = tmp_path / "refs"
    if make:
        refs.write_text("x", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        config_from_refs(refs)
    assert str(caught.value) == f"{refs}: references folder {what}"


def test_config_from_refs_without_person_folders(tmp_path):
    refs = tmp_path / "refs"
    (refs / "empty").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(refs / "loose.png")
    with pytest.raises(UsageError) as caught:
        config_from_refs(refs)
    assert str(caught.value) == (
        f"{refs}: no subfolder with images (expected one folder per person)"
    )


@pytest.mark.parametrize(
    ("folders", "expected"),
    [
        (["CON"], "$[\"CON\"].label: label 'CON' is a reserved device name on Windows"),
        (["a:b"], f"$[\"a:b\"].label: label 'a:b' contains ':', which {FOLDER_NAME}"),
        (["amy."], f"$[\"amy.\"].label: label 'amy.' {TRAILING}"),
        (
            ["Amy", "amy"],
            "$[\"amy\"].label: 'amy' and 'Amy' have labels that collide ('Amy', 'amy'); "
            "each person needs a class folder of their own",
        ),
    ],
)
def test_config_from_refs_rejects_folder_names_unusable_as_labels(tmp_path, folders, expected):
    refs = tmp_path / "refs"
    for name in folders:
        make_faces(refs / name)
    with pytest.raises(ConfigError) as caught:
        config_from_refs(refs)
    assert caught.value.problems == [f"{refs / '(folders)'}: {expected}"]
    result = run_cli(["encode", "--refs", str(refs)])
    assert result.exit_code == 2
    assert cli_errors(result) == [f"error: {refs / '(folders)'}: {expected}"]


@pytest.mark.parametrize("make", [False, True])
def test_cli_refs_missing(tmp_path, make):
    refs = tmp_path / "refs"
    if make:
        refs.mkdir()
    result = run_cli(["encode", "--refs", str(refs)])
    assert result.exit_code == 2
    what = (
        "no subfolder with images (expected one folder per person)"
        if make
        else ("references folder does not exist")
    )
    assert cli_errors(result) == [f"error: {refs}: {what}"]


def test_cli_encode_with_refs_warns_of_skipped_folders(tmp_path):
    refs = _refs(tmp_path)
    result = run_cli(["encode", "--refs", str(refs), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    cache = refs / ".faceripper-encodings.npz"
    assert result.stdout == (
        f"{cache}: 0 encodings of 3 people (4 photos encoded, 0 unchanged, 0 removed)\n"
    )
    # (the progress bar leaves an empty line behind on a non-terminal)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert f"warning: {refs / 'empty'}: no images, skipped" in lines
    assert f"warning: {refs / 'notes'}: no images, skipped" in lines
    # the flat 8x8 test images hold no face: each is reported
    for photo in ("Zoë/0.png", "Zoë/1.png", "amy/0.jpg", "bob/nested/0.png"):
        assert f"warning: {(refs / photo).resolve()}: no face found" in lines
    assert len(lines) == 6, result.stderr
    assert cache.is_file()
    # the cache is hidden: the next run does not take it for anything
    again = run_cli(["encode", "--refs", str(refs), "--threads", "1"])
    assert again.exit_code == 0, again.stderr
    assert "(0 photos encoded, 4 unchanged, 0 removed)" in again.stdout


@pytest.mark.parametrize("make", [None, "file"])
def test_a_missing_negatives_folder_is_named_as_the_negatives(tmp_path, make):
    # --negatives is not the references: the message said "references folder".
    folder = tmp_path / "lookalikes"
    if make == "file":
        folder.write_text("not a folder")
    with pytest.raises(UsageError) as caught:
        negatives_config(folder)
    what = "is a file, not a folder" if make else "does not exist"
    assert str(caught.value) == f"{folder}: negatives folder {what}"
