"""Encoding the reference photos, and the ``.npz`` cache that keeps them.

Every reference photo is encoded once; the result is kept in a NumPy ``.npz`` file that
plain ``numpy.load(path)`` reads (no pickles: it is always read with
``allow_pickle=False``, so a cache file can never run code). Re-encoding happens only
for photos that are new or whose content changed; a change of settings (detector,
jitters, landmark model, upsampling, faceripper version) re-encodes everything. The keys
are documented in ``docs/encodings.md``.

Each encoding records the engine that computed it (``file_engine``; caches from before
engines were recorded hold dlib's). The engines agree within 1e-5, so any engine reuses
any cached encoding, and the encodings (and so a ``rip`` target's fingerprint) stay
what they were when the engine changes; only ``--engine dlib`` re-encodes the photos
that dlib itself did not encode, so that its numbers are dlib's bit for bit.

A photo's face is the one ``face_recognition.face_locations(image)`` finds (HOG,
upsampled once), the largest if several; its encoding equals
``face_recognition.face_encodings(image, [box])``. When that finds no face (a tight
face crop with no margin, which HOG's window needs), the searches of
:data:`FALLBACK_STEPS` are tried in turn; a face one of them finds is used only if its
landmarks look like a face (:func:`faceripper.detector.plausible_face`), and the photo
records which search found it (``found_by``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.config import Config, list_reference_files, reference_path
from faceripper.engines import prepare_engine, resolve_engine
from faceripper.errors import FaceripperError, ImageReadError, NotAnImageError
from faceripper.geometry import BoxArray, box_areas, clip_boxes, scale_boxes
from faceripper.images import ImageRGB, load_rgb
from faceripper.processes import init_worker_process, prepare_forked_workers, terminate_executor
from faceripper.refcache import (
    CACHE_FORMAT,
    CACHE_FORMAT_VERSION,
    FALLBACK_SIDE_PX,
    FALLBACK_STEPS,
    TIGHT_MAX_SIDE_PX,
    TIGHT_PAD,
    USABLE,
    EncodeSettings,
    FileResult,
    FileState,
    FileStatus,
    FindStep,
    StaleCacheError,
    TightCrops,
    default_cache_path,
    file_state,
    load_cache,
    reference_arrays,
    save_cache,
)

__all__ = [
    "CACHE_FORMAT",
    "CACHE_FORMAT_VERSION",
    "FALLBACK_SIDE_PX",
    "FALLBACK_STEPS",
    "TIGHT_PAD",
    "USABLE",
    "EncodeReport",
    "EncodeSettings",
    "FileResult",
    "FileState",
    "FileStatus",
    "FindStep",
    "ReferenceSet",
    "StaleCacheError",
    "default_cache_path",
    "detect_reference_faces",
    "encode_reference_face",
    "encode_reference_file",
    "encode_reference_view",
    "encode_references",
    "file_state",
    "find_reference_face",
    "load_cache",
    "save_cache",
]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

#: While photos are encoded, the cache is saved at most this often (seconds).
SAVE_EVERY_S = 2.0


@dataclass
class ReferenceSet:
    """The reference encodings of a config, one row per usable photo, plus every file's fate.

    Attributes:
        encodings: ``(n, 128)`` float64.
        person, label, group: ``(n,)`` str arrays, from the current config.
        source: ``(n,)`` str, the photo's absolute path.
        box_trbl: ``(n, 4)`` int64, the face used, in the photo's (EXIF-upright) pixels.
        views: ``(n, 128)`` float64, each photo's second view
            (:func:`encode_reference_view`); None: each is its own.
        files: every file found in the people's ``faces_dir``, usable or not.
    """

    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.str_]
    label: npt.NDArray[np.str_]
    group: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    box_trbl: npt.NDArray[np.int64]
    views: npt.NDArray[np.float64] | None = None
    files: list[FileResult] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.encodings)


@dataclass
class EncodeReport:
    """What an :func:`encode_references` call did."""

    references: ReferenceSet
    cache_path: Path
    encoded: int = 0
    reused: int = 0
    dropped: int = 0
    rebuilt_reason: str = ""


#: Reference photos are searched for faces on a copy at most this many pixels on its
#: long side (then upsampled as usual); the face found is mapped back and encoded from
#: the full photo. A photo up to this size is searched as it is, so its encoding is
#: face_recognition's. An 8000x8000 photo searched whole took 32 s and 3.1 GB.
MAX_DETECTION_SIDE_PX = 2000


def detect_reference_faces(image: ImageRGB, settings: EncodeSettings) -> BoxArray:
    """The face boxes of a reference photo ``(h, w, 3)`` RGB uint8, in its pixels.

    A photo larger than :data:`MAX_DETECTION_SIDE_PX` is searched on a shrunk copy and
    the boxes mapped back, so time and memory stay bounded whatever its size.
    """
    from faceripper.detector import detect_faces, detect_faces_scaled
    from faceripper.models import get_models

    get_models().configure_cnn(settings.engine, settings.device)  # --model cnn's engine
    side = max(image.shape[:2])
    if side <= MAX_DETECTION_SIDE_PX:
        return detect_faces(image, model=settings.detector, upsample=settings.upsample)
    return detect_faces_scaled(
        image, MAX_DETECTION_SIDE_PX / side, model=settings.detector, upsample=settings.upsample
    )


def find_reference_face(
    image: ImageRGB, settings: EncodeSettings
) -> tuple[ImageRGB, BoxArray, int, float, str]:
    """The face of a reference photo: the detector's own search, then the fallbacks.

    Returns:
        ``(searched, boxes, pad_px, scale, found_by)``: the image the faces were found
        in (the photo; for a fallback, a copy resized by ``scale`` and padded by
        ``pad_px`` on every side), its ``(n, 4)`` boxes (none found: empty; a box in
        the photo's pixels is ``(box - pad_px) / scale``), and the :class:`FindStep`
        name that found them (``""``: the detector's own search, as
        ``face_recognition.face_locations`` does it). A fallback's largest face counts
        only when its landmarks look like a face.
    """
    from faceripper.detector import (
        detect_faces,
        pad_for_detection,
        plausible_face,
        resize_for_detection,
    )
    from faceripper.encoder import face_landmarks

    boxes = detect_reference_faces(image, settings)
    if len(boxes):
        return image, boxes, 0, 1.0, ""
    # A face filling a large photo is large: search (and encode: dlib encodes a 150 px
    # chip of the face) a copy at most FALLBACK_SIDE_PX long, so time and memory stay small.
    scale = min(1.0, FALLBACK_SIDE_PX / max(image.shape[:2]))
    small = resize_for_detection(image, scale)
    scale = small.shape[0] / image.shape[0]
    for step in FALLBACK_STEPS:
        searched, pad = pad_for_detection(small, step.pad) if step.pad else (small, 0)
        boxes = detect_faces(searched, model=settings.detector, upsample=step.upsample)
        if len(boxes) == 0:
            continue
        largest = boxes[int(np.argmax(box_areas(boxes)))]
        points = face_landmarks(searched, largest[None], settings.landmarks)[0]
        inside = points - pad  # the landmarks must lie on the photo, not on the padding
        if plausible_face(inside, largest - pad, small.shape) == "":
            return searched, boxes, pad, scale, step.name
    return image, np.zeros((0, 4), dtype=np.int64), 0, 1.0, ""


def encode_reference_file(
    path: Path, person: str, settings: EncodeSettings, state: FileState | None = None
) -> FileResult:
    """Detect and encode the face of one reference photo (the largest, if several).

    The face is searched as :func:`find_reference_face` does and encoded as
    :func:`encode_reference_face` does; a face a fallback found is encoded in the copy
    it was found in, without the search's padding (its box is stored in the photo's
    pixels, clipped to the photo).
    """
    try:
        image = load_rgb(path)
    except ImageReadError as exc:
        status: FileStatus = "not_image" if isinstance(exc, NotAnImageError) else "unreadable"
        return FileResult(path, person, status, message=str(exc), state=state)
    searched, boxes, pad, scale, found_by = find_reference_face(image, settings)
    if len(boxes) == 0:
        return FileResult(path, person, "no_face", message=f"{path}: no face found", state=state)
    largest = int(np.argmax(box_areas(boxes)))
    box = boxes[largest : largest + 1]
    # A fallback's face is encoded in the copy it was searched in, less the search's padding.
    unpadded = searched[pad : searched.shape[0] - pad, pad : searched.shape[1] - pad]
    unpadded = np.ascontiguousarray(unpadded)
    encoding = encode_reference_face(unpadded, box - pad, settings)
    view = encode_reference_view(unpadded, box - pad, settings)
    several = len(boxes) > 1
    return FileResult(
        path,
        person,
        "several_faces" if several else "ok",
        faces=len(boxes),
        message=f"{path}: {len(boxes)} faces, using the largest" if several else "",
        encoding=encoding,
        box_trbl=tuple(int(v) for v in _photo_box(box - pad, scale, image.shape)),  # type: ignore[arg-type]
        state=state,
        engine="dlib" if settings.jitters > 1 else resolve_engine(settings.engine, settings.device),
        found_by=found_by,
        view=view,
    )


def encode_reference_face(
    image: ImageRGB, box: BoxArray, settings: EncodeSettings
) -> npt.NDArray[np.float64]:
    """The ``(128,)`` float64 encoding of the face ``box`` ``(1, 4)`` of a photo ``(h, w, 3)``.

    When the face's chip (the 150 px square around its landmarks that the network sees)
    lies inside the photo, this is ``face_recognition.face_encodings(image, box)``: every
    ordinary photo. When it reaches beyond the photo (a tight face crop), dlib would fill
    the part outside with black; instead the face is encoded in a copy of its
    surroundings mirrored outward at the photo's edges by :data:`TIGHT_PAD` of the
    copy's side (landmarks found again there), and that encoding is averaged with the
    mirror image's. Measured on tight crops of 238 LFW photos
    (``benchmarks/tight_encoding.py``, docs/encode.md): pairs with the person's other
    photos within 0.4 went from 0.32 to 0.38 of them (the whole photos: 0.36), pairs
    with other people within 0.6 from 0.0047 to 0.0051 (whole photos: 0.0045).
    ``settings.tight_crops == "black"`` (``--tight-crops black``) encodes it as dlib's
    chip is, as face_recognition does.
    """
    from faceripper.encoder import chip_overhangs, encode_faces

    def encode(pixels: ImageRGB, where: BoxArray) -> npt.NDArray[np.float64]:
        return encode_faces(
            pixels,
            where,
            landmark_model=settings.landmarks,
            jitters=settings.jitters,
            engine=settings.engine,
            device=settings.device,
        ).encodings[0]

    overhang = float(chip_overhangs(image, box, settings.landmarks)[0])
    if overhang <= 0 or settings.tight_crops == "black":
        return encode(image, box)
    canvas, where = _mirrored_surroundings(image, box[0], overhang)
    flipped = np.ascontiguousarray(canvas[:, ::-1])
    top, right, bottom, left = where
    width = canvas.shape[1]
    mirrored = np.array([[top, width - 1 - left, bottom, width - 1 - right]])
    return (encode(canvas, where[None]) + encode(flipped, mirrored)) / 2


def encode_reference_view(
    image: ImageRGB, box: BoxArray, settings: EncodeSettings
) -> npt.NDArray[np.float64]:
    """The ``(128,)`` float64 second view of a reference face ``box`` ``(1, 4)`` of a
    photo ``(h, w, 3)``: the same face encoded the other way. A face whose chip lies
    inside the photo is cut out to its box and encoded as a tight crop is
    (:func:`encode_reference_face`, ``--tight-crops mirrored``); a face whose chip reaches
    beyond the photo (a tight crop) with the other ``--tight-crops`` method.

    Not a reference: without an anchor of a person in a video, the near rule
    (:data:`faceripper.adaptive.VIEW_DISTANCE`) asks a track's face to lie near both a
    photo's encoding and its view; a look-alike whom one encoding puts near the photo
    (by its surroundings, or a tight crop's fill) rarely stays near the other
    (docs/quality.md, "Two views of the reference").
    """
    from faceripper.encoder import chip_overhangs

    if float(chip_overhangs(image, box, settings.landmarks)[0]) > 0:
        other: TightCrops = "black" if settings.tight_crops == "mirrored" else "mirrored"
        return encode_reference_face(image, box, replace(settings, tight_crops=other))
    top, right, bottom, left = (int(v) for v in clip_boxes(box, image.shape)[0])
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    inside = np.array([[0, right - left, bottom - top, 0]], dtype=np.int64)
    return encode_reference_face(crop, inside, replace(settings, tight_crops="mirrored"))


def _mirrored_surroundings(
    image: ImageRGB, box: npt.NDArray[np.int64], overhang: float
) -> tuple[ImageRGB, npt.NDArray[np.int64]]:
    """The face's surroundings (the box enlarged by its side each way, within the photo),
    mirrored outward by :data:`TIGHT_PAD` of their side (at least ``overhang`` px), and
    the ``(4,)`` box in that copy."""
    import math

    from faceripper.detector import resize_for_detection

    top, right, bottom, left = (int(v) for v in box)
    side = max(bottom - top, right - left, 1)
    height, width = image.shape[:2]
    y0, x0 = max(top - side, 0), max(left - side, 0)
    region = image[y0 : min(bottom + side, height), x0 : min(right + side, width)]
    where = np.array([top - y0, right - x0, bottom - y0, left - x0], dtype=np.float64)
    scale = min(1.0, TIGHT_MAX_SIDE_PX / max(region.shape[:2]))
    if scale < 1.0:
        region = resize_for_detection(np.ascontiguousarray(region), scale)
        where *= region.shape[0] / (min(bottom + side, height) - y0)
        overhang *= scale
    pad = max(round(TIGHT_PAD * max(region.shape[:2])), math.ceil(overhang) + 1)
    canvas = np.pad(region, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(canvas), np.round(where + pad).astype(np.int64)


def _photo_box(box: BoxArray, scale: float, shape: tuple[int, ...]) -> npt.NDArray[np.int64]:
    """A ``(1, 4)`` box of a copy resized by ``scale``, as ``(4,)`` in the photo's pixels."""
    if scale != 1.0:
        box = scale_boxes(box, 1 / scale, 1 / scale)
    return clip_boxes(box, shape)[0]


EncodeTask = tuple[Path, str, EncodeSettings, FileState]


def _encode_task(args: EncodeTask) -> FileResult:
    path, person = args[0], args[1]
    try:
        return encode_reference_file(*args)
    except MemoryError:
        message = f"{path}: out of memory while encoding this photo; skipped"
    except Exception as exc:  # one photo's failure is that photo's, not the run's
        message = f"{path}: {type(exc).__name__}: {exc}; skipped"
    return FileResult(path, person, "unreadable", message=message, state=None)


def _crashed(args: EncodeTask) -> FileResult:
    """The result of a photo whose worker process died twice (the OOM killer, a crash).

    It has no file state, so the next run tries it again.
    """
    path, person = args[0], args[1]
    message = f"{path}: the worker process died while encoding this photo (out of memory?); skipped"
    return FileResult(path, person, "unreadable", message=message, state=None)


def _encode_in_processes(
    todo: Sequence[EncodeTask], threads: int, finished: Callable[[FileResult], None]
) -> None:
    """Encode ``todo`` in ``threads`` worker processes, calling ``finished`` per photo.

    At most ``threads`` photos are in flight, so a worker that dies (the OOM killer on
    a huge photo) loses only those: they are encoded again one at a time, and the one
    that kills its worker again gets a :func:`_crashed` result. Ctrl-C or any error
    stops the workers at once.
    """
    queue = deque(todo)
    suspects: deque[EncodeTask] = deque()
    while queue or suspects:
        alone = bool(suspects)
        source = suspects if alone else queue
        width = 1 if alone else min(threads, len(queue))
        pool = _executor(width, todo[0][2].detector)
        in_flight: dict[Future[FileResult], EncodeTask] = {}
        lost: list[EncodeTask] = []
        try:
            while (source or in_flight) and not lost:
                while source and len(in_flight) < width:
                    args = source.popleft()
                    in_flight[pool.submit(_encode_task, args)] = args
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    args = in_flight.pop(future)
                    if future.exception() is None:
                        finished(future.result())
                    else:
                        lost.append(args)  # the pool broke: a worker died
            for future, args in in_flight.items():
                if future.done() and future.exception() is None:
                    finished(future.result())
                else:
                    lost.append(args)
        except BaseException:
            terminate_executor(pool)
            raise
        pool.shutdown(wait=True)
        if alone:
            for args in lost:
                finished(_crashed(args))
        elif lost:
            log.warning("a worker process died; encoding its photos again one at a time")
            suspects.extend(lost)


# ---------------------------------------------------------------------------- encoding


def _executor(threads: int, detector: str) -> Executor:
    prepare_forked_workers(detector)
    return ProcessPoolExecutor(max_workers=threads, initializer=init_worker_process)


def encode_references(
    config: Config,
    cache_path: Path | None = None,
    settings: EncodeSettings | None = None,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    force: bool = False,
) -> EncodeReport:
    """Encode every reference photo of ``config``, reusing the cache where it is current.

    Args:
        config: the people and their reference folders.
        cache_path: the ``.npz`` cache (default :func:`default_cache_path`).
        settings: detector, jitters and landmark model of the encodings.
        threads: worker processes for the photos to encode (1: in this process).
        progress: called as ``progress(done, total)`` while photos are encoded.
        force: encode every photo again, whatever the cache holds (a photo whose
            content changed without a change of size or modification time is not
            noticed otherwise).

    Returns:
        An :class:`EncodeReport`; its ``references`` hold one row per usable photo, in
        config order, then file order.
    """
    settings = settings or EncodeSettings()
    settings = replace(
        settings,
        engine=prepare_engine(settings.engine, settings.device, cnn=settings.detector == "cnn"),
    )
    cache_path = cache_path or default_cache_path(config)
    report = EncodeReport(references=_empty_set(), cache_path=cache_path)
    try:
        cached = {} if force else load_cache(cache_path, settings)
    except StaleCacheError as exc:
        cached = {}
        if cache_path.exists():
            report.rebuilt_reason = str(exc)
            log.info("%s: rebuilding the encodings cache: %s", cache_path, exc)

    wanted: list[tuple[Path, str]] = []
    for entry in config:
        images, others = list_reference_files(entry.faces_dir)
        wanted += [(reference_path(p), entry.name) for p in images + others]
    results, todo, refreshed = _reuse_cached(wanted, cached, settings)

    report.reused = len(results)
    report.dropped = len(set(cached) - {(str(p), n) for p, n in wanted})
    total = len(todo)
    if progress:
        progress(0, total)
    labels = {p.name: (p.label, p.group) for p in config}

    def save() -> None:
        done = [results[(str(p), n)] for p, n in wanted if (str(p), n) in results]
        _save(cache_path, done, settings, labels)

    # The cache is saved as photos complete (at most every SAVE_EVERY_S), so that a
    # killed or interrupted run keeps the encodings done so far.
    last_save = time.monotonic()
    completed = 0

    def finished(result: FileResult) -> None:
        nonlocal completed, last_save
        results[(str(result.path), result.person)] = result
        completed += 1
        if progress:
            progress(completed, total)
        if time.monotonic() - last_save >= SAVE_EVERY_S and completed < total:
            save()
            last_save = time.monotonic()

    if todo:
        try:
            if threads > 1 and total > 1:
                _encode_in_processes(todo, threads, finished)
            else:
                for args in todo:
                    finished(_encode_task(args))
        except BaseException:
            if completed:
                with contextlib.suppress(FaceripperError):
                    save()
            raise
    report.encoded = total

    ordered = [results[(str(p), n)] for p, n in wanted]
    if (
        report.encoded
        or report.dropped
        or refreshed
        or report.rebuilt_reason
        or not cache_path.exists()
    ):
        save()
    report.references = _reference_set(ordered, labels)
    return report


def _reuse_cached(
    wanted: Sequence[tuple[Path, str]],
    cached: dict[tuple[str, str], FileResult],
    settings: EncodeSettings,
) -> tuple[dict[tuple[str, str], FileResult], list[EncodeTask], int]:
    """Split the ``(photo, person)`` pairs into results the cache (or a failed ``stat``)
    already gives, keyed by ``(path, person)``, and the photos to encode.

    A cached result is reused when the photo's size and modification time are unchanged,
    or its content (SHA-256) is: the third value counts those (refreshed), whose new
    state must be saved so that they are hashed only once.
    """
    results: dict[tuple[str, str], FileResult] = {}
    todo: list[EncodeTask] = []
    refreshed = 0  # unchanged content under a new mtime: store it so it is hashed once
    for path, person in wanted:
        key = (str(path), person)
        try:
            stat = path.stat()
        except OSError as exc:
            results[key] = FileResult(path, person, "unreadable", message=f"{path}: {exc.strerror}")
            continue
        old = cached.get(key)
        if old and settings.engine == "dlib" and old.usable and old.engine != "dlib":
            old = None  # --engine dlib: only dlib's own numbers, bit for bit
        if (
            old
            and old.state
            and (old.state.size, old.state.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
        ):
            results[key] = old
            continue
        try:
            state = file_state(path)
        except OSError as exc:
            results[key] = FileResult(path, person, "unreadable", message=f"{path}: {exc.strerror}")
            continue
        if old and old.state and old.state.sha256 == state.sha256:
            old.state = state
            results[key] = old
            refreshed += 1
            continue
        todo.append((path, person, settings, state))
    return results, todo, refreshed


def _save(
    cache_path: Path,
    results: Sequence[FileResult],
    settings: EncodeSettings,
    labels: dict[str, tuple[str, str]],
) -> None:
    """:func:`save_cache`, its failure turned into a one-line error with a way out."""
    try:
        save_cache(cache_path, results, settings, labels)
    except OSError as exc:
        hint = ""
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            hint = "; put it elsewhere with --cache (rip) or --output (encode, check-refs)"
        raise FaceripperError(
            f"{cache_path}: cannot write the encodings cache ({exc.strerror or exc}){hint}"
        ) from None


def _empty_set() -> ReferenceSet:
    return _reference_set([], {})


def _reference_set(
    results: Sequence[FileResult], labels: dict[str, tuple[str, str]]
) -> ReferenceSet:
    return ReferenceSet(**reference_arrays(results, labels), files=list(results))
