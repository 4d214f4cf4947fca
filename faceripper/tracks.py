"""Face tracks: one face followed through consecutive frames, and its identity.

A detection joins the track whose last box it overlaps most (IoU at least
:data:`LINK_IOU`, similar size), seen in the previous processed frame; otherwise it
starts a new track (:class:`faceripper.tracker.Tracker`). A shot cut (a large change of
the whole frame, :func:`faceripper.shots.is_cut`) ends every track.

A track's identity is decided from all its encoded frames (:func:`decide`), so a face
that turns to profile or blurs for a few frames keeps its identity, and a face that
matches one person in one frame only, by chance, does not pass. Encoding every frame of
a track is not needed: a settled track (clearly one person, or clearly nobody) is re-checked every
:data:`RECHECK_EVERY` frames, an unsettled one every :data:`UNSETTLED_EVERY`, and any
track whose face suddenly looks different (:data:`APPEARANCE_JUMP`) at once; a settled
track whose face another face took the place of is unsettled again (:meth:`Track.left`).

A track can hold two people: a cut the frame difference missed (one close-up replaced by
another at the same place), or a face passing in front of another. Before its identity
is decided, a track is split where its encodings jump (:func:`split`): each part is then
decided on its own instead of the whole track being dropped, or, worse, saved under one
name. A face the detector loses for a moment (a turn, a hand) ends its track; the
tracks of one face in one shot are joined again (:func:`faceripper.joins.join`) before
they are decided.
A face the detector keeps through a long stretch where it is hard to recognise (turned,
in shadow) may be kept out of its person by the median of those faces' distances: such
a track is cut once (:func:`faceripper.trim.trim_far`) where the longest end of it is
decided alone.
Finally, two faces of one frame are two people: :func:`one_per_frame` keeps at most one
track per person in any frame.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper.faces import Faces
from faceripper.matching import Matches, match_faces
from faceripper.pose import HeadPose, frontal_median, head_pose

#: Least overlap (intersection over union) of a box with a track's last box to join it.
LINK_IOU = 0.3
#: Largest size ratio between a box and the track's last box to join it.
LINK_SIZE_RATIO = 1.5
#: Consecutive encodings of one track farther apart than this are two people: the
#: track is split between them (dlib's own same-person threshold is 0.6).
SPLIT_DISTANCE = 0.6
#: A track whose votes change from one person to another is split there when each side
#: has at least this many votes in a row (fewer: the frames disagree, it is dropped) ...
SPLIT_MIN_VOTES = 2
#: ... and the two runs' mean encodings are more than this apart (the default
#: tolerance): one face hovering between two look-alike people's references is one
#: person, not two; its track stays whole (and is dropped as disagreeing).
SPLIT_RUN_DISTANCE = 0.4
#: A face whose thumbnail (:func:`faceripper.crops.signature` of its box) differs from
#: the track's previous one by more than this (0: identical, about 1.1: unrelated) is
#: encoded at once, so that a change of person is seen where it happens. It only
#: brings an encoding forward: measured on the Hamilton clip, consecutive frames of one
#: face (turning, a microphone in front) differ by 0.40 (median), 10% by over 0.73, and
#: rip encodes 46 faces instead of 54 (a track settles sooner); faces replaced at one
#: place (tests/test_quality.py) jump by 0.66 and 1.0.
APPEARANCE_JUMP = 0.6
#: A settled track is re-encoded every this many frames ...
RECHECK_EVERY = 10
#: ... an unsettled one every this many. (Sparser sampling of undecided tracks was
#: tried: every 3rd or 5th frame cost a sixth of the crops of one 1080p benchmark
#: segment, as borderline tracks then gathered fewer votes.)
UNSETTLED_EVERY = 1
#: Matching encodings of one person that settle a track (with none of another person).
SETTLED_VOTES = 3
#: A track is dropped when encodings matching other people exceed this share of the
#: votes for its best person.
DISAGREEMENT = 0.1
#: A track keeps its person only if the median distance of its encodings to that person
#: is at most the tolerance plus this.
MEDIAN_SLACK = 0.1


@dataclass
class Observation:
    """One face of one frame in a track.

    ``distances`` are the face's distances to each person ``(n_people,)`` and
    ``encoding`` its ``(128,)`` float64 encoding when it was encoded, else None (also
    kept for the video-adaptive step, :mod:`faceripper.adaptive`).
    ``jpeg``/``signature`` are set when the face may be written. ``appearance`` is a
    signature of the face's box (:func:`faceripper.crops.signature`), to see a change of
    face between two frames of a track. The worker makes one of each row of a frame's
    :class:`~faceripper.faces.Faces` (:meth:`from_faces`).
    """

    frame: int
    time_s: float
    face_index: int
    box_trbl: tuple[int, int, int, int]
    sharpness: float
    blurry: bool
    distances: npt.NDArray[np.float64] | None = None
    jpeg: bytes | None = None
    signature: npt.NDArray[np.float32] | None = None
    encoding: npt.NDArray[np.float64] | None = None
    appearance: npt.NDArray[np.float32] | None = None
    #: Found by the CNN where HOG lost the track (:mod:`faceripper.follow`).
    followed: bool = False
    #: The face's yaw and roll from its landmarks (:mod:`faceripper.pose`); None when
    #: its landmarks were not computed.
    pose: HeadPose | None = None
    #: Its encoding made after the fact, where its track's face changed person
    #: (:mod:`faceripper.worker.backfill`): it places the change (:func:`split`), and
    #: nothing else (it never votes; ``encoding`` stays None).
    probe: npt.NDArray[np.float64] | None = None

    @classmethod
    def from_faces(cls, faces: Faces, i: int, frame: int, time_s: float) -> Observation:
        """Face ``i`` of a frame's record (:class:`faceripper.faces.Faces`), without its
        crop (``jpeg``, ``signature``); its head pose from its landmarks, when it has
        them (:func:`faceripper.pose.head_pose`)."""
        landmarks = faces.row("landmarks_xy", i)
        return cls(
            frame=frame,
            time_s=time_s,
            face_index=int(faces.face_index[i]),
            box_trbl=tuple(int(v) for v in faces.box_trbl[i]),  # type: ignore[arg-type]
            sharpness=float(faces.sharpness[i]),
            blurry=bool(faces.blurry[i]),
            distances=faces.row("distances", i),
            encoding=faces.row("encodings", i),
            appearance=faces.row("appearance", i),
            followed=bool(faces.followed[i]),
            pose=None if landmarks is None else head_pose(landmarks),
        )


@dataclass
class Track:
    """A face followed through frames."""

    name: str
    observations: list[Observation] = field(default_factory=list)
    last_encoded: int = -(10**9)
    votes: Counter[int] = field(default_factory=Counter)
    #: Whether it was followed backwards already (:func:`faceripper.followback.follow_back`).
    followed_back: bool = False
    #: Looked-at frames in a row, up to the current one, in which nothing continued it
    #: while it waited (:meth:`Tracker.assign`'s ``wait``).
    misses: int = 0
    #: :meth:`left`'s memo: person, far, observations looked at, their two faces.
    _within: tuple[int, float, int, Observation | None, Observation | None] = field(
        default=(-1, 0.0, 0, None, None), init=False, repr=False, compare=False
    )

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    def settled(self, far: float = np.inf) -> bool:
        """Whether the identity is clear enough to re-check only now and then.

        Either :data:`SETTLED_VOTES` encodings match one person and none anyone else,
        and the latest encoded face is still theirs (:meth:`left`), or (a stranger) as
        many encodings, none voting, are all farther than ``far`` from every person.
        """
        if self.votes:
            (person, best), *_ = self.votes.most_common(1)
            return best >= SETTLED_VOTES and len(self.votes) == 1 and not self.left(person, far)
        nearest = [float(o.distances.min()) for o in self.observations if o.distances is not None]
        return len(nearest) >= SETTLED_VOTES and min(nearest) > far

    def left(self, person: int, far: float = np.inf) -> bool:
        """Whether another face took ``person``'s place: the latest encoded face lies past
        ``far`` from them and more than :data:`SPLIT_DISTANCE` from the latest one within
        ``far`` (a missed cut; a head turning away stays within it). The part after such a
        change is encoded every frame, as any unsettled track. Each observation is looked
        at once (the memo ``_within``): a long track costs no more per frame."""
        who, bar, seen, theirs, latest = self._within
        if (who, bar) != (person, far):
            seen, theirs, latest = 0, None, None
        for o in self.observations[seen:]:
            if o.distances is not None and o.encoding is not None:
                latest = o
                theirs = o if float(o.distances[person]) <= far else theirs
        self._within = (person, far, len(self.observations), theirs, latest)
        if latest is None or theirs is None or latest is theirs:
            return False
        assert latest.encoding is not None and theirs.encoding is not None
        return bool(np.linalg.norm(latest.encoding - theirs.encoding) > SPLIT_DISTANCE)

    def wants_encoding(self, frame: int, far: float = np.inf) -> bool:
        """Whether the face of ``frame`` should be encoded (first face, then periodic).

        ``far``: a distance beyond which a face is clearly nobody's (see :meth:`settled`).
        """
        every = RECHECK_EVERY if self.settled(far) else UNSETTLED_EVERY
        return frame - self.last_encoded >= every


@dataclass(frozen=True)
class Decision:
    """A track's identity: ``person`` (-1: none) and why."""

    person: int
    distance: float
    reason: str  # matched, unknown, ambiguous, disagree, far, negative, not encoded, same frame
    nearest: int = -1


