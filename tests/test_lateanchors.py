"""Anchors from later videos (:mod:`faceripper.lateanchors`): what a video keeps for the
run's end, its kept spool, and the run's end's rule, on real LFW encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_adaptive import HU, KIM, TOLERANCE, hit, pending, unit
from test_adaptive import lfw_encodings as lfw_fixture  # noqa: F401 (the fixture)

from faceripper import lateanchors
from faceripper.adaptive import decide_video
from faceripper.heldback import Adoption, Anchor
from faceripper.lateanchors import PER_PERSON, PER_PERSON_FRAMES, Keeper, keepable, lend_kept
from faceripper.runanchors import Gallery


@pytest.fixture(scope="module")
def faces(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    return request.getfixturevalue("lfw_fixture")


def test_a_video_keeps_what_a_later_anchor_may_lend_and_at_most_so_many_per_person():
    tracks = [
        pending(np.stack([unit(i), unit(100 + i)]), [0.42 + 0.001 * i, 0.9], 10 * i, 10 * i + 5)
        for i in range(PER_PERSON + 4)
    ]
    tracks.append(pending(np.stack([unit(1), unit(2)]), [0.9, 0.45], name="her"))
    tracks.append(pending(np.stack([unit(3), unit(4)]), [0.55, 0.9], name="far"))
    tracks.append(pending(np.stack([unit(5), unit(6)]), [0.45, 0.9], excluded=(0,)))
    tracks.append(pending(np.stack([unit(7)]), [0.45, 0.9], name="one face"))
    decisions = [Adoption(-1, 0.5, "no anchors")] * len(tracks)
    kept = keepable(tracks, decisions, 2, TOLERANCE)
    assert kept == {*range(PER_PERSON), PER_PERSON + 4}  # the nearest of person 0, and her
    long = [pending(t.encodings, list(t.ref_distance), 0, 99) for t in tracks[:8]]
    fit = PER_PERSON_FRAMES // 100  # 100 frames each: the frames bound them
    assert keepable(long, decisions[:8], 2, TOLERANCE) == set(range(fit))
    # Decided, or refused for a reason no anchor overturns: not kept.
    said = [Adoption(0, 0.2, "adopted"), Adoption(-1, 0.5, "ambiguous")]
    assert not keepable(tracks[:2], said, 2, TOLERANCE)


def test_the_run_end_lends_the_kept_track_from_a_later_video_and_never_the_lookalike(
    faces, tmp_path: Path
):
    hu, kim = faces[HU], faces[KIM]
    again = hu[3] + 0.15 * unit(7)  # photo 3 under another camera
    hu_early = pending(np.stack([hu[5], hu[6], again, again]), [0.45, 0.9], 100, 130)
    kim_alone = pending(np.stack([kim[0]] * 3), [0.43, 0.9], 200, 230, name="200.0")
    beside = pending(np.stack([again, hu[7]]), [0.46, 0.9], 120, 140, name="120.0")
    for track in (hu_early, kim_alone, beside):
        track.hits = [hit(track.first_frame), hit(track.first_frame + 1)]
        track.own_distances = [None, None]
    tracks = [hu_early, kim_alone, beside]
    decided = decide_video(tracks, [], 2, TOLERANCE, trust_references=False)
    decided[2] = Adoption(1, 0.3, "adopted")  # given someone else: a span, nothing to lend
    keeper = Keeper(tracks, [], decided, 2, TOLERANCE)
    assert keeper.chosen == {0, 1}
    for index, track in enumerate(tracks):
        keeper.offer(index, track)
    keeper.save(tmp_path, "first.mp4")
    path = lateanchors.kept_path(tmp_path, "first.mp4")
    assert lateanchors.kept_spools(tmp_path) == [path]
    gallery = Gallery()
    gallery.add([Anchor(0, 0, 30, hu[0:5])])  # a later video's anchor of Hu
    video, lent, _ = lend_kept(path, gallery.anchors(), 2, TOLERANCE)
    assert video == "first.mp4"
    assert [(t.name, a.person, a.reason) for t, a in lent] == [("0.0", 0, "later anchors")]
    assert [h.frame for h in lent[0][0].hits] == [100, 101]  # with its crops
    assert lend_kept(path, [], 2, TOLERANCE)[1] == []  # no gallery: nothing lent
    # Not journaled: its faces' rows are written again; journaled: the spool is deleted.
    faces_left = lateanchors.unfinished_faces(tmp_path, set())
    assert faces_left == {("first.mp4", f, "0") for f in (100, 101, 200, 201)}
    assert lateanchors.unfinished_faces(tmp_path, {"first.mp4"}) == set()
    assert not path.exists()
