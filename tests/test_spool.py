"""The spool format of the video-adaptive step: anchors and held-back tracks as bytes."""

from __future__ import annotations

import numpy as np

from faceripper.heldback import Anchor, PendingTrack
from faceripper.pose import HeadPose
from faceripper.spool import pack, unpack
from faceripper.worker import FaceHit


def unit(seed: int) -> np.ndarray:
    """A random 128-d direction."""
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def pending(
    encodings: np.ndarray,
    ref_distance: list[float],
    first: int,
    last: int,
    excluded: tuple[int, ...],
    name: str,
) -> PendingTrack:
    return PendingTrack(name, first, last, np.array(ref_distance), encodings, excluded)


def hit(frame: int, face: int, jpeg: bytes) -> FaceHit:
    return FaceHit(
        frame, frame / 30, face, (10, 60, 60, 10), -1, float("nan"), 120.0, "saved", jpeg, "t"
    )


def test_pack_and_unpack_round_trip():
    ex = [Anchor(0, 0, 9, np.stack([unit(1), unit(3)])), Anchor(2, 20, 29, unit(2)[None])]
    track = pending(np.stack([unit(5), unit(6)]), [0.45, 0.7, 0.9], 3, 9, (2,), "3.1")
    track.decided = 1
    track.best = 0.38
    track.hits = [hit(3, 1, b"abc"), hit(5, 1, b"defgh")]
    track.hits[0].pose = HeadPose(yaw=-31.5, roll=4.25)
    track.own_distances = [np.array([0.44, 0.7, 0.9]), None]
    empty = pending(np.zeros((0, 128)), [0.5, 0.6, 0.9], 11, 11, (), "11.0")
    ex2, tracks = unpack(pack(ex, [track, empty]))
    assert [(a.person, a.first_frame, a.last_frame) for a in ex2] == [(0, 0, 9), (2, 20, 29)]
    assert np.allclose(ex2[0].encodings, ex[0].encodings)
    assert np.allclose(ex2[1].encodings, ex[1].encodings)
    got = tracks[0]
    assert (got.name, got.first_frame, got.last_frame, got.excluded) == ("3.1", 3, 9, (2,))
    assert (got.decided, tracks[1].decided) == (1, -1)
    assert got.best == 0.38 and tracks[1].best == float("inf")
    assert np.allclose(got.encodings, track.encodings)
    assert [h.jpeg for h in got.hits] == [b"abc", b"defgh"]
    assert [h.frame for h in got.hits] == [3, 5] and got.hits[1].box_trbl == (10, 60, 60, 10)
    assert [h.pose for h in got.hits] == [HeadPose(-31.5, 4.25), None]
    assert np.allclose(got.own_distances[0], [0.44, 0.7, 0.9]) and got.own_distances[1] is None
    assert tracks[1].hits == [] and tracks[1].encodings.shape == (0, 128)
    summary = unpack(pack(ex, [track]), crops=False)[1][0]
    assert summary.hits == [] and np.allclose(summary.encodings, track.encodings)
    assert unpack(pack([], [])) == ([], [])
