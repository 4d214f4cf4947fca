"""``rip --restart`` reuses the detections of the earlier run of the same video
(:mod:`faceripper.memo`, :mod:`faceripper.memostore`): the same dataset as a fresh run,
the detector not run again where it searched before, a damaged file searched again."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from faceripper.memo import ENCODE_PIXELS, unpack
from faceripper.memostore import MEMO_PREFIX, MemoStore, read_records
from faceripper.worker import RipSettings

from conftest import local_cluster, rip_args, run_cli, tree_digest

#: rip's line about what it reused.
SAID = (
    r"reused detections of (\d+) frames and (\d+) face encodings from earlier runs "
    r"\((\d+) searches and (\d+) encoder calls run\)"
)
#: Every 2nd frame: the Hamilton clip's 275 frames, half of them looked at.
OPTIONS = ["--every", "2"]


def rip(refs: Path, video: Path, target: Path, *extra: str) -> Any:
    result = run_cli(
        ["rip", "--refs", str(refs), "--video", str(video), "--target-dir", str(target),
         "-j", "2", *OPTIONS, *extra]
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


def journal_counts(target: Path) -> Counter[str]:
    """The tallies of the target's segments (its journal)."""
    counts: Counter[str] = Counter()
    lines = (target / ".faceripper-journal.jsonl").read_text().splitlines()[1:]
    for record in map(json.loads, lines):
        counts.update(record.get("counts", {}))
    return counts


@pytest.fixture(scope="module")
def runs(hamilton: dict[str, Path], tmp_path_factory: Any) -> dict[str, Any]:
    """A first run with Alex Lacamoire's photo alone (Lin-Manuel Miranda is never saved),
    and a fresh run into a new target with Lin-Manuel Miranda's photo added."""
    base = tmp_path_factory.mktemp("reuse")
    alone, more = base / "refs-alone", base / "refs-more"
    shutil.copytree(hamilton["refs"], more)
    shutil.copytree(hamilton["refs"], alone, ignore=shutil.ignore_patterns("lin-*"))
    first, fresh = base / "first", base / "fresh"
    rip(alone, hamilton["video"], first)
    fresh_stdout = rip(more, hamilton["video"], fresh, "--no-reuse").stdout
    return {"first": first, "fresh": fresh, "more": more, "fresh_stdout": fresh_stdout}


def restarted(runs: dict[str, Any], video: Path, tmp_path: Path, *extra: str) -> Any:
    """A copy of the first run's target, rerun with the second photo and ``--restart``."""
    target = tmp_path / "faces"
    shutil.copytree(runs["first"], target)
    return target, rip(runs["more"], video, target, "--restart", *extra)


def test_a_restart_with_a_second_photo_reuses_the_detections(
    runs: dict[str, Any], hamilton: dict[str, Path], tmp_path: Path
) -> None:
    first = journal_counts(runs["first"])
    assert first["searches_run"] > 100 and first["frames_reused"] == 0
    (memo,) = runs["first"].glob(MEMO_PREFIX + "*.bin")
    before, calls_before = saved(memo)
    assert len(before) == first["searches_run"] and len(calls_before) == first["encoder_calls_run"]
    # Other workers, other segments: the searches are kept by frame, not by segment.
    target, result = restarted(
        runs, hamilton["video"], tmp_path, "-j", "1", "--segment-frames", "50"
    )
    assert tree_digest(target) == tree_digest(runs["fresh"])  # as if nothing was reused
    assert any(path.startswith("lin_manuel_miranda/") for path in tree_digest(target))
    again = journal_counts(target)
    said = re.search(SAID, result.stdout)
    assert said, result.stdout
    assert int(said[1]) == again["frames_reused"] and int(said[3]) == again["searches_run"]
    assert int(said[2]) == again["encodings_reused"] and int(said[4]) == again["encoder_calls_run"]
    # The detector ran only for searches the first run did not make: around Lin-Manuel
    # Miranda's tracks, followed now (with the CNN, and HOG around the boxes it found).
    after, calls_after = saved(target / memo.name)
    assert set(before) <= set(after) and set(calls_before) <= set(calls_after)
    assert len(after) - len(before) == again["searches_run"] > 0  # each kept once
    assert len(calls_after) - len(calls_before) == again["encoder_calls_run"]
    assert again["searches_reused"] >= 0.7 * len(before)
    assert again["encoder_calls_reused"] > 0 and again["encodings_reused"] > 0
    assert again["frames_reused"] >= 0.7 * 138  # of the frames looked at: 0, 2, ... 274
    assert "reused detections" not in runs["fresh_stdout"]
    # Restarted once more, the same photos: every search and every encoder call is the
    # first restart's, the faces encoded while following Miranda (keyed by the image's
    # pixels) and those of the frames alike; none runs again, the dataset is the same.
    assert again["followed"] > 0
    following = [k for k in calls_after if k[0] == ENCODE_PIXELS]
    assert following and len(following) < len(calls_after)
    result = rip(runs["more"], hamilton["video"], target, "--restart")
    assert tree_digest(target) == tree_digest(runs["fresh"])
    third = journal_counts(target)
    assert third["searches_run"] == 0 and third["encoder_calls_run"] == 0, third
    made = again["encoder_calls_run"] + again["encoder_calls_reused"]
    assert third["encoder_calls_reused"] == made  # every call the first restart made
    assert saved(target / memo.name)[1] == calls_after  # nothing added


