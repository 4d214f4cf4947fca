"""The worker's decisions on a finished track (no models: observations built by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.tracks import Observation, Track, Tracker
from faceripper.worker import DEDUPE_RECENT, RipSettings, SegmentResult, finish_tracks


def observation(frame: int, signature: np.ndarray, encoded: bool) -> Observation:
    return Observation(
        frame=frame,
        time_s=frame / 30,
        face_index=0,
        box_trbl=(10, 110, 110, 10),
        sharpness=200.0,
        blurry=False,
        distances=np.array([0.3, 0.8]) if encoded else None,
        jpeg=b"jpeg",
        signature=signature,
    )


def finished(signatures: list[np.ndarray], dedupe: bool = True) -> SegmentResult:
    track = Track("0.0", [observation(i, s, i % 10 == 0) for i, s in enumerate(signatures)])
    track.votes[0] = 1
    tracker = Tracker()
    tracker.finished = [track]
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=dedupe), result, n_people=2)
    return result


rng = np.random.default_rng(0)
A, B, C = (rng.normal(size=(16, 16)).astype(np.float32) for _ in range(3))


def test_a_still_face_whose_crop_alternates_between_two_variants_keeps_two():
    result = finished([A, B] * 10)
    assert [h.frame for h in result.hits] == [0, 1]
    assert result.counts["deduplicated"] == 18


@pytest.mark.parametrize("gap", [DEDUPE_RECENT + 1, DEDUPE_RECENT + 3])
def test_a_variant_seen_longer_ago_than_the_recent_crops_is_kept_again(gap):
    others = [rng.normal(size=(16, 16)).astype(np.float32) for _ in range(gap - 1)]
    result = finished([A, *others, A])
    assert len(result.hits) == gap + 1


def test_no_dedupe_keeps_every_crop():
    assert len(finished([A, B, A, C, A], dedupe=False).hits) == 5


def face(frame: int, distances: list[float], encoding: np.ndarray, right: int = 110) -> Observation:
    return Observation(
        frame=frame,
        time_s=frame / 30,
        face_index=0 if right < 200 else 1,
        box_trbl=(10, right, 110, right - 100),
        sharpness=200.0,
        blurry=False,
        distances=np.array(distances),
        jpeg=b"jpeg",
        encoding=encoding,
    )


def finish(tracks: list[Track]) -> SegmentResult:
    tracker = Tracker()
    tracker.finished = tracks
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=False), result, n_people=2)
    return result


def test_a_track_of_two_people_is_split_and_each_part_saved_under_its_own():
    first, second = np.zeros(128), np.full(128, 0.1)  # 1.13 apart
    observations = [face(f, [0.3, 0.9], first) for f in range(4)]
    observations += [face(f, [0.9, 0.25], second) for f in range(4, 8)]
    result = finish([Track("0.0", observations)])
    assert [(h.frame, h.person, h.track) for h in result.hits] == [
        *((f, 0, "0.0") for f in range(4)),
        *((f, 1, "0.0/4.0") for f in range(4, 8)),
    ]
    assert result.counts["track_splits"] == 1 and result.counts["tracks"] == 2


def test_two_faces_of_one_frame_are_never_saved_as_one_person():
    near = Track("0.0", [face(f, [0.25, 0.9], np.zeros(128)) for f in range(5)])
    far = Track("0.1", [face(f, [0.35, 0.9], np.full(128, 0.1), right=410) for f in range(5)])
    result = finish([far, near])
    assert {h.track for h in result.hits} == {"0.0"}
    assert len(result.hits) == 5
    assert result.counts["tracks_same_frame"] == 1
    assert result.ambiguous[0] == 5  # the other face's crops, counted under the person
