"""The committer on synthetic results: segment order, a video's end, failed segments."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from faceripper.commit import Committer
from faceripper.config import Config, Person
from faceripper.video import VideoScan
from faceripper.worker import FaceHit, RipSettings, SegmentResult, SegmentTask
from faceripper.writer import Dataset, read_manifest

SCAN = VideoScan(tuple(range(30)), (0,), 30, Fraction(1, 30), 30.0, 64, 64, 0)


def people(root: Path) -> Config:
    return Config((Person("Amy", "amy", "", root), Person("Bo", "bo", "g", root)), root)


def task(sequence: int, start: int, end: int, video: str = "v.mp4") -> SegmentTask:
    return SegmentTask(sequence, video, Path(video), SCAN, start, end)


def result(sequence: int, *frames_person: tuple[int, int], error: str = "") -> SegmentResult:
    hits = [
        FaceHit(frame, frame / 30, 0, (1, 2, 3, 0), person, 0.3, 80.0, "saved", b"jpeg")
        for frame, person in frames_person
    ]
    return SegmentResult(sequence, frames=10, hits=hits, error=error)


def test_results_are_committed_in_sequence_whatever_order_they_come_in(tmp_path: Path) -> None:
    with Dataset(tmp_path / "faces", {}) as dataset:
        committer = Committer(dataset, people(tmp_path), RipSettings(adapt=False))
        committer.add_video("v.mp4", 3, 30)
        committer.add(task(2, 20, 30), result(2, (25, 0)))
        committer.add(task(1, 10, 20), result(1, (15, 1), (16, 0)))
        assert committer.commit_next() is None  # sequence 0 not there yet
        assert committer.waiting == 2
        committer.add(task(0, 0, 10), result(0, (5, 0)))
        records = [committer.commit_next() for _ in range(3)]
        assert committer.commit_next() is None
        assert committer.waiting == 0
        assert [(r.start, dict(r.saved)) for r in records if r] == [
            (0, {"amy": 1}),
            (10, {"bo": 1, "amy": 1}),
            (20, {"amy": 1}),
        ]
        assert all(dataset.is_done("v.mp4", s, s + 10) for s in (0, 10, 20))
    rows = read_manifest(tmp_path / "faces" / "manifest.csv")
    assert [(r["frame"], r["label"], r["group"]) for r in rows] == [
        ("5", "amy", ""),
        ("15", "bo", "g"),
        ("16", "amy", ""),
        ("25", "amy", ""),
    ]


def test_a_video_ends_after_its_last_segment_or_at_once_without_one(tmp_path: Path) -> None:
    with Dataset(tmp_path / "faces", {}) as dataset:
        committer = Committer(dataset, people(tmp_path), RipSettings(adapt=False), 1)
        committer.add_video("done.mp4", 0, 30)  # finished by an earlier run
        assert dataset.pruned == {"done.mp4"}
        committer.add_video("v.mp4", 1, 30)
        committer.add(task(0, 0, 30), result(0, (5, 0), (6, 0), (7, 1)))
        committer.commit_next()
        assert dataset.pruned == {"done.mp4", "v.mp4"}
        assert committer.counts["over_limit"] == 1  # one of Amy's two crops
    assert len(read_manifest(tmp_path / "faces" / "manifest.csv")) == 2


def test_a_failed_segment_is_left_for_the_next_run(tmp_path: Path) -> None:
    with Dataset(tmp_path / "faces", {}) as dataset:
        committer = Committer(dataset, people(tmp_path), RipSettings(adapt=False), 1)
        committer.add_video("v.mp4", 2, 30)
        committer.fail_video("w.mp4", "w.mp4: cannot be read")
        committer.add(task(0, 0, 10), result(0, (5, 0), error="v.mp4: the worker crashed"))
        committer.add(task(1, 10, 30), result(1, error="v.mp4: the worker crashed again"))
        committer.commit_next()
        committer.commit_next()
        assert not dataset.is_done("v.mp4", 0, 10)
        assert committer.errors == {
            "w.mp4": "w.mp4: cannot be read",
            "v.mp4": "v.mp4: the worker crashed",
        }
        assert dataset.pruned == set()  # a video with an error is not thinned
