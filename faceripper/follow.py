"""Following a known face where HOG loses it: turned, tilted, looking down.

dlib's HOG detector finds near-frontal faces only: a face that turns to talk to a
neighbour, looks down at a plate or tilts its head is lost, and its track ends. When
the track is a known person's, or may become one, such a face is worth keeping: a
dataset of frontal faces only trains a weak model. So where such a track has no HOG
face in a frame, the region around its last box is searched with dlib's CNN (MMOD)
detector, which finds those poses (:func:`faceripper.detector.detect_cnn_around`), and
a face found there continues the track, marked as *followed*.

What is followed must still be that face. A CNN face is taken (:func:`follow_lost`)
only when

- the track is a person's so far: at least :data:`FOLLOW_MIN_VOTES` of its encoded
  faces voted for one person and none for anyone else (a negative identity included);
  or a candidate for one (:func:`candidate`): not decided yet, its encoded faces
  nearest that person by the median, within the tolerance plus
  :data:`FOLLOW_CANDIDATE_SLACK`, none voting for anyone else (a face the references
  leave borderline, whose track would otherwise end unfollowed where HOG loses it);
- it was found with a score of at least :data:`FOLLOW_MIN_SCORE`;
- it continues the track as a HOG face would (an overlap of at least
  :data:`faceripper.tracks.LINK_IOU` with the track's last box, a size within
  :data:`faceripper.tracks.LINK_SIZE_RATIO` of it) and is at least
  :data:`FOLLOW_SIZE_SLACK` of ``min_size`` (the CNN's box is smaller than HOG's);
- it is clear of every other face: it overlaps no HOG face of the frame, no other
  tracked face's last box and no other followed face by :data:`FOLLOW_CLEAR_IOU` or
  more, and the lost track's own last box overlaps no HOG face of the frame that much
  (the face may have been taken over by another track);
- its encoding is not within the tolerance of anybody else (another person, a
  negative identity), and within :data:`FOLLOW_SAME_FACE` of one of the track's
  encodings that voted for the person (of a candidate's encoded faces: any of them):
  a stranger who took the face's place is not. dlib's landmarks depend on the box
  they are fitted in, and at a strong tilt they can lose the eyes in one box and not
  in another; so a face refused only as unlike the track (not as anybody else's) is
  encoded once more in the track's last box, and taken with that box if it passes
  there (``follow_retries``);
- the track has not been followed for :data:`FOLLOW_MAX_S` seconds since its last HOG
  face already.

Where no CNN face around a followed track's last (CNN) box continues it, the region
around its last HOG box is searched once more, same rules: a weak MMOD detection (a hand
over the mouth) depends on the scale and place it is searched at.

A frame in which nothing acceptable is found does not end the following: the track
waits (:meth:`faceripper.tracker.Tracker.assign`'s ``wait``, :func:`waits`) up to
:data:`FOLLOW_MISSES` looked-at frames in a row, searched again around its last box
(nothing is saved in the frames it missed), and a HOG face may continue it too. At
most :data:`FOLLOW_MAX_SEARCHES` CNN searches are made in a frame (:func:`follow_order`).

Faces are followed backwards too, into the frames before a track's first one
(:mod:`faceripper.followback`).

A followed face is an observation of its track, but never an encoded one: the track's
identity is still decided from its HOG faces alone (:func:`faceripper.tracks.decide`),
and a followed face is saved only when its track is decided as a person (a candidate's
followed faces are held with it until then, and dropped with it if it is not). A track
always starts at a HOG face, so no track is made of followed faces only. Shot cuts and
reset points end the following with the track.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceripper.detector import detect_cnn_around
from faceripper.encoder import face_distances
from faceripper.geometry import BoxArray, box_sizes, iou
from faceripper.images import ImageRGB
from faceripper.matching import person_distances
from faceripper.memo import encode_image
from faceripper.models import Device, EncoderEngine, LandmarkModel
from faceripper.tracks import LINK_IOU, LINK_SIZE_RATIO, Track, vote

#: A track is followed once this many of its encoded faces voted for one person (and
#: none for anyone else).
FOLLOW_MIN_VOTES = 2
#: Least MMOD score of a followed face. Measured on the Hamilton clip: the faces of
#: people (frontal, three-quarter, profile) score 0.5 to 1.1 in regions around them,
#: one turned-away profile 0.12.
FOLLOW_MIN_SCORE = 0.3
#: A followed face is at least this fraction of ``--min-size``: the CNN boxes a face
#: smaller than HOG does, by 6 to 12% (Lin-Manuel Miranda's close-up in the Hamilton
#: clip: HOG 105 px, the CNN 99; HOG 90 px, the CNN 79 as he turns), and its track's
#: HOG faces were at least ``--min-size``.
FOLLOW_SIZE_SLACK = 0.85
#: A CNN face overlapping another face (IoU) this much or more could be that face.
FOLLOW_CLEAR_IOU = 0.1
#: A followed face's encoding lies at most this far from the nearest encoding of its
#: track's HOG faces. Measured on the Hamilton clip: Lin-Manuel Miranda's profile (shot
#: 1) lies 0.58-0.62 from the nearest of his frontal encodings (shot 2); the four other
#: people of shot 3 lie 0.60-0.77 from them (median 0.68). A head tilted in the image's
#: plane stays much closer: its encoding is computed on a levelled chip.
FOLLOW_SAME_FACE = 0.65
#: A track is followed for at most this many seconds after its last HOG face (a head
#: turned to a neighbour for a few sentences); then it ends, as it would without
#: following. Every face followed passes the checks above on its own (CNN score,
#: continuity, clear of other faces, its encoding near the track's), so the limit is
#: only a bound on the cost of a track whose face stays out of HOG's sight.
FOLLOW_MAX_S = 4.0
#: A track not yet decided is followed when its encoded faces lie at most this much
#: beyond the tolerance from a person by the median (:func:`candidate`); what is
#: followed is saved only if it is decided for that person in the end.
FOLLOW_CANDIDATE_SLACK = 0.15
#: A followed track in whose frame nothing acceptable is found waits this many
#: looked-at frames for a face that continues it (nothing saved in those), then ends.
FOLLOW_MISSES = 3
#: At most this many CNN searches a looked-at frame forwards (:func:`follow_order`).
FOLLOW_MAX_SEARCHES = 4


@dataclass(frozen=True)
class FollowSettings:
    """What :func:`follow_lost` needs of the run's settings and references."""

    min_size_px: int
    tolerance: float
    ambiguity_gap: float
    landmarks: LandmarkModel
    engine: EncoderEngine
    device: Device
    #: ``(m, 128)`` float64 reference encodings, their identities ``(m,)`` int64, how
    #: many identities (people, then negatives) and how many are people.
    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.int64]
    n_identities: int
    n_people: int
    #: How a backwards-followed face is cropped and kept, as the worker does
    #: (:class:`faceripper.worker.RipSettings`'s fields of the same names).
    align: bool = True
    margin: float = 0.3
    size_px: int = 256
    jpeg_quality: int = 95
    blur_threshold: float = 0.0
    crop_floor: float = float("inf")  # blurry faces from it up are cropped (blur.croppable)
    dedupe: bool = True


