"""The user documentation in docs/ covers the command line as it is.

Fast: no models, no videos. Every command of the Typer app has help text, every option
has help text and is named on the command's docs page, and every page linked from
docs/index.md exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer

from faceripper.cli import app

DOCS = Path(__file__).resolve().parent.parent / "docs"

#: Markdown links ``[text](target)``; the target up to a ``#`` anchor or a title.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s#>]*)[^)]*\)")


def _group() -> Any:
    """The click group of the app (click's, or the copy of click that typer ships)."""
    group = typer.main.get_command(app)
    assert hasattr(group, "commands"), "the app is not a group of commands"
    return group


#: Command name -> click command, as the CLI registers them.
COMMANDS: dict[str, Any] = dict(_group().commands)


def _long_names(param: Any) -> list[str]:
    """The ``--`` names of an option: its longest primary form, and any ``--no-`` form."""
    if param.param_type_name != "option":
        return []
    primary = [o for o in param.opts if o.startswith("--")]
    names = [max(primary, key=len)] if primary else []
    names += [o for o in param.secondary_opts if o.startswith("--")]
    return names


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def test_the_app_has_the_documented_commands() -> None:
    expected = {"init-config", "encode", "check-refs", "rip", "review", "split", "reconcile"}
    assert set(COMMANDS) == expected


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help(name: str) -> None:
    command = COMMANDS[name]
    assert command.help and command.help.strip(), f"{name} has no help text"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_parameter_has_help(name: str) -> None:
    params = COMMANDS[name].params
    missing = [p.name for p in params if not (getattr(p, "help", None) or "").strip()]
    assert not missing, f"{name}: parameters without help: {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_on_the_commands_page(name: str) -> None:
    page = DOCS / f"{name}.md"
    assert page.is_file(), f"{page} is missing"
    text = page.read_text(encoding="utf-8")
    names = [n for p in COMMANDS[name].params for n in _long_names(p)]
    assert names, f"{name} has no options?"
    missing = [n for n in names if not _mentions(text, n)]
    assert not missing, f"docs/{name}.md does not mention {missing}"


def test_global_options_have_help_and_are_in_the_index() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    for param in _group().params:
        assert (getattr(param, "help", None) or "").strip(), f"{param.name} has no help"
        for name in _long_names(param):
            assert _mentions(text, name), f"docs/index.md does not mention {name}"


def test_every_page_linked_from_the_index_exists() -> None:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    targets = {t for t in LINK.findall(text) if t.endswith(".md") and "://" not in t}
    pages = {t for t in targets if (DOCS / t).resolve().parent == DOCS}
    assert {f"{name}.md" for name in COMMANDS} <= pages, "a command page is not linked"
    missing = sorted(page for page in pages if not (DOCS / page).is_file())
    assert not missing, f"docs/index.md links to missing pages: {missing}"


#: A row of an options table: ``| `--name ...`, `-n ...` | default | meaning |``.
OPTION_ROW = re.compile(
    r"^\|\s*`(--[\w-]+)(?:[^|\\]|\\.)*\|\s*((?:[^|\\]|\\.)*?)\s*\|", re.MULTILINE
)
#: Default cells that describe a default in words (checked by reading, not here).
WORDS = re.compile(r"^(\(required\)|none|number of CPUs|`[A-Z]|[A-Z])")


def _documented_defaults(page: Path) -> dict[str, str]:
    """Option -> its default cell, from the options tables of a command's page."""
    text = page.read_text(encoding="utf-8")
    cells: dict[str, str] = {}
    for name, cell in OPTION_ROW.findall(text):
        cells.setdefault(name, cell)  # the options table comes first
    return cells


def _default_as_written(param: Any) -> str | None:
    """How an option's default is written in the docs' default column; None: in words."""
    default = param.default
    stated = re.search(r"\[default: ([^\]]+)\]", param.help or "")
    if default is None and stated:  # resolved at run time, stated in the help
        return f"`{stated.group(1)}`"
    if param.is_flag and param.secondary_opts:
        primary = max((o for o in param.opts if o.startswith("--")), key=len)
        return f"`{primary if default else param.secondary_opts[0]}`"
    if param.is_flag or default is None or default is False:
        return "off"
    if isinstance(default, (list, tuple)) and not default:
        return "none"
    value = getattr(default, "value", default)  # enums: their value
    if value == "":
        return '`""`'
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_default_is_the_documented_one(name: str) -> None:
    page = DOCS / f"{name}.md"
    cells = _documented_defaults(page)
    wrong = []
    for param in COMMANDS[name].params:
        names = _long_names(param)
        if not names or names[0] not in cells:
            continue
        cell = cells[names[0]]
        if WORDS.match(cell) or "beside" in cell:
            continue
        expected = _default_as_written(param)
        documented = cell.split(" (")[0].strip()
        if documented == "off" and param.default in (None, False, 0):
            continue
        if expected != documented:
            wrong.append(f"{names[0]}: docs say {documented}, the code's default is {expected}")
    assert not wrong, f"docs/{name}.md: " + "; ".join(wrong)


def test_the_manifest_columns_are_documented_in_order() -> None:
    from faceripper.writer import MANIFEST_COLUMNS

    text = (DOCS / "dataset.md").read_text(encoding="utf-8")
    section = text[text.index("## manifest.csv") :]
    section = section[: section.index("\n## ", 1)]
    table = re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", section, flags=re.MULTILINE)
    documented = [c for row in table for c in re.findall(r"`(\w+)`", row)]
    assert documented == list(MANIFEST_COLUMNS)
    header = next(line for line in section.splitlines() if line.startswith("path,"))
    assert header.split(",") == list(MANIFEST_COLUMNS), "the example's header is not the code's"
