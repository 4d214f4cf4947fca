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
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from faceripper._version import __version__
from faceripper.config import Config, list_reference_files
from faceripper.engines import prepare_engine, resolve_engine
from faceripper.errors import FaceripperError, ImageReadError, UsageError
from faceripper.fileio import atomic_writer
from faceripper.geometry import BoxArray, box_areas, clip_boxes, scale_boxes
from faceripper.images import ImageRGB, load_rgb
from faceripper.models import DetectorModel, Device, EncoderEngine, LandmarkModel
from faceripper.processes import init_worker_process, terminate_executor

log = logging.getLogger(__name__)

CACHE_FORMAT = "faceripper-reference-encodings"
CACHE_FORMAT_VERSION = 1

FileStatus = Literal["ok", "several_faces", "no_face", "unreadable", "not_image"]


@dataclass(frozen=True)
class FindStep:
    """One more search for the face of a reference photo in which none was found.

    Attributes:
        name: how ``encode`` and ``check-refs`` report it.
        pad: the photo is padded by this fraction of its longer side on every side first
            (:func:`faceripper.detector.pad_for_detection`); 0: not padded.
        upsample: times the (padded) photo is doubled for the detector.
    """

    name: str
    pad: float
    upsample: int


#: Fallback searches look at a copy of the photo at most this many pixels long (a face
#: that fills the photo is then still about 250 px, far over HOG's smallest face).
FALLBACK_SIDE_PX = 500
#: The searches tried, in order, after the detector's own (upsample 1) found no face in
#: a reference photo. Measured on tight crops of the 298 test photos with a face (LFW,
#: openface, face_recognition; docs/encode.md): cut to the face box, HOG at upsample 1
#: finds no face in 22, these steps leave 3; cut 10% inside the box, 28 and 7.
FALLBACK_STEPS: tuple[FindStep, ...] = (
    FindStep("upsample 0", 0.0, 0),
    FindStep("padded 50%, upsample 1", 0.5, 1),
    FindStep("padded 50%, upsample 0", 0.5, 0),
    FindStep("padded 25%, upsample 1", 0.25, 1),
    FindStep("padded 25%, upsample 0", 0.25, 0),
)
USABLE: frozenset[str] = frozenset({"ok", "several_faces"})

ProgressCallback = Callable[[int, int], None]

#: While photos are encoded, the cache is saved at most this often (seconds).
SAVE_EVERY_S = 2.0


@dataclass(frozen=True)
class EncodeSettings:
    """Everything besides a photo's bytes that decides its encoding."""

    detector: DetectorModel = "hog"
    jitters: int = 1
    landmarks: LandmarkModel = "5"
    upsample: int = 1
    #: Where the network runs (:mod:`faceripper.engines`); not part of the cache key
    #: (see :func:`load_cache`).
    engine: EncoderEngine = "auto"
    device: Device = "cpu"

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn"):
            raise UsageError(f"unknown detector model {self.detector!r}: use hog or cnn")
        if self.landmarks not in ("5", "68"):
            raise UsageError(f"unknown landmark model {self.landmarks!r}: use 5 or 68")
        if self.jitters < 0:
            raise UsageError(f"--jitters must be 0 or more, got {self.jitters}")
        # dlib treats 0 and 1 alike (one pass, no jitter): store one value for both so
        # that `rip` (v1 default 0) and `encode` (default 1) share the cache.
        object.__setattr__(self, "jitters", max(1, self.jitters))


@dataclass(frozen=True)
class FileState:
    """What identifies a file's content: size, modification time and SHA-256."""

    size: int
    mtime_ns: int
    sha256: str


@dataclass
class FileResult:
    """The outcome of encoding one reference photo."""

    path: Path
    person: str
    status: FileStatus
    faces: int = 0
    message: str = ""
    encoding: npt.NDArray[np.float64] | None = None
    box_trbl: tuple[int, int, int, int] | None = None
    state: FileState | None = None
    #: The engine that computed ``encoding`` (``dlib``, ``onnxruntime``, ``opencv``).
    engine: str = "dlib"
    #: The search that found the face: ``""`` the detector's own, else the
    #: :attr:`FindStep.name` of a fallback (:data:`FALLBACK_STEPS`).
    found_by: str = ""

    @property
    def usable(self) -> bool:
        """Whether the photo gave an encoding."""
        return self.status in USABLE


@dataclass
class ReferenceSet:
    """The reference encodings of a config, one row per usable photo, plus every file's fate.

    Attributes:
        encodings: ``(n, 128)`` float64.
        person, label, group: ``(n,)`` str arrays, from the current config.
        source: ``(n,)`` str, the photo's absolute path.
        box_trbl: ``(n, 4)`` int64, the face used, in the photo's (EXIF-upright) pixels.
        files: every file found in the people's ``faces_dir``, usable or not.
    """

    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.str_]
    label: npt.NDArray[np.str_]
    group: npt.NDArray[np.str_]
    source: npt.NDArray[np.str_]
    box_trbl: npt.NDArray[np.int64]
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


