"""People with nothing held back: the tracks nearest them beyond the held-back window
are shown for the notes only, and a person with no crop at all is named.

Real runs on the clip of tests/test_unsure.py (Raj's shown crops lie 0.46-0.47 from his
reference photo): at ``--tolerance 0.3`` only tracks within 0.4 of a person are held
back, so Raj has none, and his tracks become notes-only candidates (within 0.5).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.config import Config, Person
from faceripper.heldback import Adoption, PendingTrack
from faceripper.testing.sitcom import Sitcom
from faceripper.unsure import (
    PER_VIDEO,
    Candidate,
    Notice,
    Tally,
    VideoUnsure,
    journal_candidates,
    report,
)
from faceripper.worker import FaceHit
from faceripper.writer import read_manifest

from conftest import local_cluster, run_cli, tree_digest


@pytest.fixture(scope="module")
def clip(raj_sitcom: Sitcom) -> Sitcom:
    return raj_sitcom


def _rip(clip: Sitcom, target: Path, *extra: str) -> object:
    args = ["rip", "--refs", str(clip.refs), "--video", str(clip.video), "--target-dir"]
    return run_cli([*args, str(target), "--min-size", "80", "--tolerance", "0.3", *extra])


@pytest.fixture(scope="module")
def far_run(clip: Sitcom, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A local run at --tolerance 0.3: its folder and result."""
    base = tmp_path_factory.mktemp("far")
    return base, _rip(clip, base / "faces", "--threads", "1")


def test_raj_with_nothing_held_back_gets_a_note_and_crops_stay_the_same(
    clip, far_run, tmp_path, monkeypatch
):
    base, result = far_run
    assert result.exit_code == 0, result.stderr
    notes = [x for x in result.stderr.splitlines() if x.startswith("note: raj: ")]
    assert len(notes) == 1, result.stderr
    assert "tracks too far to hold back at 0.4" in notes[0] or (
        "1 track too far to hold back at 0.4" in notes[0]
    )
    candidates = [c for c in journal_candidates(base / "faces") if c.person == "raj"]
    assert candidates and all(c.kind == "far" for c in candidates)
    assert all(0.4 < c.distance <= 0.5 for c in candidates)
    assert all(clip.truth.identity_at(c.frame, c.box_trbl) == "raj" for c in candidates)
    assert (base / "faces-review" / "unsure" / "raj.png").is_file()
    # Resumed: the same note from the journal.
    again = _rip(clip, base / "faces", "--threads", "1")
    assert notes[0] in again.stderr.splitlines()
    # Without the notes-only tracks, the dataset is the same, crop for crop.
    from faceripper.worker import notes

    monkeypatch.setattr(notes, "notes_person", lambda *args: -1)
    plain = _rip(clip, tmp_path / "plain", "--threads", "1")
    assert plain.exit_code == 0, plain.stderr
    assert "too far" not in plain.stderr  # (Raj is still named: he has no crop)
    assert "note: raj: no face saved, and none near enough to show" in plain.stderr
    assert tree_digest(tmp_path / "plain") == tree_digest(base / "faces")
    rows = [r for r in read_manifest(base / "faces" / "manifest.csv") if r["label"] == "raj"]
    assert not rows


def _far(name: str, distances: list[float], frame: int) -> PendingTrack:
    jpeg = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()
    hit = FaceHit(frame, frame / 25, 0, (10, 60, 60, 10), -1, float("nan"), 120.0, "saved", jpeg)
    track = PendingTrack(name, frame, frame + 5, np.array(distances), np.zeros((0, 128)))
    track.hits, track.own_distances, track.notes_only = [hit], [None], True
    return track


def test_far_tracks_show_only_for_people_with_nothing_held_back(tmp_path):
    people = tuple(Person(n, n.lower(), "", tmp_path / "refs" / n) for n in ("Amy", "Bo"))
    doubts = VideoUnsure("v/clip.mp4", Config(people, tmp_path), {}, [])
    doubts.add(_track_held("h", [0.47, 0.9], 5), Adoption(-1, 0.5, "no anchors"))
    doubts.add_far([_far(f"a{k}", [0.55, 0.9], 10 * k) for k in range(3)])  # Amy: held
    doubts.add_far([_far(f"b{k}", [0.9, 0.59 - k / 100], 10 * k) for k in range(PER_VIDEO + 2)])
    data = doubts.to_json()
    assert sorted(data["Amy"]) == ["candidates", "held"]  # her far tracks are not shown
    assert data["Bo"]["far"] == [PER_VIDEO + 2, 0.52, 0.59]
    shown = [Candidate.from_json(c) for c in data["Bo"]["candidates"]]
    assert len(shown) == PER_VIDEO and shown[0].track == f"b{PER_VIDEO + 1}"
    assert {c.kind for c in shown} == {"far"}
    line = Notice("Bo", 1, Tally(), Tally(), None, Path("refs/Bo"), (), Tally(8, 0.52, 0.59))
    assert "; 8 tracks too far to hold back at 0.52-0.59 -> add a face" in line.line()


def _track_held(name: str, distances: list[float], frame: int) -> PendingTrack:
    track = _far(name, distances, frame)
    track.notes_only = False
    return track


def test_a_person_with_no_crop_and_nothing_to_show_is_named(hamilton, tmp_path):
    # Alex Lacamoire is referenced but seen only small, at the piano: named, not silently absent.
    args = ["rip", "--refs", str(hamilton["refs"]), "--video", str(hamilton["video"])]
    result = run_cli([*args, "--target-dir", str(tmp_path / "faces"), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    notes = [x for x in result.stderr.splitlines() if x.startswith("note: ")]
    assert notes == [
        "note: alex_lacamoire: no face saved, and none near enough to show -> if "
        "alex_lacamoire is in the videos, add another photo of them (another occasion, "
        f"the whole head) to {hamilton['refs'] / 'alex_lacamoire'}/ and rerun with --restart"
    ]


def test_far_candidates_are_shown_only_for_a_person_without_crops(tmp_path):
    people = (Person("Bo", "bo", "", tmp_path / "refs" / "Bo"),)
    config = Config(people, tmp_path)
    doubts = VideoUnsure("v/clip.mp4", config, {}, [])
    doubts.add_far([_far("b", [0.55], 10)])
    unsure = tmp_path / "unsure"
    doubts.write(unsure)
    records = {"v/clip.mp4": doubts.to_json()}
    # Bo has crops (from another video): a far track is mostly a stranger, not shown.
    assert report(records, config, {}, unsure, saved={"bo": 12}) == []
    assert not unsure.exists()
    doubts.write(unsure)
    (notice,) = report(records, config, {}, unsure, saved={"bo": 0})
    assert notice.far.tracks == 1 and notice.candidates[0].kind == "far"
    assert (unsure / "bo.png").is_file()


@pytest.mark.slow
def test_a_dask_cluster_run_shows_the_same_far_candidates(clip, far_run, tmp_path):
    base, _ = far_run
    with local_cluster() as cluster:
        result = _rip(clip, tmp_path / "faces", "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.stderr
    far = [c for c in journal_candidates(tmp_path / "faces") if c.kind == "far"]
    assert far and far == [c for c in journal_candidates(base / "faces") if c.kind == "far"]
    assert tree_digest(tmp_path / "faces") == tree_digest(base / "faces")
