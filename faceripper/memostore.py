"""The target's saved detections (and encodings): one file per video, read and written
by the run's own process (:mod:`faceripper.memo` is what a worker does with them).

``T/.faceripper-memo-<video>.bin`` (``<video>``: 16 hex digits of the video's content
fingerprint, :func:`video_fingerprint`) is a run of records, each

    ``FRMM`` | first frame (int64) | last frame (int64) | length (uint64) |
    SHA-256 of the three numbers and the payload | payload

little-endian. The first record is the header (frames -1, a JSON payload): the format,
the video's fingerprint and every setting a search's result depends on
(:func:`search_settings`: the detector, the detection scale, the engine and device the
networks run on, the model files' sizes, the versions of faceripper's search and
encoder code and of the libraries). Each other record holds the searches and encoder
calls one segment ran (:func:`faceripper.memo.pack`), those of frames ``first ..
last``, appended when the segment's result comes back. A record is
only ever appended, never changed; one that does not read back whole and with its
checksum (a run killed while appending it, a damaged disk) ends the file: it and what
follows are ignored with a warning and cut off before the next record is appended. A
file whose header differs (other settings, another video under that name) is replaced.

The file is a file at the target's root, like the journal, because dataset loaders
take every folder of the target as a class (:mod:`faceripper.writer`). ``--restart``
keeps it: that is what it is for; ``--no-reuse`` deletes the target's files
(:func:`drop`) and runs every search.

A segment's task carries the records that hold its frames (bytes), so a worker on a
Dask cluster needs no access to the target; its result carries back the searches it
ran.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from faceripper._version import __version__
from faceripper.duplicates import ends_digest
from faceripper.video import reach
from faceripper.worker.records import RipSettings, SegmentResult, SegmentTask

log = logging.getLogger(__name__)

MEMO_PREFIX = ".faceripper-memo-"
MEMO_FORMAT = "faceripper-memo"
#: Raised whenever what a search key means changes.
MEMO_VERSION = 1
MAGIC = b"FRMM"
#: ``MAGIC``, first frame, last frame, payload length, SHA-256.
_HEAD = struct.Struct("<4sqqQ32s")
#: The modules whose code decides what a search or an encoder call finds: their source is
#: part of the header.
SEARCH_MODULES = ("detector.py", "mmodnet.py", "dlibnet.py", "engines.py", "encoder.py", "memo.py")
#: Distributions whose versions are part of the header (those installed).
LIBRARIES = (
    "dlib",
    "dlib-bin",
    "av",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "numpy",
    "onnxruntime",
    "onnxruntime-gpu",
)


def memo_path(target: Path, fingerprint: dict[str, Any]) -> Path:
    """The memo file of a video with ``fingerprint`` in ``target``."""
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    return target / f"{MEMO_PREFIX}{digest[:16]}.bin"


def video_fingerprint(path: Path, frame_count: int) -> dict[str, Any]:
    """What tells a video's content from another's, cheaply: its size, the SHA-256 of
    its first and last MiB (:func:`faceripper.duplicates.ends_digest`), and its frame
    count."""
    size = path.stat().st_size
    return {"bytes": size, "ends_sha256": ends_digest(path), "frames": frame_count}


def search_settings(settings: RipSettings) -> dict[str, Any]:
    """Everything a search's result depends on besides its key, for a run with
    ``settings`` (its engine resolved: :func:`faceripper.engines.prepare_engine`)."""
    from faceripper.models import MODEL_FILES, model_path

    code = hashlib.sha256()
    for name in SEARCH_MODULES:
        code.update((Path(__file__).parent / name).read_bytes())
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    files = {}
    for name, file in MODEL_FILES.items():
        try:
            files[file] = model_path(name).stat().st_size
        except Exception:  # no models: the run fails elsewhere
            files[file] = -1
    return {
        "model": settings.model,
        "scale": settings.detection_scale(),
        "engine": settings.engine,
        "device": settings.device,
        "model_files": files,
        "code_sha256": code.hexdigest(),
        "faceripper": __version__,
        "libraries": versions,
    }


def drop(target: Path) -> int:
    """Delete the target's memo files; the bytes freed."""
    freed = 0
    for path in target.glob(MEMO_PREFIX + "*.bin"):
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            continue
        freed += size
    return freed


@dataclass
class _Record:
    first: int
    last: int
    offset: int
    length: int


@dataclass
class _VideoMemo:
    """One video's file: where it is, and its records (read once, then appended to)."""

    path: Path
    header: dict[str, Any]
    records: list[_Record] = field(default_factory=list)
    #: Where the next record goes (the end of the last whole one).
    end: int = 0
    #: Whether the file is to be started afresh when the first record is appended.
    fresh: bool = True


def _frame_head(first: int, last: int, payload: bytes) -> bytes:
    digest = hashlib.sha256(struct.pack("<qqQ", first, last, len(payload)) + payload).digest()
    return _HEAD.pack(MAGIC, first, last, len(payload), digest)