def followed_person(track: Track, n_people: int, tolerance: float | None = None) -> int:
    """The person a lost track is followed as; -1: it is not followed.

    The track's votes are for one person only, at least :data:`FOLLOW_MIN_VOTES` (a
    person's track), or, with ``tolerance``, it is a candidate for one
    (:func:`candidate`); and its last face is less than :data:`FOLLOW_MAX_S` seconds
    after its last HOG face.
    """
    if len(track.votes) > 1 or not track.observations:
        return -1
    hog = next((o for o in reversed(track.observations) if not o.followed), track.observations[0])
    if track.last.time_s - hog.time_s >= FOLLOW_MAX_S:
        return -1
    if track.votes:
        ((person, count),) = track.votes.items()
        if person >= n_people:
            return -1
        if count >= FOLLOW_MIN_VOTES:
            return person
    return -1 if tolerance is None else candidate(track, n_people, tolerance)


def candidate(track: Track, n_people: int, tolerance: float) -> int:
    """The person a track not yet decided may become; -1: none.

    Its encoded faces lie nearest to that person by the median, within ``tolerance +``
    :data:`FOLLOW_CANDIDATE_SLACK` of them, and none voted for anyone else (a negative
    identity included). Such a track is followed as a person's is; what is followed is
    saved only if the track is decided for the person in the end.
    """
    encoded = [o.distances for o in track.observations if o.distances is not None]
    if not encoded:
        return -1
    median = np.median(np.stack(encoded), axis=0)
    person = int(np.argmin(median))
    if person >= n_people or set(track.votes) - {person}:
        return -1
    return person if float(median[person]) <= tolerance + FOLLOW_CANDIDATE_SLACK else -1


