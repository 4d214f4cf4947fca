"""Following a known face backwards: the looked-at frames kept, and the search into them.

A face is also followed backwards (:func:`follow_back`): a person often turns towards
the camera, and HOG first sees him, after being turned away. So the moment a track is
first followed by the rules of :mod:`faceripper.follow` (a candidate: mostly at its
first face, which is encoded), the looked-at frames before its first one are searched,
newest first, around its earliest box, with the same rules, until
:data:`~faceripper.follow.FOLLOW_MISSES` frames in a row have no face that continues it
(nothing is saved in those). Only the last :data:`FOLLOW_BACK_FRAMES` looked-at frames
are kept for that (:class:`RecentFrame`), never those before the last shot cut or reset
point (the worker keeps them in the state it makes anew there), so what is found does
not depend on how the video is cut into segments. A track that starts without being
followed holds the regions of those frames around its first box
(:meth:`RecentFrame.region`, :data:`FOLLOW_HOLD_MARGIN`), so that how far back it is
followed does not depend on when it becomes a person's.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from faceripper.blur import croppable, is_blurry, sharpness
from faceripper.crops import face_crop
from faceripper.detector import detect_cnn_around
from faceripper.faces import Faces
from faceripper.follow import (
    FOLLOW_CLEAR_IOU,
    FOLLOW_MAX_S,
    FOLLOW_MISSES,
    FollowSettings,
    accept,
    choose,
    followed_person,
)
from faceripper.geometry import BoxArray, iou
from faceripper.images import ImageRGB
from faceripper.tracks import MEDIAN_SLACK, Observation, Track

#: A track that starts unfollowed holds the region within this many face sides of its
#: first box from the kept frames before it (:meth:`RecentFrame.region`), to be followed
#: backwards once it is a person's (the CNN searches half a face side around a box; the
#: rest is room for the face to move and for its aligned crop).
FOLLOW_HOLD_MARGIN = 1.0
#: Looked-at frames kept to follow a track backwards from its first HOG face (half a
#: second at 30 frames/s, every frame looked at). Each is the decoded frame itself (6.2
#: MB at 1080p, 2.8 MB at 720p): at most 93 MB a worker at 1080p.
FOLLOW_BACK_FRAMES = 15


@dataclass
class FrameFaces:
    """The faces tracked in one looked-at frame, shared by the frame kept
    (:class:`RecentFrame`) and every region of it held for a track."""

    #: Every face tracked in it (HOG faces at least ``min_size``, then followed faces),
    #: those followed backwards into it included (their boxes, numbers and ``followed``).
    faces: Faces
    #: The ``face_index`` the next face followed backwards into it gets.
    next_index: int


@dataclass
class RecentFrame:
    """A looked-at frame kept to follow tracks backwards (:func:`follow_back`), or the
    region of one held for a track (:meth:`region`)."""

    frame: int
    time_s: float
    #: The decoded frame, RGB uint8 ``(h, w, 3)`` (a reference, not a copy), or a copy
    #: of a region of it.
    image: ImageRGB
    tracked: FrameFaces
    #: ``(top, left)`` of ``image`` in the frame: boxes are the frame's pixels.
    offset: tuple[int, int] = (0, 0)
    #: Whether ``image`` is the whole frame (else a region of it, :meth:`region`).
    whole: bool = True

    @property
    def faces(self) -> Faces:
        """The faces tracked in the frame (:attr:`FrameFaces.faces`)."""
        return self.tracked.faces

    @property
    def hog(self) -> BoxArray:
        """``(n, 4)`` int64 its HOG faces at least ``min_size``."""
        return self.faces.box_trbl[~self.faces.followed]

    @property
    def shift(self) -> npt.NDArray[np.int64]:
        """``(4,)`` what to subtract from a box of the frame to have it in ``image``."""
        top, left = self.offset
        return np.array([top, left, top, left], dtype=np.int64)

    def region(self, box: npt.NDArray[np.int64]) -> RecentFrame:
        """This frame's region within :data:`FOLLOW_HOLD_MARGIN` face sides of ``box``
        (``(4,)``, the frame's pixels), copied; its faces shared with this frame."""
        top, right, bottom, left = (int(v) for v in box - self.shift)
        pad = round(max(1, min(right - left, bottom - top)) * FOLLOW_HOLD_MARGIN)
        y0, x0 = max(0, top - pad), max(0, left - pad)
        y1 = min(self.image.shape[0], bottom + pad)
        x1 = min(self.image.shape[1], right + pad)
        image = np.ascontiguousarray(self.image[y0:y1, x0:x1])
        at = (self.offset[0] + y0, self.offset[1] + x0)
        return RecentFrame(self.frame, self.time_s, image, self.tracked, at, whole=False)

    def search(self, box: npt.NDArray[np.int64]) -> tuple[BoxArray, npt.NDArray[np.float32]]:
        """:func:`faceripper.detector.detect_cnn_around` ``box`` (the frame's pixels),
        within ``image``; boxes in the frame's pixels."""
        boxes, scores = detect_cnn_around(self.image, box - self.shift)
        return boxes + self.shift, scores


def recent_frames() -> deque[RecentFrame]:
    """An empty buffer of the last :data:`FOLLOW_BACK_FRAMES` looked-at frames."""
    return deque(maxlen=FOLLOW_BACK_FRAMES)


def follow_back(
    tracks: list[Track],
    recent: deque[RecentFrame],
    settings: FollowSettings,
    counts: Counter[str],
    held: dict[int, list[RecentFrame]] | None = None,
) -> None:
    """Follow backwards each track that has just become followed (see the module).

    For each of ``tracks`` (in order) not followed backwards yet that is followed now
    (:func:`~faceripper.follow.followed_person`: a person's track, or a candidate), the
    frames before its first observation are searched newest first around its earliest
    box, as :func:`faceripper.follow.follow_lost` searches forwards, until
    :data:`~faceripper.follow.FOLLOW_MISSES` frames in a row have no face that continues
    it; the faces found become its first observations (``followed``, cropped as the
    worker crops), added to their frame's faces. At most
    :data:`~faceripper.follow.FOLLOW_MAX_S` seconds before its first face. The frames
    searched are those of ``recent``, or, for a track that started unfollowed, their
    regions held in ``held``.

    Args:
        tracks: the tracks of the current frame, their observations of it included
            (waiting ones too: :attr:`faceripper.tracker.Tracker.tracked`).
        recent: the looked-at frames since the last reset point, oldest first, at most
            :data:`FOLLOW_BACK_FRAMES` (the current one may be the last).
        settings: the run's settings and references.
        counts: tallies, updated: ``follow_searches``, ``followed``, ``followed_back``
            (faces taken backwards), ``follow_vetoed``.
        held: the regions held for tracks not followed yet, by ``id`` of the track,
            updated: a track that starts (its first observation is of this frame)
            without being followed gets the regions of ``recent`` around its first box
            (:data:`FOLLOW_HOLD_MARGIN`); they are let go when it is followed, when it
            is no longer among ``tracks``, or when it is settled as nobody's. None: none.
    """
    far = settings.tolerance + MEDIAN_SLACK
    for track in tracks:
        if track.followed_back:
            continue
        first = track.observations[0]
        box = np.array(first.box_trbl, dtype=np.int64)
        person = followed_person(track, settings.n_people, settings.tolerance)
        if person < 0:
            if held is not None and len(track.observations) == 1 and id(track) not in held:
                held[id(track)] = [
                    r
                    for r in recent
                    if r.frame < first.frame and first.time_s - r.time_s <= FOLLOW_MAX_S
                ]  # the frames themselves while they are kept; their regions after
            elif held is not None and not track.votes and track.settled(far):
                held.pop(id(track), None)
            continue
        track.followed_back = True
        frames = [r for r in recent if r.frame < first.frame]
        if held is not None and id(track) in held:
            frames = held.pop(id(track))
        found: list[Observation] = []
        misses = 0
        for past in reversed(frames):
            if first.time_s - past.time_s > FOLLOW_MAX_S:
                break
            if len(past.hog) and iou(box[None, :], past.hog).max() >= FOLLOW_CLEAR_IOU:
                break  # another face is where this one will be
            counts["follow_searches"] += 1
            candidates, scores = past.search(box)
            others = past.faces.box_trbl
            row = choose(box, candidates, scores, others, settings.min_size_px)
            taken: npt.NDArray[np.int64] | None = None
            if row >= 0:
                taken, landmarks = accept(
                    past.image, box, candidates[row], others, person, track, settings,
                    counts, past.shift,
                )  # fmt: skip
            if taken is None:
                misses += 1  # nothing saved here; the frame before may still have it
                if misses > FOLLOW_MISSES:
                    break
                continue
            misses = 0
            box = taken
            face = Faces.followed_boxes(box[None, :], past.tracked.next_index)
            found.append(_observation(past, face, landmarks, settings))
            past.tracked.faces = past.faces.append(face)
            past.tracked.next_index += 1
            counts["followed"] += 1
            counts["followed_back"] += 1
        track.observations[:0] = found[::-1]
    if held is not None:
        _keep_held(tracks, recent, held)


def _keep_held(
    tracks: list[Track], recent: deque[RecentFrame], held: dict[int, list[RecentFrame]]
) -> None:
    """Let go of the held frames of the tracks no longer among ``tracks``; of the others,
    replace those no longer in ``recent`` by their regions around the track's first box
    (:meth:`RecentFrame.region`: copied only for a track still unfollowed then)."""
    alive = {id(t): t for t in tracks}
    kept = {id(r) for r in recent}
    for key in list(held):
        track = alive.get(key)
        if track is None:
            del held[key]
            continue
        box = np.array(track.observations[0].box_trbl, dtype=np.int64)
        held[key] = [r.region(box) if r.whole and id(r) not in kept else r for r in held[key]]


def _observation(
    past: RecentFrame,
    face: Faces,
    landmarks: npt.NDArray[np.float64],
    settings: FollowSettings,
) -> Observation:
    """A face (one row, the frame's pixels, ``landmarks`` too) followed backwards into
    ``past``, cropped as the worker crops its faces."""
    local = face.box_trbl - past.shift
    sharp = sharpness(past.image, local)
    face = face.with_columns(
        sharpness=sharp,
        blurry=is_blurry(sharp, settings.blur_threshold),
        landmarks_xy=landmarks[None],
    )
    observation = Observation.from_faces(face, 0, past.frame, past.time_s)
    if not croppable(sharp, face.blurry, settings.crop_floor)[0]:
        return observation
    observation.jpeg, observation.signature = face_crop(
        past.image, local[0], landmarks - np.array(past.offset[::-1], dtype=np.float64), settings
    )
    return observation
