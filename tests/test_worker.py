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


def test_the_engine_and_device_are_not_part_of_the_resume_check(tmp_path):
    from faceripper.config import Config, Person
    from faceripper.rip import run_fingerprint
    from faceripper.worker import References

    config = Config((Person("amy", "amy", "", tmp_path),), tmp_path)
    references = References(np.zeros((1, 128)), np.zeros(1, dtype=np.int64), 1)
    default = run_fingerprint(config, references, RipSettings())
    for engine, device in (("dlib", "cpu"), ("opencv", "cpu"), ("onnxruntime", "cuda")):
        other = RipSettings(engine=engine, device=device)  # type: ignore[arg-type]
        assert run_fingerprint(config, references, other) == default
    assert "engine" not in default and "device" not in default
    assert run_fingerprint(config, references, RipSettings(margin=0.5)) != default
