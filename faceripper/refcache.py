"""What encoding a reference photo gives, what decides it, and the ``.npz`` cache keeping it.

A photo's :class:`FileResult` (its status, encoding, face box) depends on its bytes
(:class:`FileState`), the :class:`EncodeSettings` and the fallback searches
(:data:`FALLBACK_STEPS`); the cache (:func:`save_cache`, :func:`load_cache`) is keyed by
all of them, so a change of any re-encodes. Its keys are documented in
``docs/encodings.md``; it is read with ``allow_pickle=False``, so it can never run code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from faceripper._version import __version__
from faceripper.config import Config
from faceripper.errors import UsageError
from faceripper.fileio import atomic_writer
from faceripper.models import DetectorModel, Device, EncoderEngine, LandmarkModel

CACHE_FORMAT = "faceripper-reference-encodings"
CACHE_FORMAT_VERSION = 1

FileStatus = Literal["ok", "several_faces", "no_face", "unreadable", "not_image"]
TightCrops = Literal["mirrored", "black"]


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
#: A reference face whose face chip reaches beyond its photo (a tight face crop) is
#: encoded in a copy of the photo mirrored outward at its edges by this fraction of the
#: copy's longer side, and averaged with its mirror image
#: (:func:`faceripper.refphoto.encode_reference_face`).
TIGHT_PAD = 0.5
#: A face's surroundings longer than this are shrunk before they are mirrored outward,
#: so memory stays bounded (the network sees a 150 px chip).
TIGHT_MAX_SIDE_PX = 1000
#: How the cache records the encoding of such faces (a change re-encodes all).
TIGHT_ENCODING = (
    f"chip beyond the photo: mirrored out {TIGHT_PAD:g}, averaged with its mirror image"
)
#: How the cache records each photo's second view (a change re-encodes all;
#: :func:`faceripper.refphoto.encode_reference_view`).
VIEW_ENCODING = (
    "the face alone as a tight crop, mirrored out, averaged with its mirror image; "
    "a tight crop: the other tight-crop encoding"
)
#: The cache's record of ``--tight-crops black``.
TIGHT_BLACK = "chip beyond the photo: black (face_recognition's)"

USABLE: frozenset[str] = frozenset({"ok", "several_faces"})


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
    #: How a face whose chip reaches beyond its photo (a tight crop) is encoded:
    #: ``"mirrored"`` (:data:`TIGHT_ENCODING`) or ``"black"`` (dlib's chip as it is,
    #: black beyond the photo: face_recognition's encoding of every photo it finds a face in).
    tight_crops: TightCrops = "mirrored"

    def __post_init__(self) -> None:
        if self.detector not in ("hog", "cnn"):
            raise UsageError(f"unknown detector model {self.detector!r}: use hog or cnn")
        if self.landmarks not in ("5", "68"):
            raise UsageError(f"unknown landmark model {self.landmarks!r}: use 5 or 68")
        if self.tight_crops not in ("mirrored", "black"):
            raise UsageError(f"unknown --tight-crops {self.tight_crops!r}: use mirrored or black")
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
    #: ``(128,)`` the face's second view (:func:`faceripper.refphoto.encode_reference_view`),
    #: with ``encoding``.
    view: npt.NDArray[np.float64] | None = None

    @property
    def usable(self) -> bool:
        """Whether the photo gave an encoding."""
        return self.status in USABLE


def file_state(path: Path) -> FileState:
    """Size, mtime and SHA-256 of a file."""
    stat = path.stat()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return FileState(stat.st_size, stat.st_mtime_ns, digest.hexdigest())


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
        "tight": np.array(TIGHT_ENCODING if settings.tight_crops == "mirrored" else TIGHT_BLACK),
        "view": np.array(VIEW_ENCODING),
    }


def _fallback_text() -> str:
    """The fallback searches as the cache records them (a change re-encodes all)."""
    return "; ".join(f"pad {s.pad:g} upsample {s.upsample}" for s in FALLBACK_STEPS)


def str_array(values: Sequence[str]) -> npt.NDArray[np.str_]:
    return np.array(list(values), dtype=np.str_) if values else np.zeros(0, dtype="<U1")


def reference_arrays(
    results: Sequence[FileResult], labels: dict[str, tuple[str, str]]
) -> dict[str, npt.NDArray[Any]]:
    """One row per usable result: ``encodings`` ``(n, 128)`` float64; ``person``,
    ``label``, ``group`` (from ``labels``: person -> ``(label, group)``) and ``source``
    ``(n,)`` str; ``box_trbl`` ``(n, 4)`` int64; ``views`` ``(n, 128)`` float64, each
    photo's second view (its encoding where it has none)."""
    usable = [r for r in results if r.usable]
    return {
        "encodings": np.array([r.encoding for r in usable], dtype=np.float64).reshape(-1, 128),
        "views": np.array(
            [r.encoding if r.view is None else r.view for r in usable], dtype=np.float64
        ).reshape(-1, 128),
        "person": str_array([r.person for r in usable]),
        "label": str_array([labels[r.person][0] for r in usable]),
        "group": str_array([labels[r.person][1] for r in usable]),
        "source": str_array([str(r.path) for r in usable]),
        "box_trbl": np.array([r.box_trbl for r in usable], dtype=np.int64).reshape(-1, 4),
    }


