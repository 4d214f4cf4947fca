"""The frame stage of a segment: one frame's faces found, filtered, tracked, encoded and
cropped.

Cheapest test first: detect (on a frame shrunk as far as ``min_size`` allows, whole or
only around the tracked faces), drop faces under ``min_size``, follow the tracks HOG lost
(:mod:`faceripper.follow`), score sharpness and skip blurry faces (unless blurry crops are
kept), encode the faces their tracks need, measure their distances to the references,
crop. The frame's faces are one record (:class:`faceripper.faces.Faces`) that each stage
filters by a mask or fills a column of; each of its rows becomes an observation of its
track. Identities are decided when the tracks end (:mod:`faceripper.worker.decisions`).
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper import memo
from faceripper.blur import croppable, is_blurry, sharpness
from faceripper.crops import SIGNATURE_PX, face_crop, signature, signature_distance
from faceripper.detector import detect_around, detect_faces_scaled
from faceripper.encoder import encode_faces, face_distances
from faceripper.faces import Faces
from faceripper.follow import FollowSettings, follow_lost, waits
from faceripper.followback import FrameFaces, RecentFrame, follow_back, recent_frames
from faceripper.geometry import BoxArray
from faceripper.images import ImageRGB
from faceripper.matching import person_distances
from faceripper.tracker import Tracker
from faceripper.tracks import APPEARANCE_JUMP, MEDIAN_SLACK, Observation, Track, vote
from faceripper.worker.backfill import Backfill
from faceripper.worker.records import References, RipSettings, SegmentResult


@dataclass
class _FrameState:
    """What a segment carries from frame to frame.

    A new one is made at every reset point (:func:`process_segment`): whatever is added
    here must not carry over a shot cut, or the result would depend on where the video
    is cut into segments.
    """

    tracker: Tracker
    #: The last frame searched whole for faces.
    last_full: int = -(10**9)
    #: The last looked-at frames, to follow tracks backwards (:mod:`faceripper.follow`).
    recent: deque[RecentFrame] = field(default_factory=recent_frames)
    #: The regions of them held for the tracks not followed yet, by ``id`` of the track.
    held: dict[int, list[RecentFrame]] = field(default_factory=dict)
    #: The faces each track could have encoded since its last encoding
    #: (:mod:`faceripper.worker.backfill`).
    backfill: Backfill = field(default_factory=Backfill)


def process_frame(
    image: ImageRGB,
    frame: int,
    time_s: float,
    settings: RipSettings,
    references: References,
    state: _FrameState,
    result: SegmentResult,
    boxes: BoxArray | None = None,
) -> None:
    """Find, filter and track the faces of one frame; encode and crop those that need it.

    The frame's faces are one record (:class:`faceripper.faces.Faces`), filtered by
    masks and filled in stage by stage; each face becomes an observation of its track.
    Identities are decided when the tracks end (:func:`finish_tracks`). ``boxes`` are
    the frame's detections when they were found already (CNN batches). Shot cuts are
    found by the caller (:func:`process_segment`), which gives each shot a new ``state``.
    """
    if boxes is None:
        boxes = _detect(image, frame, settings, state, result)
    faces = Faces(boxes[np.lexsort((boxes[:, 0], boxes[:, 3]))])  # stable order: left, then top
    detected = len(faces)
    result.counts["detected"] += detected
    large = faces.sizes >= settings.min_size_px
    result.counts["too_small"] += int((~large).sum())
    faces = faces[large]
    if settings.follows:
        faces = _follow_lost(image, faces, detected, settings, references, state, result)
    wait = None
    if settings.follows:  # a followed track survives a few frames with nothing found
        wait = functools.partial(waits, n_people=references.n_people, tolerance=settings.tolerance)
    tracks = state.tracker.assign(frame, faces.box_trbl, faces.face_index, wait)
    if settings.tracks:  # the tracks that ended: their last faces checked
        state.backfill.end(state.tracker.tracked, settings, result)
    if settings.follows:
        next_index = detected + int(faces.followed.sum())
        state.recent.append(RecentFrame(frame, time_s, image, FrameFaces(faces, next_index)))
    if len(faces) == 0:
        return
    faces = _measure(image, faces, settings)
    # A face under --blur but not under --blur-floor is cropped too: its track decides
    # whether it is blurry (:func:`faceripper.worker.decisions.finish_tracks`).
    keep = croppable(faces.sharpness, faces.blurry, settings.crop_floor)
    result.counts["blurry_skipped"] += int((~keep).sum())
    faces = _encode(
        image, frame, faces, keep, keep & _due(faces, tracks, frame, settings), settings
    )
    faces = _distances(faces, references, result)
    for i, track in enumerate(tracks):
        observation = Observation.from_faces(faces, i, frame, time_s)
        if observation.distances is not None:
            track.last_encoded = frame
            person = vote(observation.distances, settings.tolerance, settings.ambiguity_gap)
            if person >= 0:
                track.votes[person] += 1
        if keep[i]:
            observation.jpeg, observation.signature = face_crop(
                image, faces.box_trbl[i], faces.landmarks_xy[i], settings
            )
        track.observations.append(observation)
        if settings.tracks:
            holdable = bool(keep[i] and not faces.blurry[i] and not faces.followed[i])
            state.backfill.note(track, observation, image, holdable, settings, result)
    if settings.follows:
        follow_back(
            state.tracker.tracked,
            state.recent,
            _follow_settings(settings, references),
            result.counts,
            state.held,
        )
    if not settings.tracks:
        state.tracker.cut()


def _follow_lost(
    image: ImageRGB,
    faces: Faces,
    detected: int,
    settings: RipSettings,
    references: References,
    state: _FrameState,
    result: SegmentResult,
) -> Faces:
    """The frame's faces and, after them, those that continue the tracks they lost
    (:func:`faceripper.follow.follow_lost`), numbered after the ``detected`` faces."""
    lost = state.tracker.lost(faces.box_trbl)
    if not lost:
        return faces
    found = follow_lost(
        image,
        faces.box_trbl,
        state.tracker.tracked,
        lost,
        _follow_settings(settings, references),
        result.counts,
    )
    return faces.append(Faces.followed_boxes(found, detected))


def _measure(image: ImageRGB, faces: Faces, settings: RipSettings) -> Faces:
    """The faces with their sharpness, whether they are blurry, and their appearance."""
    sharp = sharpness(image, faces.box_trbl)
    return faces.with_columns(
        sharpness=sharp,
        blurry=is_blurry(sharp, settings.blur_threshold),
        appearance=_appearances(image, faces.box_trbl),
    )


def _due(
    faces: Faces, tracks: list[Track], frame: int, settings: RipSettings
) -> npt.NDArray[np.bool_]:
    """``(n,)`` bool: the faces their tracks want encoded now (followed faces never)."""
    if settings.tracks:
        far = settings.tolerance + MEDIAN_SLACK  # beyond it, no track can be anyone's
        due = np.array([t.wants_encoding(frame, far) for t in tracks], dtype=bool)
        # A face that suddenly looks different may be another person: encode it now.
        due |= np.array(
            [_appearance_jumped(t, faces.row("appearance", i)) for i, t in enumerate(tracks)],
            dtype=bool,
        )
        # A blurry face is encoded only when its track has nothing better yet.
        due &= ~faces.blurry | np.array([not t.votes and t.last_encoded < 0 for t in tracks])
    else:
        due = np.ones(len(faces), dtype=bool)
    return due & ~faces.followed  # a followed face never votes (:mod:`faceripper.follow`)


def _encode(
    image: ImageRGB,
    frame: int,
    faces: Faces,
    keep: npt.NDArray[np.bool_],
    encode: npt.NDArray[np.bool_],
    settings: RipSettings,
) -> Faces:
    """The faces with the landmarks of the kept faces that are encoded or aligned, and
    the encodings of the faces in ``encode`` (``keep``, ``encode``: ``(n,)`` bool); an
    earlier run's when it made the same call (:func:`faceripper.memo.recall_encodings`)."""
    needs_landmarks = keep & (encode | settings.align)
    if not needs_landmarks.any():
        return faces
    rows = np.flatnonzero(needs_landmarks)

    def compute() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        part = encode_faces(
            image,
            faces.box_trbl[rows],
            landmark_model=settings.landmarks,
            jitters=1,
            encode=encode[rows],
            engine=settings.engine,
            device=settings.device,
        )
        return part.landmarks_xy, part.encodings

    boxes, wanted = faces.box_trbl[rows], encode[rows]
    found = memo.recall_encodings(frame, boxes, wanted, settings.landmarks, compute)
    landmarks = np.full((len(faces), *found[0].shape[1:]), np.nan)
    landmarks[rows] = found[0]
    encodings = np.full((len(faces), *found[1].shape[1:]), np.nan)
    encodings[rows] = found[1]  # NaN where not in ``encode``
    return faces.with_columns(landmarks_xy=landmarks, encodings=encodings)