def _match(distances: npt.NDArray[np.float64], tolerance: float, gap: float) -> Matches:
    """Per-frame matching of ``(frames, people)`` person distances."""
    people = distances.shape[1]
    return match_faces(distances, np.arange(people, dtype=np.int64), people, tolerance, gap)


def decide(track: Track, tolerance: float, gap: float, n_people: int | None = None) -> Decision:
    """Decide whose face a track is, from all its encoded frames.

    Each encoded frame votes for its nearest person when that person is within
    ``tolerance`` and no second person is within ``gap`` of it (the per-face rule of
    :func:`faceripper.matching.match_faces`). The track belongs to the person with the
    most votes if:

    - votes for other people are at most :data:`DISAGREEMENT` of that person's (else
      the frames disagree: the track is dropped, never saved under two people), and
    - the median distance to that person is within ``tolerance + MEDIAN_SLACK`` (one
      lucky frame does not carry a stranger's track). The median is the smaller of the
      one over all encoded faces and, when the track has at least
      :data:`~faceripper.pose.FRONTAL_MIN_FACES` frontal encoded faces
      (:func:`faceripper.pose.frontal_median`),
      the one over those: a face that turns away for part of a track is recognised by
      its frontal faces, and its turned faces, far from any reference photo, no longer
      sink it (nor do they when they lie nearer). Its votes still count from every
      encoded face (a turned face voting for someone else still makes the frames
      disagree).

    Identities from ``n_people`` on are negatives (``--negatives``): a track whose best
    identity is a negative is dropped (reason ``"negative"``).
    """
    encoded = [o.distances for o in track.observations if o.distances is not None]
    if not encoded:
        return Decision(-1, float("nan"), "not encoded")
    distances = np.stack(encoded)  # (frames, people)
    matches = _match(distances, tolerance, gap)
    votes = Counter(int(p) for p in matches.person if p >= 0)
    if not votes:
        nearest = int(np.argmin(np.median(distances, axis=0)))
        reason = "ambiguous" if matches.ambiguous.any() else "unknown"
        return Decision(-1, float(np.median(distances[:, nearest])), reason, nearest)
    (person, count), *_ = votes.most_common(1)
    poses = [o.pose for o in track.observations if o.distances is not None]
    median = frontal_median(distances[:, person], poses)
    if n_people is not None and person >= n_people:
        return Decision(-1, median, "negative", person)
    others = sum(votes.values()) - count
    if others > DISAGREEMENT * count:
        return Decision(-1, median, "disagree", person)
    if median > tolerance + MEDIAN_SLACK:
        return Decision(-1, median, "far", person)
    return Decision(person, median, "matched", person)


