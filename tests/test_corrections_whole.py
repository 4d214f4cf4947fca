"""A class folder deleted as a whole (``rm -r faces/halle``): refused, or, under
``rip --restart``, the person started over; never learnt as one wrong face per crop.

The dataset is the session's reference run of the generated two-person clip (copied:
each test changes its own copy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faceripper.corrections import CORRECTIONS_NAME, read_corrections, reconcile
from faceripper.journal import JOURNAL_NAME
from faceripper.writer import read_manifest

from conftest import rip_args, run_cli


@pytest.fixture
def faces(reference_run: Path, cached: Path) -> Path:
    """A copy of the reference run, its encodings cache beside it (``rip_args``)."""
    shutil.copytree(reference_run, cached)
    return cached


def _saved(target: Path) -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in read_manifest(target / "manifest.csv") if r["status"] == "saved"}


def _crops_of(target: Path, folder: str) -> list[str]:
    return sorted(p for p in _saved(target) if p.startswith(folder + "/"))


def test_a_deleted_class_folder_is_refused_and_nothing_recorded(faces: Path, lfw_clip) -> None:
    n = len(_crops_of(faces, "halle"))
    assert n > 1
    manifest, journal = (faces / "manifest.csv").read_bytes(), (faces / JOURNAL_NAME).read_bytes()
    shutil.rmtree(faces / "halle")
    for command in (["reconcile", str(faces)], ["reconcile", str(faces), "--dry-run"]):
        result = run_cli(command)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"error: {faces / 'halle'}: class folder deleted with its {n} crops; nothing was "
            "recorded: to start halle over, rip with --restart (to drop them instead, remove "
            f"their references first); if none of the {n} crops is halle, recreate the "
            f"folder empty (mkdir {faces / 'halle'}) and run again"
        )
        assert not result.stdout
    result = run_cli(rip_args(lfw_clip, faces))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {faces / 'halle'}: class folder deleted")
    assert (faces / "manifest.csv").read_bytes() == manifest
    assert (faces / JOURNAL_NAME).read_bytes() == journal
    assert not (faces / CORRECTIONS_NAME).exists()
    # What rip --restart reconciles first records nothing and leaves the rows to the
    # restart: one that failed after it would leave the same refusal.
    assert len(reconcile(faces, restart=True).restarted) == n
    assert (faces / "manifest.csv").read_bytes() == manifest
    assert not (faces / CORRECTIONS_NAME).exists()
    assert run_cli(["reconcile", str(faces)]).exit_code == 2
    # The explicit way to say that none of them is her: the folder recreated empty.
    (faces / "halle").mkdir()
    report = reconcile(faces)
    assert len(report.deleted) == n and not report.restarted
    assert len(read_corrections(faces)) == n
    assert not _crops_of(faces, "halle")


def test_restart_starts_a_deleted_class_folder_over(faces: Path, lfw_clip) -> None:
    halle = _crops_of(faces, "halle")
    hu = _crops_of(faces, "hu")
    shutil.rmtree(faces / "halle")
    (faces / hu[0]).unlink()  # a crop deleted on its own is still a correction
    result = run_cli(rip_args(lfw_clip, faces, "--restart"))
    assert result.exit_code == 0, result.stderr
    assert (
        f"halle: class folder deleted with its {len(halle)} crops: not recorded as "
        "corrections; halle starts over"
    ) in result.stdout
    assert f"{faces}: 1 deleted, 0 moved since the last run; 1 correction in all" in (result.stdout)
    assert [(c.kind, c.path) for c in read_corrections(faces)] == [("deleted", hu[0])]
    # Halle's crops are all written again; hu's corrected face is not (nor faces
    # nearer to it than to his references).
    assert _crops_of(faces, "halle") == halle
    assert hu[0] not in _crops_of(faces, "hu") and set(_crops_of(faces, "hu")) < set(hu)
    # The manifest and the folders agree, and the journal resumes: nothing left to do.
    files = sorted(
        str(p.relative_to(faces)) for p in faces.glob("*/*.jpg") if p.parent.name != "unsure"
    )
    assert files == sorted(_saved(faces))
    again = run_cli(rip_args(lfw_clip, faces))
    assert again.exit_code == 0, again.stderr
    assert "(0 this run" in again.stdout
    assert sorted(_saved(faces)) == files