def _distances(faces: Faces, references: References, result: SegmentResult) -> Faces:
    """The faces with the distances of the encoded ones to every identity
    (:attr:`References.n_identities`)."""
    rows = np.flatnonzero(faces.encoded)
    if not len(rows):
        return faces
    per_person = person_distances(
        face_distances(faces.encodings[rows], references.encodings),
        references.person,
        references.n_identities,
    )
    distances = np.full((len(faces), references.n_identities), np.nan)
    distances[rows] = per_person
    result.counts["encoded"] += len(rows)
    return faces.with_columns(distances=distances)


def _follow_settings(settings: RipSettings, references: References) -> FollowSettings:
    """What :func:`faceripper.follow.follow_lost` needs of the run."""
    return FollowSettings(
        min_size_px=settings.min_size_px,
        tolerance=settings.tolerance,
        ambiguity_gap=settings.ambiguity_gap,
        landmarks=settings.landmarks,
        engine=settings.engine,
        device=settings.device,
        encodings=references.encodings,
        person=references.person,
        n_identities=references.n_identities,
        n_people=references.n_people,
        align=settings.align,
        margin=settings.margin,
        size_px=settings.size_px,
        jpeg_quality=settings.jpeg_quality,
        blur_threshold=settings.blur_threshold,
        crop_floor=settings.crop_floor,
        dedupe=settings.dedupe,
    )


