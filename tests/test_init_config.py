"""Tests of ``faceripper init-config`` (faceripper.config.init_config).

Reference folders are built in tmp_path, or are the shared test data's face-api.js
folder, passed by path and never copied into the project.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from faceripper.config import init_config, load_config
from faceripper.errors import UsageError

from conftest import run_cli

FACE_API_PEOPLE = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]


def make_refs(root: Path, names: list[str], empty: tuple[str, ...] = ()) -> Path:
    """A folder of person folders holding one tiny image each, plus image-less folders."""
    for name in names:
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / name / "1.png")
    for name in empty:
        (root / name).mkdir(parents=True)
    return root


def written(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n")
    return json.loads(text)


def stderr_lines(result) -> list[str]:
    # the CLI's progress/console may leave blank lines; only the text lines matter
    return [line for line in result.stderr.splitlines() if line.strip()]


# ---------------------------------------------------------------------------- face-api.js


def test_face_api_js_gives_eight_people(testdata: Path, tmp_path: Path, monkeypatch):
    refs = testdata / "face-api.js"
    output = tmp_path / "configs" / "deep" / "config.json"  # another folder, not yet there
    result = run_cli(["init-config", str(refs), "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote {output} with 8 people: {', '.join(FACE_API_PEOPLE)}\n"
    assert stderr_lines(result) == []  # bbt*.jpg and the video beside the folders are ignored

    data = written(output)
    assert list(data) == FACE_API_PEOPLE
    for name, entry in data.items():
        assert entry == {
            "label": name,
            "group": "",
            "faces_dir": Path(os.path.relpath(refs / name, output.parent)).as_posix(),
        }
        assert not Path(entry["faces_dir"]).is_absolute()

    # loads back from a different cwd, by absolute and by relative path
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for path in (output, Path(os.path.relpath(output, elsewhere))):
        config = load_config(path)
        assert [p.name for p in config] == FACE_API_PEOPLE
        assert [p.label for p in config] == FACE_API_PEOPLE
        assert [p.faces_dir for p in config] == [(refs / n).resolve() for n in FACE_API_PEOPLE]


def test_face_api_js_relative_output_and_group(testdata: Path, tmp_path: Path):
    result = run_cli(
        ["init-config", str(testdata / "face-api.js"), "-o", "sub/bbt.json", "-g", "TBBT"],
        cwd=tmp_path,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("wrote sub/bbt.json with 8 people: amy, ")
    data = written(tmp_path / "sub" / "bbt.json")
    assert {entry["group"] for entry in data.values()} == {"TBBT"}
    assert (
        data["amy"]["faces_dir"]
        == Path(os.path.relpath(testdata / "face-api.js" / "amy", tmp_path / "sub")).as_posix()
    )


def test_init_config_function_returns_the_loaded_config(testdata: Path, tmp_path: Path):
    output = tmp_path / "c.json"
    config, skipped = init_config(testdata / "face-api.js", output, group="g")
    assert skipped == []
    assert config.source == output
    assert len(config) == 8
    assert config.person("raj").faces_dir == (testdata / "face-api.js" / "raj").resolve()
    assert config.person("raj").group == "g"


# ---------------------------------------------------------------------------- tmp folders


def test_default_output_is_config_json_in_the_cwd(tmp_path: Path):
    make_refs(tmp_path / "refs", ["amy", "bob"])
    result = run_cli(["init-config", "refs"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "wrote config.json with 2 people: amy, bob\n"
    assert written(tmp_path / "config.json") == {
        "amy": {"label": "amy", "group": "", "faces_dir": "refs/amy"},
        "bob": {"label": "bob", "group": "", "faces_dir": "refs/bob"},
    }


def test_output_in_a_sibling_folder_gets_a_relative_path(tmp_path: Path):
    refs = make_refs(tmp_path / "data" / "refs", ["amy"])
    output = tmp_path / "configs" / "c.json"
    result = run_cli(["init-config", str(refs), "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    assert written(output)["amy"]["faces_dir"] == "../data/refs/amy"
    # moving both trees together keeps the config working: the path is relative
    shutil.move(tmp_path / "data", tmp_path / "moved" / "data")
    shutil.move(tmp_path / "configs", tmp_path / "moved" / "configs")
    config = load_config(tmp_path / "moved" / "configs" / "c.json")
    assert config.person("amy").faces_dir == (tmp_path / "moved" / "data" / "refs" / "amy")


def test_subfolders_without_images_are_skipped_with_a_warning(tmp_path: Path):
    refs = make_refs(tmp_path / "refs", ["amy", "cat"], empty=("bob", "dan"))
    (refs / "dan" / "notes.txt").write_text("no photos yet", encoding="utf-8")
    make_refs(refs, [".hidden"])  # hidden folders are not people, and not reported
    Image.new("RGB", (8, 8)).save(refs / "group-photo.png")  # loose files are not people
    output = tmp_path / "config.json"
    result = run_cli(["init-config", str(refs), "-o", str(output)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"wrote {output} with 2 people: amy, cat\n"
    assert stderr_lines(result) == [
        f"warning: {refs / 'bob'}: no images, skipped",
        f"warning: {refs / 'dan'}: no images, skipped",
    ]
    assert list(written(output)) == ["amy", "cat"]


def test_refuses_to_overwrite_without_force(tmp_path: Path):
    make_refs(tmp_path / "refs", ["amy", "bob"])
    output = tmp_path / "config.json"
    output.write_text("my precious config", encoding="utf-8")
    result = run_cli(["init-config", "refs"], cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert stderr_lines(result) == [
        "error: config.json: already exists; use --force to overwrite it"
    ]
    assert output.read_text(encoding="utf-8") == "my precious config"

    result = run_cli(["init-config", "refs", "--force"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    assert list(written(output)) == ["amy", "bob"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_group_is_written_for_everyone(tmp_path: Path):
    make_refs(tmp_path / "refs", ["Myoui Mina", "Sana"])
    result = run_cli(["init-config", "refs", "--group", "TWICE (트와이스)"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    data = written(tmp_path / "config.json")
    assert [entry["group"] for entry in data.values()] == ["TWICE (트와이스)"] * 2
    assert [p.group for p in load_config(tmp_path / "config.json")] == ["TWICE (트와이스)"] * 2


def test_unicode_folder_names(tmp_path: Path):
    names = sorted(["名井 南", "Zoë", "트와이스", "Ольга"])
    make_refs(tmp_path / "refs", names)
    result = run_cli(["init-config", "refs"], cwd=tmp_path)
    assert result.exit_code == 0, result.stderr
    text = (tmp_path / "config.json").read_text(encoding="utf-8")
    assert "名井 南" in text  # written as UTF-8 text, not \\u escapes
    config = load_config(tmp_path / "config.json")
    assert [(p.name, p.label) for p in config] == [(n, n) for n in names]
    assert [p.faces_dir for p in config] == [(tmp_path / "refs" / n).resolve() for n in names]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "{refs}: references folder does not exist"),
        ("file", "{refs}: references folder is a file, not a folder"),
        ("no people", "{refs}: no subfolder with images (expected one folder per person)"),
    ],
)
def test_unusable_refs_folder(tmp_path: Path, setup, message):
    refs = tmp_path / "refs"
    if setup == "file":
        refs.write_text("x", encoding="utf-8")
    elif setup == "no people":
        make_refs(refs, [], empty=("empty",))
    result = run_cli(["init-config", str(refs), "-o", str(tmp_path / "c.json")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert stderr_lines(result) == ["error: " + message.format(refs=refs)]
    assert not (tmp_path / "c.json").exists()


def test_folder_names_unusable_as_labels_write_nothing(tmp_path: Path):
    make_refs(tmp_path / "refs", ["Amy", "amy", "aux", "ok"])
    result = run_cli(["init-config", "refs"], cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert stderr_lines(result) == [
        "error: config.json: $[\"aux\"].label: label 'aux' is a reserved device name on Windows",
        "error: config.json: $[\"amy\"].label: 'amy' and 'Amy' have labels that collide "
        "('Amy', 'amy'); each person needs a class folder of their own",
    ]
    assert not (tmp_path / "config.json").exists()


def test_output_that_is_a_folder_is_refused(tmp_path: Path):
    make_refs(tmp_path / "refs", ["amy"])
    (tmp_path / "out").mkdir()
    result = run_cli(["init-config", "refs", "-o", "out"], cwd=tmp_path)
    assert result.exit_code == 2
    assert "is a directory" in result.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_init_config_function_refuses_to_overwrite(tmp_path: Path):
    make_refs(tmp_path / "refs", ["amy"])
    output = tmp_path / "c.json"
    output.write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        init_config(tmp_path / "refs", output)
    assert str(caught.value) == f"{output}: already exists; use --force to overwrite it"
    config, _ = init_config(tmp_path / "refs", output, force=True)
    assert [p.name for p in config] == ["amy"]


# ---------------------------------------------------------------------------- then encode


def test_init_config_then_encode_in_the_same_cwd(testdata: Path, tmp_path: Path):
    """The README's sequence: ``faceripper init-config refs/`` then ``faceripper encode``."""
    for person in ("amy", "raj"):
        (tmp_path / "refs" / person).mkdir(parents=True)
        for i in (1, 2):
            shutil.copy(
                testdata / "face-api.js" / person / f"{person}{i}.png",
                tmp_path / "refs" / person,
            )
    (tmp_path / "refs" / "nobody").mkdir()

    made = run_cli(["init-config", "refs/"], cwd=tmp_path)
    assert made.exit_code == 0, made.stderr
    assert made.stdout == "wrote config.json with 2 people: amy, raj\n"
    assert stderr_lines(made) == ["warning: refs/nobody: no images, skipped"]

    encoded = run_cli(["encode"], cwd=tmp_path)
    assert encoded.exit_code == 0, encoded.stderr
    assert encoded.stdout == (
        "config.encodings.npz: 4 encodings of 2 people (4 photos encoded, 0 unchanged, 0 removed)\n"
    )
    assert stderr_lines(encoded) == []
    assert (tmp_path / "config.encodings.npz").is_file()

    again = run_cli(["encode"], cwd=tmp_path)
    assert again.exit_code == 0, again.stderr
    assert "(0 photos encoded, 4 unchanged, 0 removed)" in again.stdout
