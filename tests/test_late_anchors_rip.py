"""Anchors from later videos in ``rip`` (:mod:`faceripper.lateanchors`), on real videos.

``tests/test_run_anchors_rip.py``'s two videos the other way round: the first video shows
Lance Armstrong 0.46-0.48 from his photo (never matched with confidence, no anchor of his
there) and Kim Hong-up, Hu Jintao's look-alike without a reference; the second shows
Lance matched with confidence (a view the first video's Lance shows too) and Hu. The run
going forward, the first video has no earlier anchor of Lance's: only the run's end,
with the whole run's gallery, saves him there; Kim, never.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_run_anchors_rip import (
    args,
    assert_one_thread_gives,
    interrupt,
    journal,
    render_run,
    resume,
    rip_two_threads,
    with_and_without,
)

from faceripper import lateanchors
from faceripper.words import counted
from faceripper.writer import Dataset, read_manifest

from conftest import local_cluster, run_cli, tree_digest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return render_run(testdata, tmp_path_factory.mktemp("lateanchors"), confident_first=False)


@pytest.fixture(scope="module")
def late(run, tmp_path_factory) -> Path:
    return rip_two_threads(run, tmp_path_factory.mktemp("late") / "faces")


def test_the_first_videos_person_is_saved_at_the_runs_end(run, late, tmp_path):
    on, off, _ = with_and_without(run, late, tmp_path / "off")
    assert off["ep1.avi"].appearances_found == 0  # the video alone refuses Lance
    assert on["ep1.avi"].appearances_found == 1  # the second video's anchors save him
    rows = read_manifest(late / "manifest.csv")
    assert {r["label"] for r in rows if "ep1" in r["path"]} == {"lance"}

    def second(target: Path) -> set[str]:
        return {r["path"] for r in read_manifest(target / "manifest.csv") if "ep2" in r["path"]}

    assert second(late) == second(tmp_path / "off")  # the last video: nothing later to see
    lines = [r for r in journal(late) if r.get("late")]
    assert [Path(r["adapted"]).name for r in lines] == ["ep1.avi"]
    lent = lines[0]["counts"]["adapt_later_anchors"]
    assert lent >= 1
    stdout = (late.parent / "stdout.txt").read_text()
    assert f"and {counted(lent, 'track')} by later ones" in stdout
    assert not lateanchors.kept_spools(late)  # deleted once journaled
    assert not any(r.get("late") for r in journal(tmp_path / "off"))


def notes(stderr: str, target: Path) -> list[str]:
    """The ``note:`` lines of a run into ``target`` (named ``TARGET`` there)."""
    lines = [x for x in stderr.splitlines() if x.startswith("note: ")]
    return [x.replace(str(target), "TARGET") for x in lines]


def test_the_notes_and_sheets_say_lance_was_kept_not_held_back(run, late):
    """Lent at the run's end, Lance's track is no longer held back: it is kept without a
    confident face (his crops rest on the second video's, not on a face matched with
    confidence in the first), as a track the earlier videos' anchors lend is; Kim's
    track, never lent, is still held back nearest Hu."""
    said = notes((late.parent / "stderr.txt").read_text(), late)
    sheets = "TARGET-review/unsure"
    assert said == [
        "note: hu: never matched with confidence in 1 video; 1 track held back at 0.42 -> "
        f"see {sheets}/hu.png; add a face that is hu (or another photo) to "
        f"{run['refs'] / 'hu'}/ and rerun with --restart",
        "note: lance: never matched with confidence in 1 video; 1 track kept without a "
        f"confident face at 0.46 -> see {sheets}/lance.png; add a face that is lance (or "
        f"another photo) to {run['refs'] / 'lance'}/ and rerun with --restart",
    ]
    review = late.parent / "faces-review" / "unsure"
    shown = {c["track"]: c["kind"] for c in sheet_candidates(late, "lance")}
    assert shown == {"0.0": "near"}  # the sheet's badge: kept, a grey frame
    assert (review / "lance.png").is_file() and (review / "lance").is_dir()
    lent = [r["unsure"]["lance"] for r in journal(late) if r.get("late")]
    assert lent and "late" not in lent[0]


def sheet_candidates(target: Path, person: str) -> list[dict]:
    """The candidates of ``person`` that the journal gives the sheet (a video's late line
    replaces its step's record, as a resumed run reads it)."""
    records = {r["adapted"]: r["unsure"] for r in journal(target) if "unsure" in r}
    return [c for record in records.values() for c in record.get(person, {}).get("candidates", [])]


def test_one_thread_a_kill_in_the_pass_and_dask_give_the_same_dataset(
    run, late, tmp_path, monkeypatch
):
    assert_one_thread_gives(run, tmp_path / "one", late)
    # Killed in the run's end, the crops written, no journal line: the resumed run drops
    # them, revisits the kept tracks again and writes the same crops.
    target = tmp_path / "resumed"
    finish = Dataset.finish_late

    def die(self, *rest, **kwargs):
        raise KeyboardInterrupt  # kill -9: crops and rows written, no journal line

    monkeypatch.setattr(Dataset, "finish_late", die)
    interrupt(run, target)
    monkeypatch.setattr(Dataset, "finish_late", finish)
    assert any("ep1" in r["path"] for r in read_manifest(target / "manifest.csv"))
    assert len(lateanchors.kept_spools(target)) == 1
    assert not any(r.get("late") for r in journal(target))
    said = notes(resume(run, target), target)
    assert tree_digest(target) == tree_digest(late)
    # The same notes and sheets: the late line's record replaces the video's step's.
    assert said == notes((late.parent / "stderr.txt").read_text(), late)
    assert review_digest(target) == review_digest(late)
    assert [r for r in journal(target) if r.get("late")] == [
        r for r in journal(late) if r.get("late")
    ]
    with local_cluster() as cluster:
        on_dask = tmp_path / "dask"
        result = run_cli(args(run, on_dask, "--scheduler", cluster.scheduler_address))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(on_dask) == tree_digest(late)
    assert notes(result.stderr, on_dask) == said
    assert review_digest(on_dask) == review_digest(late)


def review_digest(target: Path) -> dict[str, str]:
    """The candidates' crops and sheets beside ``target``."""
    return tree_digest(target.parent / f"{target.name}-review")


def test_a_rerun_of_a_finished_target_changes_nothing(run, late, tmp_path):
    before = tree_digest(late)
    lines = (late / ".faceripper-journal.jsonl").read_text().splitlines()
    result = run_cli(args(run, late, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(late) == before
    assert notes(result.stderr, late) == notes((late.parent / "stderr.txt").read_text(), late)
    after = (late / ".faceripper-journal.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in after] == [json.loads(x) for x in lines]


def test_a_later_run_adding_a_video_does_not_revisit_the_finished_ones(run, tmp_path):
    """The documented choice: the run's end revisits only the videos of its own run (a
    finished run's kept tracks went when it ended)."""
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(run["videos"] / "ep1.avi", alone)  # the same key: ep1.avi
    target = tmp_path / "faces"
    result = run_cli(args({**run, "videos": alone}, target, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert not read_manifest(target / "manifest.csv")  # nothing of Lance's: no anchor
    assert not lateanchors.kept_spools(target)  # the run ended: nothing kept
    result = run_cli(args(run, target, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    assert {(Path(r["video"]).name, r["label"]) for r in rows} == {
        ("ep2.avi", "lance"),
        ("ep2.avi", "hu"),
    }