def follow_order(lost: list[Track], n_people: int, tolerance: float) -> list[tuple[Track, int]]:
    """The lost tracks to follow and their people (:func:`followed_person`), in the
    order they are searched: people's tracks first, then candidates, each nearest first
    (the median distance of its encoded faces to its person)."""
    followed = [(t, followed_person(t, n_people, tolerance)) for t in lost]
    return sorted(
        ((t, p) for t, p in followed if p >= 0),
        key=lambda tp: (tp[0].votes[tp[1]] < FOLLOW_MIN_VOTES, _median(tp[0], tp[1])),
    )


def _median(track: Track, person: int) -> float:
    """The median distance of the track's encoded faces to ``person`` (inf: none)."""
    encoded = [float(o.distances[person]) for o in track.observations if o.distances is not None]
    return float(np.median(encoded)) if encoded else float("inf")


def waits(track: Track, n_people: int, tolerance: float) -> bool:
    """Whether a followed track that nothing continued in a frame waits for the next
    (:meth:`faceripper.tracker.Tracker.assign`): at most :data:`FOLLOW_MISSES` looked-at
    frames in a row, while it would be followed (:func:`followed_person`)."""
    return track.misses < FOLLOW_MISSES and followed_person(track, n_people, tolerance) >= 0


def choose(
    last: npt.NDArray[np.int64],
    boxes: BoxArray,
    scores: npt.NDArray[np.float32],
    others: BoxArray,
    min_size_px: int,
) -> int:
    """Which CNN face (row of ``boxes``) continues a track whose last box is ``last``.

    Args:
        last: ``(4,)`` the track's last box.
        boxes: ``(n, 4)`` CNN faces found around it; ``scores`` their ``(n,)`` scores.
        others: ``(k, 4)`` every other face of the frame (HOG faces, other tracks' last
            boxes, faces followed already).
        min_size_px: the run's ``--min-size``.

    Returns:
        The row of the qualifying face (module doc) that overlaps ``last`` most; -1: none.

    Example:
        >>> last = np.array([100, 200, 200, 100])
        >>> found = np.array([[105, 205, 205, 105], [100, 330, 200, 230]])
        >>> choose(last, found, np.array([0.9, 1.0], np.float32), np.zeros((0, 4)), 80)
        0
        >>> choose(last, found, np.array([0.2, 1.0], np.float32), np.zeros((0, 4)), 80)
        -1
    """
    if len(boxes) == 0:
        return -1
    overlap = iou(boxes, last[None, :])[:, 0]
    ratio = box_sizes(boxes) / max(int(box_sizes(last[None, :])[0]), 1)
    ok = (
        (scores >= FOLLOW_MIN_SCORE)
        & (overlap >= LINK_IOU)
        & (ratio <= LINK_SIZE_RATIO)
        & (ratio >= 1 / LINK_SIZE_RATIO)
        & (box_sizes(boxes) >= FOLLOW_SIZE_SLACK * min_size_px)
    )
    if len(others):
        ok &= iou(boxes, np.asarray(others, dtype=np.int64)).max(axis=1) < FOLLOW_CLEAR_IOU
    if not ok.any():
        return -1
    return int(np.argmax(np.where(ok, overlap, -1.0)))


