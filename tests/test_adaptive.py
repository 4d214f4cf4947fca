"""Video-adaptive identity: the rule on synthetic encodings, and the spool format."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.adaptive import (
    CONFIDENT_DISTANCE,
    CORE_SLACK,
    MAX_EXEMPLARS,
    REFERENCE_SLACK,
    VIDEO_TOLERANCE,
    Exemplars,
    PendingTrack,
    adopted_hits,
    confident_faces,
    decide_pending,
    is_borderline,
    own_core,
    pack,
    spread,
    unpack,
    video_distances,
)
from faceripper.pose import HeadPose
from faceripper.tracks import Decision
from faceripper.worker import FaceHit

TOLERANCE = 0.4


def unit(seed: int) -> np.ndarray:
    """A random 128-d direction."""
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def near(centre: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A point exactly ``distance`` from ``centre``."""
    return centre + distance * unit(1000 + seed)


def pending(
    encodings: np.ndarray,
    ref_distance: list[float],
    first: int = 0,
    last: int = 10,
    excluded: tuple[int, ...] = (),
    name: str = "0.0",
) -> PendingTrack:
    return PendingTrack(name, first, last, np.array(ref_distance), encodings, excluded)


def hit(frame: int, face: int = 0, jpeg: bytes = b"\xff\xd8x") -> FaceHit:
    return FaceHit(
        frame, frame / 30, face, (10, 60, 60, 10), -1, float("nan"), 120.0, "saved", jpeg, "t"
    )


@pytest.mark.parametrize(("n", "k", "expected"), [(10, 3, [0, 4, 9]), (2, 3, [0, 1]), (0, 4, [])])
def test_spread(n, k, expected):
    assert spread(n, k).tolist() == expected


def test_merge_keeps_at_most_the_limit_per_person_in_order():
    parts = [Exemplars(), Exemplars()]
    parts[0].add(0, np.stack([unit(i) for i in range(MAX_EXEMPLARS + 10)]))
    parts[1].add(1, np.stack([unit(500 + i) for i in range(3)]))
    merged = Exemplars.merge(parts)
    assert (merged.person == 0).sum() == MAX_EXEMPLARS
    assert (merged.person == 1).sum() == 3
    assert np.allclose(merged.encodings[0], unit(0))
    assert len(Exemplars.merge([])) == 0


def test_confident_faces_need_distance_and_margin():
    d = np.array(
        [
            [0.30, 0.45],  # confident
            [0.30, 0.38],  # too near person 1
            [CONFIDENT_DISTANCE + 0.01, 0.9],  # too far
            [0.20, 0.95, 0.25],  # a negative (column 2) too near
        ][:3]
    )
    assert confident_faces(d, 0, 2).tolist() == [True, False, False]
    d3 = np.array([[0.20, 0.95, 0.25], [0.20, 0.95, 0.40]])
    assert confident_faces(d3, 0, 2).tolist() == [False, True]


@pytest.mark.parametrize(
    ("ref", "reason", "expected"),
    [
        ([0.45, 0.8], "unknown", True),
        ([0.45, 0.8], "far", True),
        ([0.44, 0.46], "ambiguous", True),
        ([0.45, 0.8], "disagree", False),
        ([TOLERANCE + REFERENCE_SLACK + 0.01, 0.8], "unknown", False),
        ([0.8, 0.45, 0.3], "unknown", False),  # nearest is a negative (index 2)
    ],
)
def test_is_borderline(ref, reason, expected):
    assert is_borderline(np.array(ref), reason, 2, TOLERANCE) is expected


def exemplars_of(*people: tuple[int, np.ndarray]) -> Exemplars:
    out = Exemplars()
    for person, centre in people:
        out.add(person, np.stack([near(centre, 0.2, i) for i in range(4)]))
    return out


def test_a_track_near_a_persons_video_faces_is_adopted():
    alice, bob = unit(1) * 0.5, unit(2) * 0.5
    ex = exemplars_of((0, alice), (1, bob))
    track = pending(np.stack([near(alice, 0.15, 10 + i) for i in range(5)]), [0.46, 0.7])
    (decision,) = decide_pending([track], ex, 2, TOLERANCE)
    assert decision.person == 0 and decision.reason == "adopted"
    assert decision.video_distance <= VIDEO_TOLERANCE


def test_a_stranger_far_from_the_video_faces_is_not():
    alice, bob = unit(1) * 0.5, unit(2) * 0.5
    stranger = near(alice, 0.5, 99)
    ex = exemplars_of((0, alice), (1, bob))
    track = pending(np.stack([near(stranger, 0.1, 20 + i) for i in range(5)]), [0.46, 0.7])
    (decision,) = decide_pending([track], ex, 2, TOLERANCE)
    assert decision.person == -1 and decision.reason == "far"


