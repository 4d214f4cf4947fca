"""The unit of work of ``rip``: one segment of one video, processed in a worker process.

A worker decodes its own frames (nothing but a few hundred timestamps travels to it),
and returns the faces to write as JPEG bytes with their manifest fields. It never
writes files and never prints: one process, the orchestrator, writes the dataset.

Per frame, cheapest test first: detect (on a frame shrunk as far as ``min_size`` allows),
drop faces under ``min_size``, score sharpness and skip blurry faces (unless blurry
crops are kept), encode the rest, match against the references.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.blur import sharpness
from faceripper.detector import detect_faces_batch_scaled, detect_faces_scaled, detection_scale
from faceripper.encoder import encode_faces, face_distances
from faceripper.geometry import BoxArray, box_sizes, expand_boxes
from faceripper.images import ImageRGB
from faceripper.matching import match_faces
from faceripper.models import DetectorModel, LandmarkModel
from faceripper.video import VideoError, VideoScan, iter_frames

#: Frames detected together by dlib's CNN detector (one GPU batch with a CUDA build).
CNN_BATCH_FRAMES = 8
#: ... unless the batch's frames hold more pixels than this (memory stays bounded for 8K).
CNN_BATCH_PIXELS = 16_000_000


@dataclass(frozen=True)
class RipSettings:
    """Everything that decides which crops a run writes (part of the resume check)."""

    tolerance: float = 0.325
    min_size_px: int = 100
    blur_threshold: float = 0.0
    save_blurry: bool = False
    model: DetectorModel = "hog"
    landmarks: LandmarkModel = "5"
    margin: float = 0.2
    ambiguity_gap: float = 0.04
    jpeg_quality: int = 95

    def detection_scale(self) -> float:
        """Factor frames are resized by before detection (see :func:`detection_scale`)."""
        return detection_scale(self.min_size_px)


@dataclass(frozen=True)
class References:
    """Reference encodings as a worker needs them.

    Attributes:
        encodings: ``(m, 128)`` float64.
        person: ``(m,)`` int64 index into the run's people.
        n_people: number of people.
    """

    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.int64]
    n_people: int


@dataclass(frozen=True)
class SegmentTask:
    """Frames ``[start, end)`` of one video."""

    sequence: int
    video_key: str
    path: Path
    scan: VideoScan
    start: int
    end: int


@dataclass
class FaceHit:
    """A face to write: where it was, whose it is, and its JPEG crop."""

    frame: int
    time_s: float
    face_index: int
    box_trbl: tuple[int, int, int, int]
    person: int
    distance: float
    sharpness: float
    status: str
    jpeg: bytes


@dataclass
class SegmentResult:
    """What a worker found in one segment."""

    sequence: int
    frames: int = 0
    hits: list[FaceHit] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[int] = field(default_factory=Counter)
    error: str = ""
    #: The video itself is broken (truncated, corrupt): rerunning will not help.
    decode_error: bool = False


_worker: dict[str, object] = {}


def init_worker(settings: RipSettings, references: References) -> None:
    """Executor initializer: keep the run's settings and references in this process."""
    _worker["settings"] = settings
    _worker["references"] = references


def crop_face(image: ImageRGB, box: BoxArray, margin: float) -> ImageRGB:
    """Cut a square crop around a face box, grown by ``margin`` of its size per side.

    The square is centred on the box, its side the box's larger side times
    ``1 + 2 * margin``, clipped to the image.
    """
    top, right, bottom, left = (int(v) for v in box)
    side = max(right - left, bottom - top)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = side * (0.5 + margin)
    square = np.array([[cy - half, cx + half, cy + half, cx - half]])
    t, r, b, lft = expand_boxes(np.rint(square).astype(np.int64), 0.0, image.shape)[0]
    return np.ascontiguousarray(image[t:b, lft:r])