def follow_lost(
    image: ImageRGB,
    boxes: BoxArray,
    active: list[Track],
    lost: list[Track],
    settings: FollowSettings,
    counts: Counter[str],
) -> BoxArray:
    """Faces that continue the lost tracks of people and candidates here (module doc).

    Args:
        image: the frame, RGB uint8 ``(h, w, 3)``.
        boxes: ``(n, 4)`` the frame's HOG faces (those at least ``min_size``).
        active: the tracks a face of this frame may continue (those of the previous
            looked-at frame, and the waiting ones: :attr:`faceripper.tracker.Tracker.tracked`).
        lost: those of them no HOG face continues.
        settings: the run's settings and references.
        counts: tallies, updated: ``follow_searches`` (CNN searches), ``followed`` (faces
            taken), ``follow_vetoed`` (someone else's, or unlike the track's), ``follow_retries``
            (:func:`accept`), ``follow_skipped`` (over :data:`FOLLOW_MAX_SEARCHES`).

    Returns:
        ``(k, 4)`` int64 boxes, each continuing one lost track as the tracker links it
        (overlap with its last box, clear of every other face); ``k <= len(lost)``.
    """
    taken: list[npt.NDArray[np.int64]] = [np.asarray(b, dtype=np.int64) for b in boxes]
    lost_ids = {id(t) for t in lost}
    taken += [np.array(t.last.box_trbl, dtype=np.int64) for t in active if id(t) not in lost_ids]
    found: list[npt.NDArray[np.int64]] = []
    searches = 0
    for track, person in follow_order(lost, settings.n_people, settings.tolerance):
        if searches == FOLLOW_MAX_SEARCHES:
            counts["follow_skipped"] += 1
            continue
        last = np.array(track.last.box_trbl, dtype=np.int64)
        if len(boxes) and iou(last[None, :], boxes).max() >= FOLLOW_CLEAR_IOU:
            continue  # another face is where this one was
        counts["follow_searches"] += 1
        searches += 1
        candidates, scores = detect_cnn_around(image, last)
        others = np.stack(taken + found) if taken or found else np.zeros((0, 4), np.int64)
        row = choose(last, candidates, scores, others, settings.min_size_px)
        hog = next((np.array(o.box_trbl) for o in track.observations[::-1] if not o.followed), last)
        if row < 0 and searches < FOLLOW_MAX_SEARCHES and not np.array_equal(hog, last):
            counts["follow_searches"] += 1  # again around the last HOG box (module doc)
            searches += 1
            candidates, scores = detect_cnn_around(image, hog)
            row = choose(last, candidates, scores, others, settings.min_size_px)
        if row < 0:
            continue
        box, _ = accept(image, last, candidates[row], others, person, track, settings, counts)
        if box is not None:
            found.append(box)
            counts["followed"] += 1
    return np.stack(found) if found else np.zeros((0, 4), dtype=np.int64)


def accept(
    image: ImageRGB,
    last: npt.NDArray[np.int64],
    box: npt.NDArray[np.int64],
    others: BoxArray,
    person: int,
    track: Track,
    settings: FollowSettings,
    counts: Counter[str],
    shift: npt.NDArray[np.int64] | None = None,
) -> tuple[npt.NDArray[np.int64] | None, npt.NDArray[np.float64]]:
    """The box a CNN face ``box`` continues ``track`` with, after the encoding check
    (:func:`_check`), and its landmarks (the frame's pixels); None: refused.

    A face refused only as unlike the track (not as anybody else's) is checked once more
    in the track's box ``last`` (the landmarks depend on the box they are fitted in) when
    that box is clear of ``others``, and taken with that box if it passes there.
    ``shift``: what to subtract from a box to have it in ``image`` (a region).
    """
    move = np.zeros(4, np.int64) if shift is None else shift
    box = np.asarray(box, dtype=np.int64)
    vetoed, landmarks, other = _check(image, box - move, person, track, settings)
    clear = not len(others) or iou(last[None, :], others).max() < FOLLOW_CLEAR_IOU
    if vetoed and not other and clear and not np.array_equal(box, last):
        counts["follow_retries"] += 1
        box = last
        vetoed, landmarks, other = _check(image, box - move, person, track, settings)
    if vetoed:
        counts["follow_vetoed"] += 1
        return None, landmarks
    return box, landmarks + np.array([move[1], move[0]], dtype=np.float64)


def _check(
    image: ImageRGB,
    box: npt.NDArray[np.int64],
    person: int,
    track: Track,
    settings: FollowSettings,
) -> tuple[bool, npt.NDArray[np.float64], bool]:
    """Whether the face in ``box`` is refused as ``track``'s: within the tolerance of an
    identity other than ``person`` (then also the third value), or farther than
    :data:`FOLLOW_SAME_FACE` from every encoding of ``track`` that voted for ``person``
    (of a candidate's: from every encoding of it); and the face's ``(p, 2)``
    landmarks. Its encoding is used for nothing else."""
    found, encodings = encode_image(
        image, box[None, :], settings.landmarks, settings.engine, settings.device
    )
    distances = person_distances(
        face_distances(encodings, settings.encodings),
        settings.person,
        settings.n_identities,
    )[0]
    landmarks = found[0]
    others = np.delete(distances, person)
    if len(others) and float(others.min()) <= settings.tolerance:
        return True, landmarks, True
    own = [
        o.encoding
        for o in track.observations
        if o.encoding is not None
        and o.distances is not None
        and (
            track.votes[person] < FOLLOW_MIN_VOTES
            or vote(o.distances, settings.tolerance, settings.ambiguity_gap) == person
        )
    ]
    if not own:
        return True, landmarks, False
    far = float(face_distances(encodings, np.stack(own)).min()) > FOLLOW_SAME_FACE
    return far, landmarks, False