def _appearances(image: ImageRGB, boxes: BoxArray) -> npt.NDArray[np.float32]:
    """``(n, s, s)`` float32 the signature (:func:`faceripper.crops.signature`) of each
    box, NaN for a box with less than 2x2 pixels inside the image."""
    out = np.full((len(boxes), SIGNATURE_PX, SIGNATURE_PX), np.nan, dtype=np.float32)
    for i, (top, right, bottom, left) in enumerate(boxes.tolist()):
        region = image[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
        if region.shape[0] >= 2 and region.shape[1] >= 2:
            out[i] = signature(np.ascontiguousarray(region))
    return out


def _appearance_jumped(track: Track, appearance: npt.NDArray[np.float32] | None) -> bool:
    """Whether a face looks unlike its track's previous face (:data:`APPEARANCE_JUMP`)."""
    if appearance is None or not track.observations:
        return False
    previous = track.last.appearance
    if previous is None:
        return False
    return signature_distance(previous, appearance) > APPEARANCE_JUMP


def _detect(
    image: ImageRGB, frame: int, settings: RipSettings, state: _FrameState, result: SegmentResult
) -> BoxArray:
    """The frame's faces: over the whole frame, or only around the tracked faces.

    With tracks, the whole frame is searched once every ``settings.detect_every`` frames
    of video, after a cut, and whenever no face is tracked; in between only the regions
    around the tracked faces are (:func:`faceripper.detector.detect_around`), several
    times cheaper. A face that comes into view away from every tracked face is found at
    the next whole-frame search, at most ``detect_every - 1`` frames late. (With
    ``--every N`` for ``N >= detect_every``, every frame looked at is searched whole.)
    """
    active = state.tracker.tracked
    full = not settings.tracks or not active or frame - state.last_full >= settings.detect_every
    scale = settings.detection_scale()
    if full:
        state.last_full = frame
        result.counts["whole_frame_searches"] += 1
        return memo.recall(
            memo.HOG_FULL, frame, lambda: detect_faces_scaled(image, scale, model=settings.model)
        )
    last = np.array([t.last.box_trbl for t in active], dtype=np.int64)
    search = memo.region_search(memo.HOG_REGION, frame) if settings.model == "hog" else None
    return detect_around(image, last, scale, model=settings.model, search=search)
