"""Tracks too far by the median cut where one end is decided alone (faceripper.trim)."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.tracks import Observation, Track, decide
from faceripper.trim import trim_far

TOLERANCE, GAP = 0.4, 0.04
_rng = np.random.default_rng(11)
#: Two referenced people 1.0 apart, and the direction a face lies in from the first.
REFS = np.stack([np.zeros(128), np.eye(128)[0]])
_AWAY = _rng.normal(size=128)
_AWAY[0] = 0.0
_AWAY /= np.linalg.norm(_AWAY)


def obs(frame: int, distance: float, encoded: bool = True) -> Observation:
    """A face of person 0, ``distance`` from their reference (encoded or not)."""
    encoding = REFS[0] + _AWAY * distance
    return Observation(
        frame=frame,
        time_s=frame / 25,
        face_index=0,
        box_trbl=(10, 110, 110, 10),
        sharpness=100.0,
        blurry=False,
        distances=np.linalg.norm(REFS - encoding, axis=1) if encoded else None,
        encoding=encoding if encoded else None,
    )


def trimmed(observations: list[Observation]) -> list[tuple[int, int, str]]:
    """The parts :func:`trim_far` makes of a track: (faces, person, reason) each."""
    whole = Track("7.0", observations)
    tracks, decisions = trim_far([whole], [decide(whole, TOLERANCE, GAP)], TOLERANCE, GAP)
    pairs = zip(tracks, decisions, strict=True)
    return [(len(t.observations), d.person, d.reason) for t, d in pairs]


def test_a_far_track_keeps_its_longest_end_that_is_decided_alone():
    # 10 hard faces (0.58 from the reference, none voting), then 8 clear ones: the
    # median of the whole is 0.58, too far; from the third face on it is 0.44.
    observations = [obs(f, 0.58) for f in range(10)] + [obs(f, 0.3) for f in range(10, 18)]
    assert decide(Track("t", observations), TOLERANCE, GAP).reason == "far"
    assert trimmed(observations) == [(2, -1, "unknown"), (16, 0, "matched")]
    # ... the same face turned away at the end: the cut is at the other end.
    late = [obs(f, 0.3) for f in range(8)] + [obs(f, 0.58) for f in range(8, 18)]
    assert trimmed(late) == [(16, 0, "matched"), (2, -1, "unknown")]
    # Unencoded faces stay with their neighbours: the cut is before an encoded face.
    sparse = [obs(f, 0.58, encoded=f % 2 == 0) for f in range(20)]
    sparse += [obs(f, 0.3) for f in range(20, 28)]
    (first, _, _), (second, person, _) = trimmed(sparse)
    assert (first + second, person) == (28, 0) and sparse[first].distances is not None


@pytest.mark.parametrize(
    ("observations", "why"),
    [
        ([obs(f, 0.38 if f < 2 else 0.6) for f in range(12)], "two lucky faces"),
        ([obs(f, 0.6) for f in range(12)], "no vote: unknown, not far"),
        ([obs(f, 0.3) for f in range(12)], "decided already"),
    ],
)
def test_a_track_is_not_trimmed_without_three_votes_or_when_not_far(observations, why):
    assert len(trimmed(observations)) == 1, why
