"""Shared fixtures."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared test data folder (photos and videos of real people; see its README.md).

    ``FACERIPPER_TESTDATA`` names it; by default ``<project root>/../shared/testdata``.
    Tests using it are skipped when it is missing, except under ``CI=true``, where they
    fail.
    """
    folder = Path(
        os.environ.get("FACERIPPER_TESTDATA") or PROJECT_ROOT.parent / "shared" / "testdata"
    )
    if not folder.is_dir():
        reason = f"test data folder {folder} not found: set FACERIPPER_TESTDATA to it"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


def run_cli(args: list[str], cwd: Path | None = None) -> Any:
    """Invoke the faceripper CLI in-process with typer's CliRunner (stdout/stderr apart)."""
    from typer.testing import CliRunner

    from faceripper.cli import app, v1_argv

    runner = CliRunner()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, v1_argv(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def hamilton(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Hamilton clip and a refs folder holding its two reference photos (one each)."""
    base = tmp_path_factory.mktemp("hamilton")
    refs = base / "refs"
    for person, photo in (
        ("lin_manuel_miranda", "lin-manuel-miranda.png"),
        ("alex_lacamoire", "alex-lacamoire.png"),
    ):
        (refs / person).mkdir(parents=True)
        shutil.copy(testdata / "face_recognition" / photo, refs / person / photo)
    return {"video": testdata / "face_recognition" / "short_hamilton_clip.mp4", "refs": refs}


def tree_digest(folder: Path, skip: tuple[str, ...] = (".faceripper",)) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``folder`` (run-state files skipped)."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith(skip):
            result[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return result
