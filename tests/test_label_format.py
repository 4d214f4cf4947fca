"""rip --label-format: class folders named from the label, group and person.

FaceRipper v1 planned ``GROUP___LABEL`` folders; its example config has a label and a
group in two scripts (名井 南, TWICE (트와이스)).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from faceripper.config import (
    DEFAULT_LABEL_FORMAT,
    Config,
    Person,
    class_folders,
)
from faceripper.errors import ConfigError

from conftest import RIP_ARGS, run_cli

V1_FORMAT = "{group}___{label}"
MINA = "TWICE (트와이스)___名井 南"


def _config(*people: tuple[str, str, str]) -> Config:
    return Config(tuple(Person(n, lab, g, Path(n)) for n, lab, g in people), Path("c.json"))


def _problems(config: Config, label_format: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        class_folders(config, label_format)
    return caught.value.problems


# ---------------------------------------------------------------------------- library


def test_folders_from_the_v1_format() -> None:
    config = _config(("Myoui Mina", "名井 南", "TWICE (트와이스)"), ("Hu Jintao", "hu", "Politics"))
    assert class_folders(config) == ("名井 南", "hu")
    assert class_folders(config, DEFAULT_LABEL_FORMAT) == ("名井 南", "hu")
    assert class_folders(config, V1_FORMAT) == (MINA, "Politics___hu")
    assert class_folders(config, "{person} - {label}") == ("Myoui Mina - 名井 南", "Hu Jintao - hu")


@pytest.mark.parametrize(
    ("label_format", "needle"),
    [
        ("{grop}___{label}", "unknown field {grop} (the fields are {label}, {group}, {person})"),
        ("{}", "unknown field {}"),
        ("{0}", "unknown field {0}"),
        ("{label.upper}", "unknown field {label.upper}"),
        ("{label!r}", "{label!r}: write fields plainly, as {label}"),
        ("{label:>20}", "{label:>20}: write fields plainly"),
        ("{label", "not a valid format"),
        ("label}", "not a valid format"),
    ],
)
def test_bad_formats_are_refused(label_format: str, needle: str) -> None:
    config = _config(("Amy", "amy", "g"))
    problems = _problems(config, label_format)
    assert len(problems) == 1
    assert problems[0].startswith(f"--label-format {label_format!r}: ")
    assert needle in problems[0]


def test_invalid_folder_names_name_the_person() -> None:
    config = _config(("Myoui Mina", "名井 南", "TWICE (트와이스)"), ("Amy", "amy", "AC/DC"))
    problems = _problems(config, "{group}/{label}")
    assert len(problems) == 2
    assert "'Myoui Mina'" in problems[0] and "contains '/'" in problems[0]
    assert "'Amy' gets the folder name 'AC/DC/amy'" in problems[1]
    problems = _problems(config, "{group}___{label}")
    assert problems == [
        "--label-format '{group}___{label}': person 'Amy' gets the folder name "
        "'AC/DC___amy', which contains '/', which cannot appear in a folder name"
    ]
    for bad in (".{label}", "{label}.", "", "   "):
        assert len(_problems(_config(("Amy", "amy", "g")), bad)) == 1


def test_an_empty_field_is_refused() -> None:
    config = _config(("Amy", "amy", ""), ("Bob", "bob", "band"), ("Cy", "cy", " "))
    problems = _problems(config, V1_FORMAT)
    assert problems == [
        "--label-format '{group}___{label}': person 'Amy' has an empty group",
        "--label-format '{group}___{label}': person 'Cy' has an empty group",
    ]
    assert class_folders(config, "{label}") == ("amy", "bob", "cy")  # group unused: fine


def test_two_people_in_one_folder_is_refused() -> None:
    config = _config(("Amy", "amy", "Band"), ("Bob", "bob", "band"), ("Cy", "cy", "Band"))
    problems = _problems(config, "{group}")
    assert len(problems) == 2
    assert "'Amy' and 'Bob' get folders that collide ('Band', 'band')" in problems[0]
    assert "'Amy' and 'Cy' get the same folder ('Band', 'Band')" in problems[1]
    assert all("each person needs a class folder of their own" in p for p in problems)


# ---------------------------------------------------------------------------- command line


def _v1_config(folder: Path, refs: Path) -> Path:
    """FaceRipper v1's example config, its people's photos copied from ``refs``."""
    shutil.copytree(refs / "halle", folder / "refs" / "mina")
    shutil.copytree(refs / "hu", folder / "refs" / "hu")
    config = {
        "Myoui Mina": {"label": "名井 南", "group": "TWICE (트와이스)", "faces_dir": "refs/mina"},
        "Hu Jintao": {"label": "hu", "group": "Politics", "faces_dir": "refs/hu"},
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def _args(config: Path, videos: Path, target: Path, *extra: str) -> list[str]:
    return [
        "rip",
        "--config",
        str(config),
        "--video-dir",
        str(videos),
        "--target-dir",
        str(target),
        *RIP_ARGS,
        *extra,
    ]


@pytest.fixture
def fake_config(tmp_path: Path) -> Path:
    """A config whose reference folders hold a file named like a photo (never read)."""
    for name in ("mina", "hu"):
        (tmp_path / "refs" / name).mkdir(parents=True)
        (tmp_path / "refs" / name / "a.jpg").write_bytes(b"not read")
    return _v1_config_text(tmp_path)


def _v1_config_text(folder: Path) -> Path:
    config = {
        "Myoui Mina": {"label": "名井 南", "group": "TWICE (트와이스)", "faces_dir": "refs/mina"},
        "Hu Jintao": {"label": "hu", "group": "", "faces_dir": "refs/hu"},
    }
    path = folder / "config.json"
    path.write_text(json.dumps(config, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("label_format", "messages"),
    [
        (
            "{label}/{person}",
            [
                "--label-format '{label}/{person}': person 'Myoui Mina' gets the folder name "
                "'名井 南/Myoui Mina', which contains '/', which cannot appear in a folder name",
                "--label-format '{label}/{person}': person 'Hu Jintao' gets the folder name "
                "'hu/Hu Jintao', which contains '/', which cannot appear in a folder name",
            ],
        ),
        (
            "{grop}___{label}",
            [
                "--label-format '{grop}___{label}': unknown field {grop} "
                "(the fields are {label}, {group}, {person})"
            ],
        ),
        (
            "{group}___{label}",
            ["--label-format '{group}___{label}': person 'Hu Jintao' has an empty group"],
        ),
        ("{person} {label}", None),  # valid: refused later, for the missing videos folder
    ],
)
def test_bad_label_format_is_refused_before_any_work(
    fake_config: Path, tmp_path: Path, label_format: str, messages: list[str] | None
) -> None:
    target = tmp_path / "faces"
    result = run_cli(
        _args(fake_config, tmp_path / "no-videos", target, "--label-format", label_format)
    )
    assert result.exit_code == 2
    if messages is None:
        assert "video folder does not exist" in result.stderr
        return
    assert result.stderr.strip().splitlines() == [f"error: {m}" for m in messages]
    assert not target.exists()  # nothing was written: no target, no encodings cache
    assert not list(tmp_path.glob("*.npz"))


@pytest.mark.slow
def test_v1_group_label_folders(lfw_clip, reference_run: Path, tmp_path: Path) -> None:
    config = _v1_config(tmp_path, lfw_clip["refs"])
    target = tmp_path / "faces"
    args = _args(config, lfw_clip["videos"], target, "--label-format", V1_FORMAT)
    result = run_cli(args)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["Politics___hu", MINA]
    assert "名井 南" in result.stdout  # the summary table lists labels
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["label"], r["group"], r["person"]) for r in rows} == {
        ("名井 南", "TWICE (트와이스)", "Myoui Mina"),
        ("hu", "Politics", "Hu Jintao"),
    }
    folder = {"名井 南": MINA, "hu": "Politics___hu"}
    assert all(r["path"].split("/")[0] == folder[r["label"]] for r in rows)
    files = {p.relative_to(target).as_posix() for p in target.glob("*/*") if p.is_file()}
    assert {r["path"] for r in rows} == files
    # The same faces as with plain label folders: only the folder names differ.
    for ours, theirs in ((MINA, "halle"), ("Politics___hu", "hu")):
        assert sorted(p.name for p in (target / ours).iterdir()) == sorted(
            p.name for p in (reference_run / theirs).iterdir()
        )

    result = run_cli(args)  # the same format: nothing left to do
    assert result.exit_code == 0, result.stderr
    assert "(0 this run" in result.stdout
    for other in ("{label}", "{group}-{label}"):
        result = run_cli(_args(config, lfw_clip["videos"], target, "--label-format", other))
        assert result.exit_code == 2
        assert "other settings" in result.stderr and "label_format" in result.stderr

    sheets = tmp_path / "sheets"
    result = run_cli(["review", str(target), "--out", str(sheets)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in sheets.glob("*.png")) == ["Politics___hu.png", f"{MINA}.png"]