def save_cache(
    path: Path,
    results: Sequence[FileResult],
    settings: EncodeSettings,
    labels: dict[str, tuple[str, str]],
) -> None:
    """Write the cache atomically (temporary file in the same folder, then rename).

    ``labels`` maps each person to ``(label, group)`` for the row columns.
    """
    arrays = _settings_arrays(settings)
    arrays.update(reference_arrays(results, labels))
    arrays.update(
        file_path=str_array([str(r.path) for r in results]),
        file_person=str_array([r.person for r in results]),
        file_status=str_array([r.status for r in results]),
        file_faces=np.array([r.faces for r in results], dtype=np.int64),
        file_message=str_array([r.message for r in results]),
        file_size=np.array([r.state.size if r.state else -1 for r in results], dtype=np.int64),
        file_mtime_ns=np.array(
            [r.state.mtime_ns if r.state else -1 for r in results], dtype=np.int64
        ),
        file_sha256=str_array([r.state.sha256 if r.state else "" for r in results]),
        file_engine=str_array([r.engine for r in results]),
        file_found_by=str_array([r.found_by for r in results]),
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
        views = arrays["views"]
        if views.shape != encodings.shape or views.dtype != np.float64:
            raise StaleCacheError(f"{path}: views have shape {views.shape}")
        if not (np.all(np.isfinite(encodings)) and np.all(np.isfinite(views))):
            raise StaleCacheError(f"{path}: encodings hold non-finite values")
        rows = {
            (str(s), str(p)): (e, tuple(int(v) for v in b), w)
            for s, p, e, b, w in zip(
                arrays["source"],
                arrays["person"],
                encodings,
                arrays["box_trbl"],
                views,
                strict=True,
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
                result.encoding, result.box_trbl, result.view = rows[key]  # type: ignore[assignment]
            results[key] = result
        return results
    except StaleCacheError:
        raise
    except (KeyError, ValueError, TypeError) as exc:
        raise StaleCacheError(f"{path}: not a valid faceripper encodings cache ({exc})") from exc


def default_cache_path(config: Config) -> Path:
    """Where the cache of a config lives unless ``-o`` says otherwise.

    ``config.json`` -> ``config.encodings.npz`` beside it; for ``--refs DIR``,
    ``DIR/.faceripper-encodings.npz`` (hidden, so never taken for a person folder).
    """
    if config.source.is_dir():
        return config.source / ".faceripper-encodings.npz"
    return config.source.with_name(config.source.stem + ".encodings.npz")