def encode_jpeg(image: ImageRGB, quality: int) -> bytes:
    """JPEG bytes of an RGB image."""
    import cv2

    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def process_frame(
    image: ImageRGB,
    frame: int,
    time_s: float,
    settings: RipSettings,
    references: References,
    result: SegmentResult,
    boxes: BoxArray | None = None,
) -> None:
    """Find, filter, identify and crop the faces of one frame into ``result``.

    ``boxes`` are the frame's detections when they were found already (CNN batches).
    """
    if boxes is None:
        boxes = detect_faces_scaled(image, settings.detection_scale(), model=settings.model)
    if len(boxes) == 0:
        return
    boxes = boxes[np.lexsort((boxes[:, 0], boxes[:, 3]))]  # stable order: left, then top
    face_index = np.arange(len(boxes))
    result.counts["detected"] += len(boxes)
    large = box_sizes(boxes) >= settings.min_size_px
    result.counts["too_small"] += int((~large).sum())
    boxes, face_index = boxes[large], face_index[large]
    if len(boxes) == 0:
        return
    sharp = sharpness(image, boxes)
    blurry = (
        sharp < settings.blur_threshold
        if settings.blur_threshold > 0
        else np.zeros(len(boxes), dtype=bool)
    )
    encode = ~blurry | settings.save_blurry
    result.counts["blurry_skipped"] += int((blurry & ~encode).sum())
    if not encode.any():
        return
    boxes, face_index, sharp, blurry = (
        boxes[encode],
        face_index[encode],
        sharp[encode],
        blurry[encode],
    )
    faces = encode_faces(image, boxes, landmark_model=settings.landmarks, jitters=1)
    result.counts["encoded"] += len(faces)
    distances = face_distances(faces.encodings, references.encodings)
    matches = match_faces(
        distances,
        references.person,
        references.n_people,
        settings.tolerance,
        settings.ambiguity_gap,
    )
    for i in range(len(boxes)):
        if matches.ambiguous[i]:
            result.ambiguous[int(matches.nearest[i])] += 1
            continue
        person = int(matches.person[i])
        if person < 0:
            result.counts["unknown"] += 1
            continue
        crop = crop_face(image, boxes[i], settings.margin)
        result.hits.append(
            FaceHit(
                frame=frame,
                time_s=time_s,
                face_index=int(face_index[i]),
                box_trbl=tuple(int(v) for v in boxes[i]),  # type: ignore[arg-type]
                person=person,
                distance=float(matches.distance[i]),
                sharpness=float(sharp[i]),
                status="blurry" if blurry[i] else "saved",
                jpeg=encode_jpeg(crop, settings.jpeg_quality),
            )
        )


def process_segment(task: SegmentTask) -> SegmentResult:
    """Decode and process frames ``[task.start, task.end)`` of a video (in a worker)."""
    settings = _worker["settings"]
    references = _worker["references"]
    assert isinstance(settings, RipSettings) and isinstance(references, References)
    result = SegmentResult(task.sequence)
    batch: list[tuple[int, float, ImageRGB]] = []
    batch_size = CNN_BATCH_FRAMES if settings.model == "cnn" else 1
    try:
        for decoded in iter_frames(task.path, task.scan, task.start, task.end):
            batch.append((decoded.index, decoded.time_s, decoded.rgb()))
            pixels = sum(image.shape[0] * image.shape[1] for _, _, image in batch)
            if len(batch) >= batch_size or pixels >= CNN_BATCH_PIXELS:
                _process_batch(batch, settings, references, result)
                batch = []
        _process_batch(batch, settings, references, result)
        expected = task.end - task.start
        if task.scan.seekable and result.frames < expected:
            raise VideoError(
                f"{task.path}: frames {task.start}-{task.end}: only {result.frames} of "
                f"{expected} frames could be decoded (truncated or corrupt video)"
            )
    except VideoError as exc:
        result.error = str(exc)
        result.decode_error = True
    except Exception as exc:  # any other failure is this segment's, not the run's
        result.error = f"{task.path}: frames {task.start}-{task.end}: {type(exc).__name__}: {exc}"
    return result


def _process_batch(
    batch: list[tuple[int, float, ImageRGB]],
    settings: RipSettings,
    references: References,
    result: SegmentResult,
) -> None:
    if not batch:
        return
    if settings.model == "cnn":
        found = detect_faces_batch_scaled(
            [image for _, _, image in batch], settings.detection_scale()
        )
    else:
        found = [None] * len(batch)
    for (index, time_s, image), boxes in zip(batch, found, strict=True):
        process_frame(image, index, time_s, settings, references, result, boxes=boxes)
        result.frames += 1


def scan_task(path: Path) -> VideoScan | str:
    """Scan a video in a worker; a string is the error message."""
    from faceripper.video import scan_video

    try:
        return scan_video(path)
    except VideoError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"


def worker_pid() -> int:
    """The worker's process id (used by tests)."""
    return os.getpid()
