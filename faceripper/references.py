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

How one photo's face is found and encoded: :mod:`faceripper.refphoto`.
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
from faceripper.engines import prepare_engine
from faceripper.errors import FaceripperError
from faceripper.processes import init_worker_process, prepare_forked_workers, terminate_executor
from faceripper.refcache import (
    CACHE_FORMAT,
    CACHE_FORMAT_VERSION,
    FALLBACK_SIDE_PX,
    FALLBACK_STEPS,
    TIGHT_PAD,
    USABLE,
    EncodeSettings,
    FileResult,
    FileState,
    FileStatus,
    FindStep,
    StaleCacheError,
    default_cache_path,
    file_state,
    load_cache,
    reference_arrays,
    save_cache,
)
from faceripper.refphoto import encode_reference_file

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
    "encode_references",
    "file_state",
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
