"""The frame stage of a segment: one frame's faces found, filtered, tracked, encoded and
cropped.

Cheapest test first: detect (on a frame shrunk as far as ``min_size`` allows, whole or
only around the tracked faces), drop faces under ``min_size``, follow the tracks HOG lost
(:mod:`faceripper.follow`), score sharpness and skip blurry faces (unless blurry crops are
kept), encode the faces their tracks need, measure their distances to the references,
crop. Identities are decided when the tracks end (:mod:`faceripper.worker.decisions`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper.blur import sharpness
from faceripper.crops import aligned_crop, box_crop, encode_jpeg, signature, signature_distance
from faceripper.detector import detect_around, detect_faces_scaled
from faceripper.encoder import encode_faces, face_distances
from faceripper.follow import FollowSettings, RecentFrame, follow_back, follow_lost, recent_frames
from faceripper.geometry import BoxArray, box_sizes
from faceripper.images import ImageRGB
from faceripper.matching import person_distances
from faceripper.pose import head_pose
from faceripper.tracks import APPEARANCE_JUMP, MEDIAN_SLACK, Observation, Track, Tracker, vote
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

    Identities are decided when the tracks end (:func:`finish_tracks`). ``boxes`` are
    the frame's detections when they were found already (CNN batches). Shot cuts are
    found by the caller (:func:`process_segment`), which gives each shot a new ``state``.
    """
    if boxes is None:
        boxes = _detect(image, frame, settings, state, result)
    boxes = boxes[np.lexsort((boxes[:, 0], boxes[:, 3]))]  # stable order: left, then top
    face_index = np.arange(len(boxes))
    result.counts["detected"] += len(boxes)
    large = box_sizes(boxes) >= settings.min_size_px
    result.counts["too_small"] += int((~large).sum())
    boxes, face_index = boxes[large], face_index[large]
    followed = np.zeros(len(boxes), dtype=bool)
    hog = boxes
    if settings.follows:
        lost = state.tracker.lost(boxes)
        if lost:
            extra = follow_lost(
                image,
                boxes,
                state.tracker.active,
                lost,
                _follow_settings(settings, references),
                result.counts,
            )
            boxes = np.concatenate([boxes, extra])
            face_index = np.concatenate([face_index, len(large) + np.arange(len(extra))])
            followed = np.concatenate([followed, np.ones(len(extra), dtype=bool)])
    tracks = state.tracker.assign(frame, boxes, face_index)
    if settings.follows:
        state.recent.append(
            RecentFrame(frame, time_s, image, hog, list(boxes), len(large) + int(followed.sum()))
        )
    if len(boxes) == 0:
        return
    sharp = sharpness(image, boxes)
    blurry = (
        sharp < settings.blur_threshold
        if settings.blur_threshold > 0
        else np.zeros(len(boxes), dtype=bool)
    )
    keep = ~blurry | settings.save_blurry
    result.counts["blurry_skipped"] += int((~keep).sum())
    appearance = [_appearance(image, box) for box in boxes]
    if settings.tracks:
        far = settings.tolerance + MEDIAN_SLACK  # beyond it, no track can be anyone's
        due = np.array([t.wants_encoding(frame, far) for t in tracks], dtype=bool)
        # A face that suddenly looks different may be another person: encode it now.
        due |= np.array([_appearance_jumped(t, a) for t, a in zip(tracks, appearance, strict=True)])
        # A blurry face is encoded only when its track has nothing better yet.
        due &= ~blurry | np.array([not t.votes and t.last_encoded < 0 for t in tracks])
    else:
        due = np.ones(len(boxes), dtype=bool)
    due &= ~followed  # a followed face never votes (:mod:`faceripper.follow`)
    encode = keep & due
    landmarks, distances, encoded_faces = _encode(
        image, boxes, keep, encode, settings, references, result
    )
    for i, track in enumerate(tracks):
        observation = Observation(
            frame=frame,
            time_s=time_s,
            face_index=int(face_index[i]),
            box_trbl=tuple(int(v) for v in boxes[i]),  # type: ignore[arg-type]
            sharpness=float(sharp[i]),
            blurry=bool(blurry[i]),
            distances=distances.get(i),
            encoding=encoded_faces.get(i),
            appearance=appearance[i],
            followed=bool(followed[i]),
            pose=head_pose(landmarks[i]),
        )
        if observation.distances is not None:
            track.last_encoded = frame
            person = vote(observation.distances, settings.tolerance, settings.ambiguity_gap)
            if person >= 0:
                track.votes[person] += 1
        if keep[i]:
            observation.jpeg, observation.signature = _crop(image, boxes[i], landmarks[i], settings)
        track.observations.append(observation)
    if settings.follows:
        follow_back(tracks, state.recent, _follow_settings(settings, references), result.counts)
    if not settings.tracks:
        state.tracker.cut()