def read_records(
    path: Path,
) -> tuple[bytes | None, list[_Record], int, str]:
    """A memo file's header payload (None: none whole), its whole records, where the
    last one ends, and what is wrong past it ("" if nothing)."""
    records: list[_Record] = []
    header: bytes | None = None
    end = 0
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        file.seek(0)
        while end < size:
            head = file.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return header, records, end, f"a record cut short at byte {end}"
            magic, first, last, length, digest = _HEAD.unpack(head)
            if magic != MAGIC or length > size - end - _HEAD.size:
                return header, records, end, f"no whole record at byte {end}"
            payload = file.read(length)
            if _frame_head(first, last, payload)[-32:] != digest:
                return header, records, end, f"a record with a wrong checksum at byte {end}"
            if header is None:
                header = payload
            else:
                records.append(_Record(first, last, end + _HEAD.size, length))
            end += _HEAD.size + length
    return header, records, end, ""


class MemoStore:
    """The memo files of one run's target (no-op when ``target`` is None: ``--no-reuse``).

    Only the run's own process reads and writes them, while it holds the target's lock.
    """

    def __init__(
        self,
        target: Path | None,
        settings: RipSettings,
        warn: Callable[[str], None] = log.warning,
    ) -> None:
        self.target = target
        self.settings = settings
        self.warn = warn
        self.searches = search_settings(settings) if target is not None else {}
        self.videos: dict[str, _VideoMemo] = {}

    @classmethod
    def open(cls, target: Path, settings: RipSettings, warn: Callable[[str], None]) -> MemoStore:
        """The store of ``target``; without ``settings.reuse``, its files deleted and a
        no-op."""
        if not settings.reuse:
            drop(target)
            return cls(None, settings, warn)
        return cls(target, settings, warn)

    def attach(self, task: SegmentTask) -> SegmentTask:
        """``task`` with the records of its video that hold frames it may search."""
        if self.target is None:
            return task
        video = self._video(task)
        if video is None:
            return replace(task, memo=())
        block = self.settings.block_frames(task.scan.fps)
        stop = reach(task.end, task.scan.frame_count, block)
        wanted = [r for r in video.records if r.last >= task.start and r.first < stop]
        payloads: list[bytes] = []
        if wanted:
            try:
                with video.path.open("rb") as file:
                    for record in wanted:
                        file.seek(record.offset)
                        payloads.append(file.read(record.length))
            except OSError as exc:
                self.warn(f"{video.path}: cannot read ({exc.strerror or exc}); searching afresh")
                payloads = []
        return replace(task, memo=tuple(payloads))

    def keep(self, task: SegmentTask, result: SegmentResult) -> None:
        """Append the searches a segment ran to its video's file (taken off ``result``)."""
        payload, (first, last) = result.memo, result.memo_frames
        result.memo = b""
        if self.target is None or not payload:
            return
        video = self._video(task)
        if video is None:
            return
        try:
            if video.fresh:
                header = json.dumps(video.header, sort_keys=True).encode()
                with video.path.open("wb") as file:
                    file.write(_frame_head(-1, -1, header) + header)
                video.end, video.records, video.fresh = _HEAD.size + len(header), [], False
            with video.path.open("r+b") as file:
                file.truncate(video.end)  # what follows the last whole record, if anything
                file.seek(video.end)
                file.write(_frame_head(first, last, payload) + payload)
        except OSError as exc:
            self.warn(
                f"{video.path}: cannot write ({exc.strerror or exc}); "
                "this run's detections are not kept for the next"
            )
            self.target = None
            return
        video.records.append(_Record(first, last, video.end + _HEAD.size, len(payload)))
        video.end += _HEAD.size + len(payload)

    def _video(self, task: SegmentTask) -> _VideoMemo | None:
        """The memo of ``task``'s video, read once; None: the video cannot be read."""
        video = self.videos.get(task.video_key)
        if video is not None:
            return video
        try:
            fingerprint = video_fingerprint(task.path, task.scan.frame_count)
        except OSError:
            return None
        header = {
            "format": MEMO_FORMAT,
            "version": MEMO_VERSION,
            "video": fingerprint,
            "searches": self.searches,
        }
        assert self.target is not None
        video = _VideoMemo(memo_path(self.target, fingerprint), header)
        self.videos[task.video_key] = video
        if video.path.exists():
            self._read(video)
        return video

    def _read(self, video: _VideoMemo) -> None:
        """Take the records of ``video``'s file if it was written with these settings."""
        try:
            header, records, end, problem = read_records(video.path)
        except OSError as exc:
            self.warn(f"{video.path}: cannot read ({exc.strerror or exc}); searching afresh")
            return
        try:
            same = header is not None and json.loads(header) == video.header
        except ValueError:
            same = False
        if not same:
            return  # other settings, or not a memo whole: replaced at the first append
        if problem:
            self.warn(
                f"{video.path}: saved detections damaged ({problem}, a run killed while "
                "writing it?); those past it are ignored and searched again"
            )
        video.records, video.end, video.fresh = records, end, False