def test_no_exemplars_no_adoption():
    track = pending(np.stack([unit(3)]), [0.45, 0.7])
    assert decide_pending([track], Exemplars(), 2, TOLERANCE)[0].reason == "no exemplars"


def test_two_faces_in_one_frame_are_two_people():
    alice = unit(1) * 0.5
    ex = exemplars_of((0, alice))
    close = np.stack([near(alice, 0.15, 30 + i) for i in range(3)])
    excluded = pending(close, [0.45, 0.9], excluded=(0,))
    assert decide_pending([excluded], ex, 2, TOLERANCE)[0].person == -1
    # Two borderline tracks in the same frames: only the nearer one is Alice.
    nearer = pending(np.stack([near(alice, 0.1, 40 + i) for i in range(3)]), [0.45, 0.9])
    farther = pending(close, [0.45, 0.9], first=5, last=20, name="5.1")
    apart = pending(close, [0.45, 0.9], first=30, last=40, name="30.0")
    decisions = decide_pending([farther, nearer, apart], ex, 2, TOLERANCE)
    assert [d.person for d in decisions] == [-1, 0, 0]
    assert decisions[0].reason == "shares a frame"


def test_a_track_between_two_peoples_video_faces_is_ambiguous():
    alice = unit(1) * 0.5
    bob = near(alice, 0.3, 7)
    ex = exemplars_of((0, alice), (1, bob))
    middle = (alice + bob) / 2
    track = pending(np.stack([near(middle, 0.05, 50 + i) for i in range(3)]), [0.45, 0.47])
    assert decide_pending([track], ex, 2, TOLERANCE)[0].reason == "ambiguous"


def test_the_references_keep_their_say():
    alice = unit(1) * 0.5
    ex = exemplars_of((0, alice))
    track = pending(np.stack([near(alice, 0.1, 60)]), [TOLERANCE + REFERENCE_SLACK + 0.05, 0.9])
    assert decide_pending([track], ex, 2, TOLERANCE)[0].person == -1


def test_a_track_decided_without_a_confident_face_waits_for_the_video():
    # The references decided these tracks for Alice (0), but none of their faces was
    # matched with confidence: the video's confident faces of Alice have the last word.
    alice = unit(1) * 0.5
    ex = exemplars_of((0, alice))
    lookalike = near(alice, 0.5, 98)  # a relative: within the tolerance of her photo
    like_her = pending(np.stack([near(alice, 0.15, 80 + i) for i in range(3)]), [0.38, 0.9])
    unlike = pending(np.stack([near(lookalike, 0.1, 90 + i) for i in range(3)]), [0.38, 0.9])
    like_her.decided = unlike.decided = 0
    unlike.first_frame = 20
    unlike.last_frame = 30
    decisions = decide_pending([like_her, unlike], ex, 2, TOLERANCE)
    assert [(d.person, d.reason) for d in decisions] == [
        (0, "confirmed"),
        (-1, "unlike the video"),
    ]
    # A video without a confident face of Alice: the references alone decide, as before.
    (alone,) = decide_pending([unlike], exemplars_of((1, unit(2) * 0.5)), 2, TOLERANCE)
    assert (alone.person, alone.reason) == (0, "references")


def test_video_distances_are_medians_of_nearest_exemplars():
    alice = unit(1)
    ex = Exemplars()
    ex.add(0, np.stack([alice, near(alice, 1.0, 1)]))
    encodings = np.stack([near(alice, d, 70 + i) for i, d in enumerate((0.1, 0.2, 0.3))])
    out = video_distances(encodings, ex, 2)
    assert out[0] == pytest.approx(0.2) and np.isinf(out[1])


