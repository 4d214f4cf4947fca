"""The error messages quoted in the docs are the ones the code prints.

Each rule of docs/config.md's tables is reproduced with a real config file and the real
command (`faceripper encode -c FILE`), and the documented line must be among the lines
printed on stderr. Fast: every case fails validation before any model is loaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

DOCS = Path(__file__).resolve().parent.parent / "docs"
#: The folder the documented examples were made in.
DOC_DIR = "/tmp/frdoc/v"


def _documented(page: str, rule: str) -> str:
    """The message of the table row of ``page`` whose rule cell starts with ``rule``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in text.splitlines()]
    rows = [cells for cells in rows if len(cells) == 2]
    exact = [cells for cells in rows if cells[0] == rule]
    for cells in exact or [cells for cells in rows if cells[0].startswith(rule)]:
        return cells[1].strip("`").replace("\\|", "|")
    raise AssertionError(f"docs/{page} has no rule row starting {rule!r}")


def _person(label: object = "a", faces_dir: object = "faces/a", **extra: object) -> dict:
    return {"label": label, "faces_dir": faces_dir, **extra}


def _config(**people: object) -> str:
    return json.dumps(people, ensure_ascii=False)


#: (rule as the docs word it, config file name, its content)
CASES: list[tuple[str, str, str | bytes | None]] = [
    ("the file exists", "config.json", None),
    ("it is valid JSON", "c.json", '{"A": {"label": "a", "faces_dir": "faces/a" "group": ""}}'),
    ("it is UTF-8", "bad.json", b"\xff{}"),
    ("the top level is an object", "c.json", "[]"),
    ("it defines at least one person", "c.json", "{}"),
    (
        "no person is defined twice",
        "c.json",
        '{"A": {"label": "a", "faces_dir": "faces/a"}, '
        '"A": {"label": "b", "faces_dir": "faces/a"}}',
    ),
    ("the name is not blank", "c.json", _config(**{" ": _person()})),
    ("the entry is an object", "c.json", _config(A="x")),
    ("`label` and `faces_dir` are present", "c.json", _config(A={"faces_dir": "faces/a"})),
    ("`label`, `group`, `faces_dir` are strings", "c.json", _config(A=_person(label=1))),
    ("`faces_dir` is not blank", "c.json", _config(D=_person(faces_dir=""))),
    ("`faces_dir` exists", "c.json", _config(A=_person(faces_dir="nope"))),
    ("`faces_dir` is a folder", "c.json", _config(B=_person(faces_dir="c.json"))),
    ("`faces_dir` holds an image", "c.json", _config(C=_person(faces_dir="faces/empty"))),
    ("not blank", "c.json", _config(C=_person(label=""))),
    ("not `.` or `..`", "c.json", _config(D=_person(label=".."))),
    ("none of", "c.json", _config(A=_person(label="a/b"))),
    ("no control character", "c.json", _config(B=_person(label="b\tc"))),
    ("does not end with a space or a dot", "c.json", _config(A=_person(label="x."))),
    ("does not start with a space", "c.json", _config(B=_person(label=" x"))),
    ("does not start with `.`", "c.json", _config(B=_person(label=".x"))),
    ("not a Windows device name", "c.json", _config(A=_person(label="CON"))),
    (
        "unique, also ignoring case",
        "c.json",
        _config(A=_person(label="Mina"), B=_person(label="mina")),
    ),
    ("unique", "c.json", _config(A=_person(label="Mina"), C=_person(label="Mina"))),
]


@pytest.mark.parametrize(("rule", "name", "content"), CASES, ids=[c[0] for c in CASES])
def test_config_md_quotes_the_real_message(tmp_path, rule, name, content):
    folder = tmp_path / "v"
    (folder / "faces" / "a").mkdir(parents=True)
    (folder / "faces" / "empty").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "faces" / "a" / "p.png")
    if isinstance(content, bytes):
        (folder / name).write_bytes(content)
    elif content is not None:
        (folder / name).write_text(content, encoding="utf-8")
    result = run_cli(["encode", "-c", name], cwd=folder)
    assert result.exit_code == 2, result.stderr
    expected = _documented("config.md", rule).replace(DOC_DIR, str(folder))
    assert expected in result.stderr.splitlines(), result.stderr


def test_config_md_example_prints_what_the_docs_show(tmp_path):
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    section = text[text.index("## Validation") :]
    example = re.search(r"```json\n(.*?)```", section, flags=re.DOTALL)
    console = re.search(r"```console\n\$ faceripper (.*?)\n(.*?)```", section, flags=re.DOTALL)
    assert example and console
    folder = tmp_path / "v"
    for sub in ("a", "b", "empty"):
        (folder / "faces" / sub).mkdir(parents=True)
    for sub in ("a", "b"):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "faces" / sub / "p.png")
    (folder / "people.json").write_text(example.group(1), encoding="utf-8")
    result = run_cli(console.group(1).split(), cwd=folder)
    assert result.exit_code == 2
    expected = console.group(2).replace(DOC_DIR, str(folder)).splitlines()
    assert result.stderr.splitlines() == expected


def test_init_config_md_examples_print_what_the_docs_show(tmp_path):
    text = (DOCS / "init-config.md").read_text(encoding="utf-8")
    section = text[text.index("## Examples") :]
    block = re.search(r"```console\n(.*?)```", section, flags=re.DOTALL)
    assert block
    for person in ("alex_lacamoire", "lin_manuel_miranda", "../r2/CON"):
        (tmp_path / "refs" / person).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "refs" / person / "p.png")
    (tmp_path / "refs" / "empty").mkdir()
    sessions = re.split(r"^\$ faceripper ", block.group(1), flags=re.MULTILINE)[1:]
    assert len(sessions) >= 5
    for session in sessions:
        command, *printed = session.strip("\n").splitlines()
        result = run_cli(command.split(), cwd=tmp_path)
        shown = [*result.stdout.splitlines(), *result.stderr.splitlines()]
        assert sorted(shown) == sorted(printed), command