def vote(distances: npt.NDArray[np.float64], tolerance: float, gap: float) -> int:
    """The person one encoded face (distances ``(people,)``) votes for; -1 for none."""
    return int(_match(distances[None, :], tolerance, gap).person[0])


def _change_between(observations: list[Observation], first: int, last: int) -> tuple[int, int]:
    """Where a track changes face between its encoded observations ``first`` and ``last``.

    Returns ``(end, start)``: the earlier part ends before ``end``, the later one starts
    at ``start``. The change is placed at the largest jump of the face's appearance in
    ``(first, last]``; without appearances, the frames in between could be either face
    and belong to neither part (``end = first + 1``, ``start = last``).
    """
    if last - first == 1:
        return last, last
    jumps = []
    for i in range(first + 1, last + 1):
        a, b = observations[i - 1].appearance, observations[i].appearance
        if a is None or b is None or a.shape != b.shape:
            return first + 1, last
        jumps.append(float(np.abs(a - b).mean()))
    change = first + 1 + int(np.argmax(jumps))
    return change, change


def _probed_change(
    found: Sequence[npt.NDArray[np.float64] | None], first: int, last: int
) -> tuple[int, int]:
    """The two encoded observations, from ``first`` to ``last`` (encoded) and the probed
    ones between them (``found``: each observation's encoding or probe, or None),
    between which the encodings jump most."""
    at = [first, *(i for i in range(first + 1, last) if found[i] is not None), last]
    if len(at) == 2:
        return first, last
    steps = [float(np.linalg.norm(found[b] - found[a])) for a, b in itertools.pairwise(at)]  # type: ignore[operator]
    k = int(np.argmax(steps))
    return at[k], at[k + 1]