def file_state(path: Path) -> FileState:
    """Size, mtime and SHA-256 of a file."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return FileState(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


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

    The face is searched as :func:`find_reference_face` does; a face a fallback found
    is encoded in the copy it was found in (its box is stored in the photo's pixels,
    clipped to the photo).
    """
    from faceripper.encoder import encode_faces

    try:
        image = load_rgb(path)
    except ImageReadError as exc:
        status: FileStatus = "not_image" if "not an image" in str(exc) else "unreadable"
        return FileResult(path, person, status, message=str(exc), state=state)
    searched, boxes, pad, scale, found_by = find_reference_face(image, settings)
    if len(boxes) == 0:
        return FileResult(path, person, "no_face", message=f"{path}: no face found", state=state)
    largest = int(np.argmax(box_areas(boxes)))
    box = boxes[largest : largest + 1]
    faces = encode_faces(
        searched,
        box,
        landmark_model=settings.landmarks,
        jitters=settings.jitters,
        engine=settings.engine,
        device=settings.device,
    )
    several = len(boxes) > 1
    return FileResult(
        path,
        person,
        "several_faces" if several else "ok",
        faces=len(boxes),
        message=f"{path}: {len(boxes)} faces, using the largest" if several else "",
        encoding=faces.encodings[0],
        box_trbl=tuple(int(v) for v in _photo_box(box - pad, scale, image.shape)),  # type: ignore[arg-type]
        state=state,
        engine="dlib" if settings.jitters > 1 else resolve_engine(settings.engine, settings.device),
        found_by=found_by,
    )


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
        pool = _executor(width)
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


# ---------------------------------------------------------------------------- cache file


def _settings_arrays(settings: EncodeSettings) -> dict[str, npt.NDArray]:
    return {
        "format": np.array(CACHE_FORMAT),
        "format_version": np.array(CACHE_FORMAT_VERSION),
        "faceripper_version": np.array(__version__),
        "detector": np.array(settings.detector),
        "jitters": np.array(settings.jitters),
        "landmarks": np.array(settings.landmarks),
        "upsample": np.array(settings.upsample),
        "fallback": np.array(_fallback_text()),
    }


def _fallback_text() -> str:
    """The fallback searches as the cache records them (a change re-encodes all)."""
    return "; ".join(f"pad {s.pad:g} upsample {s.upsample}" for s in FALLBACK_STEPS)


def _str_array(values: Sequence[str]) -> npt.NDArray[np.str_]:
    return np.array(list(values), dtype=np.str_) if values else np.zeros(0, dtype="<U1")


def save_cache(
    path: Path,
    results: Sequence[FileResult],
    settings: EncodeSettings,
    labels: dict[str, tuple[str, str]],
) -> None:
    """Write the cache atomically (temporary file in the same folder, then rename).

    ``labels`` maps each person to ``(label, group)`` for the row columns.
    """
    usable = [r for r in results if r.usable]
    arrays = _settings_arrays(settings)
    arrays.update(
        encodings=np.array([r.encoding for r in usable], dtype=np.float64).reshape(-1, 128),
        person=_str_array([r.person for r in usable]),
        label=_str_array([labels[r.person][0] for r in usable]),
        group=_str_array([labels[r.person][1] for r in usable]),
        source=_str_array([str(r.path) for r in usable]),
        box_trbl=np.array([r.box_trbl for r in usable], dtype=np.int64).reshape(-1, 4),
        file_path=_str_array([str(r.path) for r in results]),
        file_person=_str_array([r.person for r in results]),
        file_status=_str_array([r.status for r in results]),
        file_faces=np.array([r.faces for r in results], dtype=np.int64),
        file_message=_str_array([r.message for r in results]),
        file_size=np.array([r.state.size if r.state else -1 for r in results], dtype=np.int64),
        file_mtime_ns=np.array(
            [r.state.mtime_ns if r.state else -1 for r in results], dtype=np.int64
        ),
        file_sha256=_str_array([r.state.sha256 if r.state else "" for r in results]),
        file_engine=_str_array([r.engine for r in results]),
        file_found_by=_str_array([r.found_by for r in results]),
    )
    with atomic_writer(path) as stream:
        np.savez(stream, **arrays)  # type: ignore[arg-type]


class StaleCacheError(Exception):
    """The cache cannot be used as it is; the message says why."""