def test_pack_and_unpack_round_trip():
    ex = exemplars_of((0, unit(1)), (2, unit(2)))
    track = pending(np.stack([unit(5), unit(6)]), [0.45, 0.7, 0.9], 3, 9, (2,), "3.1")
    track.decided = 1
    track.hits = [hit(3, 1, b"abc"), hit(5, 1, b"defgh")]
    track.hits[0].pose = HeadPose(yaw=-31.5, roll=4.25)
    track.own_distances = [np.array([0.44, 0.7, 0.9]), None]
    empty = pending(np.zeros((0, 128)), [0.5, 0.6, 0.9], 11, 11, (), "11.0")
    ex2, tracks = unpack(pack(ex, [track, empty]))
    assert np.array_equal(ex2.person, ex.person) and np.allclose(ex2.encodings, ex.encodings)
    got = tracks[0]
    assert (got.name, got.first_frame, got.last_frame, got.excluded) == ("3.1", 3, 9, (2,))
    assert (got.decided, tracks[1].decided) == (1, -1)
    assert np.allclose(got.encodings, track.encodings)
    assert [h.jpeg for h in got.hits] == [b"abc", b"defgh"]
    assert [h.frame for h in got.hits] == [3, 5] and got.hits[1].box_trbl == (10, 60, 60, 10)
    assert [h.pose for h in got.hits] == [HeadPose(-31.5, 4.25), None]
    assert np.allclose(got.own_distances[0], [0.44, 0.7, 0.9]) and got.own_distances[1] is None
    assert tracks[1].hits == [] and tracks[1].encodings.shape == (0, 128)
    assert len(unpack(pack(ex, [track]), exemplars_only=True)[1]) == 0
    assert unpack(pack(Exemplars(), []))[1] == []


def test_adopted_hits_take_the_person_and_their_distance():
    track = pending(np.stack([unit(5)]), [0.45, 0.7])
    track.hits = [hit(1), hit(2)]
    track.own_distances = [np.array([0.43, 0.8]), None]
    from faceripper.adaptive import Adoption

    out = adopted_hits(track, Adoption(0, 0.3, "adopted"))
    assert [(h.person, round(h.distance, 2)) for h in out] == [(0, 0.43), (0, 0.45)]


def test_merge_streams_many_parts_in_bounded_memory():
    parts = []
    for k in range(40):
        part = Exemplars()
        part.add(0, np.stack([unit(10_000 + 20 * k + i) for i in range(20)]))
        parts.append(part)
    merged = Exemplars.merge(iter(parts), limit=16)
    assert (merged.person == 0).sum() == 16
    assert np.allclose(merged.encodings[0], unit(10_000))  # the first one stays
    again = Exemplars.merge(iter(parts), limit=16)
    assert np.array_equal(merged.encodings, again.encodings)


def _far(distances: np.ndarray, person: int = 0) -> Decision:
    median = float(np.median(distances[:, person]))
    return Decision(-1, median, "far", person)


def _turning_track(confident: int = 2, far: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``(n, 3)`` of a face that turns: some views confidently person 0, the
    others past the tolerance (but nearest to person 0); and encodings ``(n, 128)``
    that move 0.1 from one face to the next."""
    rows = [[0.30, 0.75, 0.80]] * confident + [[0.44, 0.72, 0.78]] * 2
    rows += [[0.55, 0.74, 0.81]] * far
    steps = np.stack([0.1 * unit(i) for i in range(len(rows))])
    return np.array(rows), np.cumsum(steps, axis=0)


def test_a_turning_face_with_confident_views_keeps_its_person():
    distances, encodings = _turning_track()
    decision = _far(distances)
    assert decision.distance > TOLERANCE + 0.1  # decide() drops it as "far"
    kept = own_core(distances, encodings, decision, 3, TOLERANCE)
    assert (kept.person, kept.reason) == (0, "matched")
    assert kept.distance == pytest.approx(0.55)


def test_own_core_refuses_without_a_confident_face_or_too_far():
    distances, encodings = _turning_track(confident=0, far=10)
    assert own_core(distances, encodings, _far(distances), 3, TOLERANCE).person == -1
    distances, encodings = _turning_track(confident=1, far=10)
    distances[1:, 0] += 0.1
    assert np.median(distances[:, 0]) > TOLERANCE + CORE_SLACK
    assert own_core(distances, encodings, _far(distances), 3, TOLERANCE).person == -1
    # Not confident: another identity (a negative here) within 0.1 of its best faces.
    distances, encodings = _turning_track()
    distances[:2, 2] = 0.36
    assert own_core(distances, encodings, _far(distances), 2, TOLERANCE).person == -1


def test_own_core_refuses_a_track_with_a_missed_cut_or_a_negative():
    distances, encodings = _turning_track()
    assert own_core(distances, encodings, _far(distances), 3, TOLERANCE).person == 0
    cut = encodings.copy()
    cut[5:] += 0.5 * unit(99)  # one close-up replaced by a look-alike's at once
    assert own_core(distances, cut, _far(distances), 3, TOLERANCE).person == -1
    # Nearest to a negative identity (index >= n_people), or not a "far" decision.
    assert own_core(distances, encodings, _far(distances), 0, TOLERANCE).person == -1
    matched = Decision(0, 0.3, "matched", 0)
    assert own_core(distances, encodings, matched, 3, TOLERANCE) is matched
    disagree = Decision(-1, 0.5, "disagree", 0)
    assert own_core(distances, encodings, disagree, 3, TOLERANCE) is disagree