def saved(memo: Path) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """The keys of every search and of every encoder call a memo file holds."""
    _, records, _, problem = read_records(memo)
    assert not problem
    data = memo.read_bytes()
    found = [unpack(data[r.offset : r.offset + r.length]) for r in records]
    return [k for searches, _ in found for k in searches], [k for _, calls in found for k in calls]


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_damaged_saved_detections_are_searched_again_with_a_warning(
    runs: dict[str, Any], hamilton: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    """A byte changed in a record (a damaged disk), or the file cut in its last record
    (a run killed while appending it): that record and those after it are not used."""
    target = tmp_path / "faces"
    shutil.copytree(runs["first"], target)
    (memo,) = target.glob(MEMO_PREFIX + "*.bin")
    _, records, end, problem = read_records(memo)
    assert len(records) >= 2 and end == memo.stat().st_size and not problem
    data = bytearray(memo.read_bytes())
    if damage == "flipped":
        data[records[1].offset + records[1].length // 2] ^= 0x55
    else:
        data = data[: records[-1].offset + records[-1].length // 2]
    memo.write_bytes(bytes(data))
    result = rip(runs["more"], hamilton["video"], target, "--restart")
    assert "saved detections damaged" in result.stderr, result.stderr
    assert tree_digest(target) == tree_digest(runs["fresh"])
    counts = journal_counts(target)
    assert counts["searches_run"] > 0 and counts["frames_reused"] > 0
    _, _, end, problem = read_records(memo)  # whole again: cut at the damage, appended to
    assert not problem and end == memo.stat().st_size


def test_no_reuse_deletes_the_saved_detections(runs: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "faces"
    shutil.copytree(runs["first"], target)
    (memo,) = target.glob(MEMO_PREFIX + "*.bin")
    MemoStore.open(target, RipSettings(), warn=print)
    assert memo.exists()
    MemoStore.open(target, RipSettings(reuse=False), warn=print)
    assert not memo.exists() and (target / "manifest.csv").exists()
    assert not list(runs["fresh"].glob(MEMO_PREFIX + "*"))  # --no-reuse writes none


@pytest.mark.slow
def test_a_restart_on_a_dask_cluster_reuses_the_local_runs_detections(
    reference_run: Path, lfw_clip: dict[str, Path], tmp_path: Path
) -> None:
    """The saved searches travel with the work units: the workers never open the target."""
    target = tmp_path / "faces"
    shutil.copytree(reference_run, target)
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    assert list(target.glob(MEMO_PREFIX + "*.bin"))
    with local_cluster() as cluster:
        args = rip_args(lfw_clip, target, "--restart", "--scheduler", cluster.scheduler_address)
        result = run_cli(args)
    assert result.exit_code == 0, result.stderr
    assert tree_digest(target) == tree_digest(reference_run)
    counts = journal_counts(target)
    assert counts["searches_run"] == 0 and counts["frames_reused"] == 60, counts
    assert counts["encoder_calls_run"] == 0 and counts["encodings_reused"] > 0, counts
    assert "reused detections of 60 frames and " in result.stdout
