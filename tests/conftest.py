"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

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
