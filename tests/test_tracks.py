"""Tracks on synthetic arrays: linking, splitting, joining, deciding, one face per person.

No models: encodings are random 128-d vectors placed at chosen distances from two
people's references, so every case is exact and fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.joins import join
from faceripper.pose import FRONTAL_MIN_FACES, FRONTAL_YAW, HeadPose
from faceripper.tracker import Tracker
from faceripper.tracks import (
    SPLIT_DISTANCE,
    Decision,
    Observation,
    Track,
    decide,
    one_per_frame,
    split,
)

TOLERANCE, GAP = 0.4, 0.04
rng = np.random.default_rng(7)


def unit(n: int = 128) -> np.ndarray:
    v = rng.normal(size=n)
    return v / np.linalg.norm(v)


#: Two referenced people, 1.0 apart, and two strangers (2, 3) far from both.
REFS = np.stack([unit() * 0.5, -unit() * 0.5])
PEOPLE = {0: REFS[0], 1: REFS[1], 2: unit(), 3: -unit()}
APPEAR = {p: rng.normal(size=(16, 16)).astype(np.float32) for p in PEOPLE}
#: The direction a person's faces lie in from their reference (one pose, one light).
POSE = {p: unit() for p in PEOPLE}


def face(person: int, distance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """An encoding of ``person`` (``distance`` from their reference, about) and its
    distances; faces of one person are about 0.03 apart, as consecutive frames are."""
    encoding = PEOPLE[person] + POSE[person] * (distance or 0.0) + unit() * 0.02
    return encoding, np.linalg.norm(REFS - encoding, axis=1)


def obs(
    frame: int,
    person: int,
    distance: float | None = None,
    encoded: bool = True,
    appearance: bool = True,
    box=(10, 110, 110, 10),
) -> Observation:
    encoding, distances = face(person, distance)
    return Observation(
        frame=frame,
        time_s=frame / 25,
        face_index=0,
        box_trbl=box,
        sharpness=100.0,
        blurry=False,
        distances=distances if encoded else None,
        encoding=encoding if encoded else None,
        appearance=APPEAR[person] + rng.normal(size=(16, 16)).astype(np.float32) * 0.05
        if appearance
        else None,
    )


def track(spec: str, distances: dict[int, float] | None = None, **kwargs) -> Track:
    """A track from a string: one character a frame, the person's digit; uppercase
    letters are not needed: a '.' after a digit means the frame is not encoded."""
    observations = []
    frame = 0
    i = 0
    while i < len(spec):
        person = int(spec[i])
        encoded = not (i + 1 < len(spec) and spec[i + 1] == ".")
        d = (distances or {}).get(person)
        observations.append(obs(frame, person, d, encoded, **kwargs))
        frame += 1
        i += 1 if encoded else 2
    return Track("5.0", observations)


# ------------------------------------------------------------------------------ split


@pytest.mark.parametrize(
    ("spec", "distances", "lengths"),
    [
        ("000000", None, [6]),  # one person
        ("00001111", None, [4, 4]),  # a missed cut between two referenced people
        ("00002222", None, [4, 4]),  # ... from a person to a stranger
        ("22220000", None, [4, 4]),  # ... from a stranger to a person
        ("0000111100", None, [4, 4, 2]),  # and back
        ("00001111", {0: 0.47, 1: 0.2}, [4, 4]),  # the issue's grandmother and mother
        ("00.00.01.11.11.", None, [5, 5]),  # unencoded frames: by appearance
        ("0", None, [1]),
        ("0.0.0.", None, [3]),  # nothing encoded: nothing to split on
    ],
)
def test_split_where_the_person_changes(spec, distances, lengths):
    parts = split(track(spec, distances), TOLERANCE, GAP)
    assert [len(p.observations) for p in parts] == lengths
    assert parts[0].name == "5.0"
    assert len({p.name for p in parts}) == len(parts)


def test_unencoded_frames_between_two_people_without_appearances_are_dropped():
    parts = split(track("00.0.1.1", appearance=False), TOLERANCE, GAP)
    # no appearance to place the change: frames 1-3 could be either person
    assert [[o.frame for o in p.observations] for p in parts] == [[0], [4]]


def test_a_face_drifting_slowly_away_from_its_reference_stays_one_track():
    # a turn: each encoding a little farther, consecutive ones close, the last far
    start = REFS[0] + unit() * 0.2
    direction = unit()
    observations = []
    for f in range(10):
        encoding = start + direction * 0.08 * f
        observations.append(
            Observation(
                f,
                f / 25,
                0,
                (10, 110, 110, 10),
                100.0,
                False,
                distances=np.linalg.norm(REFS - encoding, axis=1),
                encoding=encoding,
            )
        )
    assert np.linalg.norm(observations[0].encoding - observations[-1].encoding) > SPLIT_DISTANCE
    assert len(split(Track("t", observations), TOLERANCE, GAP)) == 1


def lookalikes(votes: str, apart: float = 0.45) -> Track:
    """Two faces ``apart`` (a look-alike: 0.45), votes as given (0/1, '-' none)."""
    observations = []
    base = REFS[0] + unit() * 0.3
    other = base + unit() * apart
    for f, v in enumerate(votes):
        distances = {"0": [0.3, 0.7], "1": [0.7, 0.3], "-": [0.7, 0.7]}[v]
        encoding = (other if v == "1" else base) + unit() * 0.01
        observations.append(
            Observation(
                f,
                f / 25,
                0,
                (10, 110, 110, 10),
                100.0,
                False,
                distances=np.array(distances),
                encoding=encoding,
            )
        )
    return Track("t", observations)


def test_one_face_hovering_between_two_people_is_not_split():
    track = lookalikes("000111", apart=0.1)  # one face, votes alternating by a hair
    assert len(split(track, TOLERANCE, GAP)) == 1
    assert decide(track, TOLERANCE, GAP).reason == "disagree"


@pytest.mark.parametrize(
    ("votes", "lengths"),
    [
        ("0011", [2, 2]),  # two runs of two votes: split
        ("00-11", [3, 2]),  # at the largest encoding jump between the runs
        ("0101", [4]),  # interleaved: no split (decide drops it as disagreeing)
        ("0001", [4]),  # a single vote for another: no split
        ("00110", [5]),  # the last run has one vote: no split
        ("000111000", [3, 3, 3]),
    ],
)
def test_split_on_a_change_of_votes(votes, lengths):
    parts = split(lookalikes(votes), TOLERANCE, GAP)
    assert [len(p.observations) for p in parts] == lengths
    if len(parts) > 1:  # each part votes for one person only
        assert all(len(p.votes) == 1 for p in parts)


# ------------------------------------------------------------------------------ decide


@pytest.mark.parametrize(
    ("spec", "distances", "n_people", "person", "reason"),
    [
        ("0000", {0: 0.3}, None, 0, "matched"),
        ("1111", {1: 0.3}, None, 1, "matched"),
        ("2222", None, None, -1, "unknown"),
        ("0000", {0: 0.45}, None, -1, "unknown"),  # every frame over the tolerance
        ("0.0.0.", None, None, -1, "not encoded"),
        ("00000000001", None, None, 0, "matched"),  # one vote of ten for another: kept
        ("0000011111", None, None, -1, "disagree"),
        ("1111", {1: 0.3}, 1, -1, "negative"),  # identity 1 is a negative
    ],
)
def test_decide(spec, distances, n_people, person, reason):
    decision = decide(track(spec, distances), TOLERANCE, GAP, n_people)
    assert (decision.person, decision.reason) == (person, reason)


def test_decide_one_lucky_frame_does_not_carry_a_far_track():
    observations = [obs(f, 0, 0.38 if f == 0 else 0.6) for f in range(5)]
    decision = decide(Track("t", observations), TOLERANCE, GAP)
    assert (decision.person, decision.reason) == (-1, "far")


def _turning(frontal: int, turned: int, turned_distance: float = 0.62) -> Track:
    """A track of person 0: ``frontal`` faces at 0.3 then ``turned`` ones at
    ``turned_distance`` from the reference, with their yaws."""
    observations = []
    for f in range(frontal + turned):
        far = f >= frontal
        o = obs(f, 0, turned_distance if far else 0.3)
        o.pose = HeadPose(yaw=40.0 if far else 5.0, roll=0.0)
        observations.append(o)
    return Track("t", observations)


def test_a_turning_face_is_decided_by_its_frontal_faces():
    turning = _turning(FRONTAL_MIN_FACES, 4)
    decision = decide(turning, TOLERANCE, GAP)
    assert (decision.person, decision.reason) == (0, "matched")
    assert decision.distance < 0.35  # the frontal faces' median
    for o in turning.observations:
        o.pose = None  # the same track without poses: its turned faces sink it
    assert decide(turning, TOLERANCE, GAP).reason == "far"


def test_turned_faces_nearer_than_the_frontal_ones_still_count():
    """Turned faces never make a track farther: here they lie nearer the photo."""
    turning = _turning(FRONTAL_MIN_FACES, 5, turned_distance=0.35)
    for o in turning.observations[:FRONTAL_MIN_FACES]:
        o.distances = face(0, 0.56)[1]
    decision = decide(turning, TOLERANCE, GAP)
    assert (decision.person, decision.reason) == (0, "matched")
    assert decision.distance < 0.4


def test_too_few_frontal_faces_decide_nothing_alone():
    decision = decide(_turning(FRONTAL_MIN_FACES - 1, 4), TOLERANCE, GAP)
    assert (decision.person, decision.reason) == (-1, "far")


def test_a_turned_face_voting_for_someone_else_still_disagrees():
    turning = _turning(4, 0)
    for f in range(4, 8):
        o = obs(f, 1, 0.3)
        o.pose = HeadPose(yaw=FRONTAL_YAW + 10, roll=0.0)
        turning.observations.append(o)
    assert decide(turning, TOLERANCE, GAP).reason == "disagree"


def test_the_issue_track_is_split_and_each_part_decided():
    parts = split(track("00001111", {0: 0.47, 1: 0.2}), TOLERANCE, GAP)
    decisions = [decide(p, TOLERANCE, GAP) for p in parts]
    assert [(d.person, d.reason) for d in decisions] == [(-1, "unknown"), (1, "matched")]
    whole = decide(track("00001111", {0: 0.47, 1: 0.2}), TOLERANCE, GAP)
    assert whole.person != 0  # never the whole track as the grandmother


# ------------------------------------------------------------------------- one per frame


def frames_track(name: str, frames: range, person: int, distance: float) -> Track:
    return Track(name, [obs(f, person, distance) for f in frames])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # (frames, person, distance) of two tracks -> decided person of each
        ((range(0, 10), 0, 0.30), (range(5, 15), 0, 0.35), [0, -1]),  # the nearer keeps
        ((range(0, 10), 0, 0.36), (range(5, 15), 0, 0.30), [-1, 0]),
        ((range(0, 10), 0, 0.30), (range(10, 20), 0, 0.35), [0, 0]),  # one after the other
        ((range(0, 10), 0, 0.30), (range(0, 10), 1, 0.35), [0, 1]),  # two people
    ],
)
def test_one_per_frame(a, b, expected):
    tracks = [frames_track("a", *a), frames_track("b", *b)]
    decisions = [decide(t, TOLERANCE, GAP) for t in tracks]
    assert [d.person for d in decisions] == [a[1], b[1]]
    kept = one_per_frame(tracks, decisions)
    assert [d.person for d in kept] == expected
    for d, old in zip(kept, decisions, strict=True):
        if d.person < 0:
            assert (d.reason, d.nearest) == ("same frame", old.person)


def test_one_per_frame_leaves_undecided_tracks_alone():
    tracks = [frames_track("a", range(3), 2, 0.1), frames_track("b", range(3), 0, 0.3)]
    decisions = [Decision(-1, 0.9, "unknown", 0), decide(tracks[1], TOLERANCE, GAP)]
    assert one_per_frame(tracks, decisions) == decisions


# -------------------------------------------------------------------------------- join


def part(name: str, frames: range, person: int, distance: float, box=(10, 110, 110, 10)) -> Track:
    return Track(name, [obs(f, person, distance, box=box) for f in frames])


def joined(tracks: list[Track], resets=(), decisions=None) -> tuple[list[Track], int]:
    decisions = decisions or [decide(t, TOLERANCE, GAP) for t in tracks]
    out, groups = join(tracks, decisions, resets)
    assert sorted(i for g in groups for i in g) == list(range(len(tracks)))
    return out, sum(len(g) - 1 for g in groups)


def test_a_face_lost_for_a_moment_is_one_track_again():
    # Person 0 matched (0.3), lost by the detector for 10 frames (0.4 s at 25 fps), found
    # again turned (0.47: no frame matches alone): one face, decided as a whole.
    tracks = [part("0.0", range(0, 10), 0, 0.30), part("20.0", range(20, 31), 0, 0.47)]
    assert [decide(t, TOLERANCE, GAP).person for t in tracks] == [0, -1]
    out, joins = joined(tracks)
    assert joins == 1 and [t.name for t in out] == ["0.0"]
    assert [o.frame for o in out[0].observations] == [*range(0, 10), *range(20, 31)]
    assert decide(out[0], TOLERANCE, GAP).person == 0


@pytest.mark.parametrize(
    ("second", "resets", "why"),
    [
        (part("20.0", range(20, 31), 0, 0.47), [15], "a cut between them"),
        (part("36.0", range(36, 46), 0, 0.47), [], "more than a second later"),
        (part("20.0", range(20, 31), 0, 0.47, box=(10, 400, 110, 300)), [], "elsewhere"),
        (part("20.0", range(20, 31), 0, 0.47, box=(10, 200, 190, 10)), [], "twice the size"),
        (part("20.0", range(20, 31), 2, 0.0), [], "a stranger at the same place"),
        (part("20.0", range(20, 31), 1, 0.30), [], "another person"),
        (part("5.0", range(5, 15), 0, 0.47), [], "overlapping in time"),
    ],
)
def test_tracks_that_are_not_one_face_stay_apart(second, resets, why):
    tracks = [part("0.0", range(0, 10), 0, 0.30), second]
    out, joins = joined(tracks, resets)
    assert (joins, [t.name for t in out]) == (0, ["0.0", second.name]), why


def test_tracks_decided_against_a_join_stay_apart():
    tracks = [part("0.0", range(0, 10), 0, 0.30), part("20.0", range(20, 31), 0, 0.32)]
    for decisions in (
        [Decision(0, 0.3, "matched", 0), Decision(1, 0.3, "matched", 1)],  # two people
        [Decision(0, 0.3, "matched", 0), Decision(-1, 0.3, "disagree", 0)],
        [Decision(-1, 0.3, "negative", 2), Decision(-1, 0.47, "unknown", 0)],
    ):
        assert joined(tracks, decisions=decisions)[1] == 0, decisions


def test_join_takes_the_nearest_face_and_chains():
    # One face in three parts, and a one-frame stranger at the same place in between:
    # the parts join over it (nearest means first); the stranger stays alone.
    tracks = [
        part("0.0", range(0, 10), 0, 0.30),
        part("12.0", range(12, 13), 2, 0.0),
        part("15.0", range(15, 25), 0, 0.45),
        part("30.0", range(30, 40), 0, 0.47),
    ]
    out, joins = joined(tracks)
    assert joins == 2 and [t.name for t in out] == ["0.0", "12.0"]
    assert len(out[0].observations) == 30


# --------------------------------------------------------------------------- Tracker


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ([[10, 110, 110, 10]], [[12, 112, 112, 12]], [True]),  # moved a little
        ([[10, 110, 110, 10]], [[200, 300, 300, 200]], [False]),  # elsewhere
        ([[10, 110, 110, 10]], [[0, 180, 180, 0]], [False]),  # grew 1.8x: another face
        (
            [[10, 110, 110, 10], [10, 310, 110, 210]],
            [[10, 312, 110, 212], [12, 110, 112, 10]],
            [True, True],
        ),
    ],
)
def test_tracker_assign(first, second, same):
    tracker = Tracker()
    one = tracker.assign(0, np.array(first), np.arange(len(first)))
    for t, box in zip(one, first, strict=True):
        t.observations.append(obs(0, 0, box=tuple(box)))
    two = tracker.assign(1, np.array(second), np.arange(len(second)))
    for t, s in zip(two, same, strict=True):
        assert (t in one) is s
    assert len(tracker.finished) == sum(1 for t in one if t not in two)


def test_tracker_disabled_and_cut_start_new_tracks():
    tracker = Tracker(enabled=False)
    a = tracker.assign(0, np.array([[10, 110, 110, 10]]), np.arange(1))
    a[0].observations.append(obs(0, 0))
    b = tracker.assign(1, np.array([[10, 110, 110, 10]]), np.arange(1))
    assert b[0] is not a[0]
    tracker = Tracker()
    a = tracker.assign(0, np.array([[10, 110, 110, 10]]), np.arange(1))
    a[0].observations.append(obs(0, 0))
    tracker.cut()
    assert tracker.active == [] and tracker.finished == a


def test_a_waiting_track_is_continued_after_missed_frames_then_ends():
    """A track the ``wait`` rule keeps survives frames without a face (its misses
    counted), is continued by a box near its last one, and ends once ``wait`` says no."""
    tracker = Tracker()
    box = np.array([[10, 110, 110, 10]])
    (track,) = tracker.assign(0, box, np.arange(1))
    track.observations.append(obs(0, 0, box=(10, 110, 110, 10)))

    def wait(t):
        return t.misses < 2

    assert tracker.assign(1, np.zeros((0, 4), np.int64), np.arange(0), wait) == []
    assert tracker.waiting == [track] and track.misses == 1 and tracker.finished == []
    assert tracker.lost(np.zeros((0, 4), np.int64)) == [track]
    assert tracker.lost(box + 2) == []  # a box near its last one would continue it
    (again,) = tracker.assign(2, box + 2, np.arange(1), wait)
    assert again is track and track.misses == 0 and tracker.waiting == []
    again.observations.append(obs(2, 0, box=(12, 112, 112, 12)))
    for frame in (3, 4):
        tracker.assign(frame, np.zeros((0, 4), np.int64), np.arange(0), wait)
    assert tracker.waiting == [track]
    tracker.assign(5, np.zeros((0, 4), np.int64), np.arange(0), wait)
    assert tracker.waiting == [] and tracker.finished == [track]
    # Without ``wait`` (and at a cut) nothing waits.
    tracker = Tracker()
    (track,) = tracker.assign(0, box, np.arange(1))
    track.observations.append(obs(0, 0, box=(10, 110, 110, 10)))
    tracker.assign(1, np.zeros((0, 4), np.int64), np.arange(0), wait)
    tracker.cut()
    assert tracker.waiting == [] and tracker.finished == [track]