def split(track: Track, tolerance: float, gap: float) -> list[Track]:
    """Split a track where its face changes person; the parts in order (one: no change).

    A track is cut between two consecutive encoded frames

    - whose encodings are more than :data:`SPLIT_DISTANCE` apart, or
    - where its votes (:func:`vote`) go from one person to another, when each of the
      two runs of votes has at least :data:`SPLIT_MIN_VOTES` votes and their mean
      encodings are more than :data:`SPLIT_RUN_DISTANCE` apart (there, at the largest
      jump of the encodings between the runs).

    Where a cut falls between two encoded frames, the faces between them that have a
    :attr:`~Observation.probe` (encoded after the fact, :mod:`faceripper.worker.backfill`)
    place it: at the largest jump of the encodings and probes in between. A probe after
    the track's last encoded frame (its last face, checked when it ended) is one more
    encoded frame for the cuts by distance. Frames still between two encodings go to the
    earlier or the later part by where the face's appearance jumps most (to neither
    without appearances): a guess, left to faces that could not be encoded (blurry or
    followed ones). The
    first part keeps the track's name; the others are named
    ``<name>/<frame>.<face index>`` of their first frame.

    Example:
        >>> t = Track("7.0", [Observation(f, f / 25, 0, (0, 10, 10, 0), 1.0, False)
        ...                   for f in range(3)])
        >>> [len(p.observations) for p in split(t, 0.4, 0.04)]
        [3]
    """
    observations = track.observations
    found = [o.encoding if o.encoding is not None else o.probe for o in observations]
    encoded = [i for i, o in enumerate(observations) if o.encoding is not None]
    probed = [i for i, o in enumerate(observations) if o.probe is not None]
    if probed and encoded and probed[-1] > encoded[-1]:
        encoded.append(probed[-1])  # a face that replaced the track's in its last frames
    if len(encoded) < 2:
        return [track]
    encodings = np.stack([found[i] for i in encoded])  # type: ignore[misc]
    jumps = np.linalg.norm(np.diff(encodings, axis=0), axis=1)  # (k - 1,)
    boundaries = {int(j) for j in np.flatnonzero(jumps > SPLIT_DISTANCE)}
    runs: list[list[int]] = []  # runs of encoded positions voting for one person
    persons: list[int] = []
    for j, i in enumerate(encoded):
        distances = observations[i].distances
        person = vote(distances, tolerance, gap) if distances is not None else -1
        if person < 0:
            continue
        if persons and persons[-1] == person:
            runs[-1].append(j)
        else:
            runs.append([j])
            persons.append(person)
    if len(runs) > 1 and all(len(run) >= SPLIT_MIN_VOTES for run in runs):
        for before, after in itertools.pairwise(runs):
            low, high = before[-1], after[0]
            apart = np.linalg.norm(encodings[before].mean(axis=0) - encodings[after].mean(axis=0))
            if apart > SPLIT_RUN_DISTANCE and not any(low <= b < high for b in boundaries):
                boundaries.add(low + int(np.argmax(jumps[low:high])))
    if not boundaries:
        return [track]
    changes = sorted(
        _change_between(observations, *_probed_change(found, encoded[b], encoded[b + 1]))
        for b in boundaries
    )
    ends = [end for end, _ in changes] + [len(observations)]
    starts = [0] + [start for _, start in changes]
    parts: list[Track] = []
    for k, (start, end) in enumerate(zip(starts, ends, strict=True)):
        chunk = observations[start:end]
        first = chunk[0]
        name = track.name if k == 0 else f"{track.name}/{first.frame}.{first.face_index}"
        parts.append(track_part(name, chunk, tolerance, gap))
    return parts


def track_part(name: str, observations: list[Observation], tolerance: float, gap: float) -> Track:
    """A track of ``observations`` (part of a track), its votes counted again."""
    part = Track(name, list(observations))
    for o in observations:
        if o.distances is not None:
            part.last_encoded = o.frame
            person = vote(o.distances, tolerance, gap)
            if person >= 0:
                part.votes[person] += 1
    return part


def one_per_frame(tracks: list[Track], decisions: list[Decision]) -> list[Decision]:
    """At most one track per person in any frame: two faces of one frame are two people.

    Among tracks decided for the same person that share a frame, the one whose decision
    is nearest (smallest median distance) keeps the person; the others are left
    undecided (reason ``"same frame"``, ``nearest`` still the person), all their frames:
    a track is one face, and that face is not the person.

    Args:
        tracks: the tracks of one segment (every face of a frame is in one of them).
        decisions: ``decide`` of each track, in the same order.

    Returns:
        The decisions, in the same order, with the losers undecided.
    """
    out = list(decisions)
    taken: dict[int, set[int]] = {}
    order = sorted(
        (i for i, d in enumerate(decisions) if d.person >= 0),
        key=lambda i: (decisions[i].distance, -len(tracks[i].observations), i),
    )
    for i in order:
        decision = decisions[i]
        frames = {o.frame for o in tracks[i].observations}
        mine = taken.setdefault(decision.person, set())
        if frames & mine:
            out[i] = Decision(-1, decision.distance, "same frame", decision.person)
        else:
            mine |= frames
    return out