def load_cache(path: Path, settings: EncodeSettings) -> dict[tuple[str, str], FileResult]:
    """Read a cache written with the same settings: results keyed by ``(path, person)``.

    Raises:
        StaleCacheError: the file is missing, corrupt, foreign, or made with other settings.
    """
    if not path.exists():
        raise StaleCacheError("no cache yet")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:  # numpy raises many types for a damaged zip
        # numpy's messages advise allow_pickle=True, which would let the file run code.
        if "Object arrays" in str(exc):
            raise StaleCacheError(f"{path}: holds pickled arrays, never loaded") from exc
        if "allow_pickle" in str(exc):
            raise StaleCacheError(f"{path}: not a .npz file") from exc
        raise StaleCacheError(f"{path}: unreadable cache ({type(exc).__name__}: {exc})") from exc
    try:
        if str(arrays["format"]) != CACHE_FORMAT:
            raise StaleCacheError(f"{path}: not a faceripper encodings cache")
        # A cache from before a setting was recorded was made without it ("none").
        stored = {k: str(arrays[k]) if k in arrays else "none" for k in _settings_arrays(settings)}
        wanted = {k: str(v) for k, v in _settings_arrays(settings).items()}
        changed = [k for k in wanted if stored[k] != wanted[k]]
        if changed:
            what = ", ".join(f"{k} {stored[k]} -> {wanted[k]}" for k in changed)
            raise StaleCacheError(f"settings changed ({what})")
        encodings = arrays["encodings"]
        if encodings.ndim != 2 or encodings.shape[1] != 128 or encodings.dtype != np.float64:
            raise StaleCacheError(f"{path}: encodings have shape {encodings.shape}")
        if not np.all(np.isfinite(encodings)):
            raise StaleCacheError(f"{path}: encodings hold non-finite values")
        rows = {
            (str(s), str(p)): (e, tuple(int(v) for v in b))
            for s, p, e, b in zip(
                arrays["source"], arrays["person"], encodings, arrays["box_trbl"], strict=True
            )
        }
        results: dict[tuple[str, str], FileResult] = {}
        columns = zip(
            arrays["file_path"],
            arrays["file_person"],
            arrays["file_status"],
            arrays["file_faces"],
            arrays["file_message"],
            arrays["file_size"],
            arrays["file_mtime_ns"],
            arrays["file_sha256"],
            # Caches written before engines were recorded hold dlib's encodings.
            arrays["file_engine"]
            if "file_engine" in arrays
            else ["dlib"] * len(arrays["file_path"]),
            arrays["file_found_by"],
            strict=True,
        )
        for fpath, person, status, faces, message, size, mtime, sha, engine, found in columns:
            key = (str(fpath), str(person))
            result = FileResult(
                Path(str(fpath)),
                str(person),
                str(status),  # type: ignore[arg-type]
                int(faces),
                str(message),
                state=FileState(int(size), int(mtime), str(sha)),
                engine=str(engine),
                found_by=str(found),
            )
            if result.usable:
                if key not in rows:
                    raise StaleCacheError(f"{path}: file {fpath} has no encoding row")
                result.encoding, result.box_trbl = rows[key]  # type: ignore[assignment]
            results[key] = result
        return results
    except StaleCacheError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise StaleCacheError(f"{path}: not a valid faceripper encodings cache ({exc})") from exc


# ---------------------------------------------------------------------------- encoding


def default_cache_path(config: Config) -> Path:
    """Where the cache of a config lives unless ``-o`` says otherwise.

    ``config.json`` -> ``config.encodings.npz`` beside it; for ``--refs DIR``,
    ``DIR/.faceripper-encodings.npz`` (hidden, so never taken for a person folder).
    """
    if config.source.is_dir():
        return config.source / ".faceripper-encodings.npz"
    return config.source.with_name(config.source.stem + ".encodings.npz")


def _executor(threads: int) -> Executor:
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
        wanted += [(p.resolve(), entry.name) for p in images + others]

    results: dict[tuple[str, str], FileResult] = {}
    todo: list[tuple[Path, str, EncodeSettings, FileState]] = []
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

    report.reused = len(results)
    report.dropped = len(set(cached) - {(str(p), n) for p, n in wanted})
    total = len(todo)
    if progress:
        progress(0, total)
    labels = {p.name: (p.label, p.group) for p in config}

    def save() -> None:
        done = [results[(str(p), n)] for p, n in wanted if (str(p), n) in results]
        try:
            save_cache(cache_path, done, settings, labels)
        except OSError as exc:
            hint = ""
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                hint = "; put it elsewhere with --cache (rip) or --output (encode, check-refs)"
            raise FaceripperError(
                f"{cache_path}: cannot write the encodings cache ({exc.strerror or exc}){hint}"
            ) from None

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


def _empty_set() -> ReferenceSet:
    return _reference_set([], {})


def _reference_set(
    results: Sequence[FileResult], labels: dict[str, tuple[str, str]]
) -> ReferenceSet:
    usable = [r for r in results if r.usable]
    return ReferenceSet(
        encodings=np.array([r.encoding for r in usable], dtype=np.float64).reshape(-1, 128),
        person=_str_array([r.person for r in usable]),
        label=_str_array([labels[r.person][0] for r in usable]),
        group=_str_array([labels[r.person][1] for r in usable]),
        source=_str_array([str(r.path) for r in usable]),
        box_trbl=np.array([r.box_trbl for r in usable], dtype=np.int64).reshape(-1, 4),
        files=list(results),
    )