def _encode(
    image: ImageRGB,
    boxes: BoxArray,
    keep: npt.NDArray[np.bool_],
    encode: npt.NDArray[np.bool_],
    settings: RipSettings,
    references: References,
    result: SegmentResult,
) -> tuple[
    npt.NDArray[np.float64], dict[int, npt.NDArray[np.float64]], dict[int, npt.NDArray[np.float64]]
]:
    """The landmarks of the kept faces that are encoded or aligned, the encodings of the
    kept faces in ``encode`` and their distances to every identity.

    Args:
        boxes: ``(n, 4)`` int64 ``(top, right, bottom, left)``, in ``image``'s pixels.
        keep, encode: ``(n,)`` bool masks over ``boxes``.

    Returns:
        ``(landmarks, distances, encodings)``: ``(n, k, 2)`` float64 ``(x, y)`` landmarks
        (zeros for the faces without; ``k`` 0 when no face has them); by row of
        ``boxes``, ``(n_identities,)`` float64 distances (:attr:`References.n_identities`)
        and ``(128,)`` float64 encodings of the encoded faces.
    """
    needs_landmarks = keep & (encode | settings.align)
    landmarks = np.zeros((len(boxes), 0, 2))
    distances: dict[int, npt.NDArray[np.float64]] = {}
    encoded_faces: dict[int, npt.NDArray[np.float64]] = {}
    if needs_landmarks.any():
        rows = np.flatnonzero(needs_landmarks)
        faces = encode_faces(
            image,
            boxes[rows],
            landmark_model=settings.landmarks,
            jitters=1,
            encode=encode[rows],
            engine=settings.engine,
            device=settings.device,
        )
        landmarks = np.zeros((len(boxes), faces.landmarks_xy.shape[1], 2))
        landmarks[rows] = faces.landmarks_xy
        encoded_rows = rows[encode[rows]]
        if len(encoded_rows):
            encodings = faces.encodings[encode[rows]]
            per_person = person_distances(
                face_distances(encodings, references.encodings),
                references.person,
                references.n_identities,
            )
            distances = dict(zip(encoded_rows.tolist(), per_person, strict=True))
            encoded_faces = dict(zip(encoded_rows.tolist(), encodings, strict=True))
            result.counts["encoded"] += len(encoded_rows)
    return landmarks, distances, encoded_faces


def _crop(
    image: ImageRGB,
    box: npt.NDArray[np.int64],
    landmarks: npt.NDArray[np.float64],
    settings: RipSettings,
) -> tuple[bytes, npt.NDArray[np.float32] | None]:
    """A face's crop as JPEG bytes, with its near-duplicate signature (None without
    ``settings.dedupe``): eye-level aligned with ``landmarks`` (``(k, 2)`` float64) when
    ``settings.align``, else the box with its margin."""
    if settings.align:
        crop = aligned_crop(image, box, landmarks, settings.margin, settings.size_px)
    else:
        crop = box_crop(image, box, settings.margin, settings.size_px)
    return encode_jpeg(crop, settings.jpeg_quality), signature(crop) if settings.dedupe else None


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
        save_blurry=settings.save_blurry,
        dedupe=settings.dedupe,
    )


def _appearance(image: ImageRGB, box: npt.NDArray[np.int64]) -> npt.NDArray[np.float32] | None:
    """The signature (:func:`faceripper.crops.signature`) of a face's box, None if empty."""
    top, right, bottom, left = (int(v) for v in box)
    region = image[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
    if region.shape[0] < 2 or region.shape[1] < 2:
        return None
    return signature(np.ascontiguousarray(region))


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
    active = state.tracker.active
    full = not settings.tracks or not active or frame - state.last_full >= settings.detect_every
    if full:
        state.last_full = frame
        result.counts["whole_frame_searches"] += 1
        return detect_faces_scaled(image, settings.detection_scale(), model=settings.model)
    last = np.array([t.last.box_trbl for t in active], dtype=np.int64)
    return detect_around(image, last, settings.detection_scale(), model=settings.model)
