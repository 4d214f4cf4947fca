"""The only code that writes the dataset: crops, ``manifest.csv`` and the run journal.

Layout of a target folder ``T``::

    T/<label>/<video>-<id>-f<frame>-<face>.jpg   one class folder per person, images only
    T/manifest.csv                               one row per crop written
    T/.faceripper-journal.jsonl                  run settings, then one line per finished segment
    T/.faceripper.lock                           held while a run is writing
    T/.faceripper-adapt-<id>-<start>-<end>.npz   a finished segment's borderline tracks,
                                                 until its video's second step is done
    <T>-blurry/<label>/...                       blurry crops (--save-blurry), outside T

Run state lives in files at ``T``'s root, never in folders, because Keras'
``image_dataset_from_directory``/``flow_from_directory`` and torchvision's
``ImageFolder`` take every subfolder of ``T`` as a class and walk class folders
recursively, hidden ones included.

Durability order, so that ``kill -9`` at any moment loses nothing and duplicates
nothing: each crop is written to a temporary file and renamed; its manifest row is
appended after it; when a segment's crops are all written the manifest is fsynced and
only then the segment's journal line is appended. On resume, manifest rows of segments
without a journal line are dropped (their frames are processed again and their crops,
whose names are deterministic, rewritten).

The video-adaptive step (:mod:`faceripper.adaptive`) keeps, per finished segment, its
borderline tracks and confident faces in a spool file written before the segment's
journal line. When a video's last segment is done, its borderline tracks are decided,
the adopted crops written, and one journal line ``{"adapted": video}`` commits the step;
only then are the spool files deleted. On resume, manifest rows of a video not yet
adapted that belong to its spooled tracks are dropped with their files: the step runs
again, deterministically, to the same result.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from faceripper.errors import FaceripperError, UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.video import video_id

MANIFEST_NAME = "manifest.csv"
JOURNAL_NAME = ".faceripper-journal.jsonl"
LOCK_NAME = ".faceripper.lock"
JOURNAL_FORMAT = "faceripper-journal"
JOURNAL_VERSION = 1
#: Spool files of the video-adaptive step: ``<prefix><video id>-<start>-<end>.npz``.
ADAPT_PREFIX = ".faceripper-adapt-"

#: The manifest's first columns, in this order (what every consumer may rely on).
MANIFEST_REQUIRED = (
    "path",
    "label",
    "person",
    "group",
    "video",
    "frame",
    "time_s",
    "top",
    "right",
    "bottom",
    "left",
    "distance",
    "sharpness",
    "status",
)
#: All the manifest's columns: the required ones, then ``track`` (the face track the
#: crop belongs to), ``encoded`` (1 if this crop's own encoding was computed, 0 if its
#: identity and distance come from its track), ``face`` (the face's index in the
#: frame, left to right), ``corrected`` (``moved``: a crop the user moved into
#: another person's folder, :mod:`faceripper.corrections`) and ``detector`` (what found
#: the face: ``hog``, ``cnn``, or ``followed``: :mod:`faceripper.follow`).
MANIFEST_COLUMNS = (*MANIFEST_REQUIRED, "track", "encoded", "face", "corrected", "detector")


class TargetLockedError(FaceripperError):
    """Another ``rip`` is writing to the same target folder."""


class SettingsChangedError(FaceripperError):
    """The target was made with other settings; resuming would mix two datasets."""


class DatasetWriteError(FaceripperError):
    """A file of the dataset cannot be written: the disk is full, a quota is reached,
    the file system is read-only. What was written stays consistent: the same command,
    rerun once the cause is fixed, continues where the run stopped."""


#: Errors that more space (or a higher quota) fixes.
_NO_SPACE = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG})


def write_error(path: Path, exc: OSError) -> DatasetWriteError:
    """The one-line error for ``exc``, raised while writing ``path``: where, what, and
    what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in _NO_SPACE:
        hint = "free some space, then rerun the same command: it continues where this run stopped"
    elif exc.errno == errno.EROFS:
        hint = (
            "the file system is read-only: make it writable (or choose another "
            "--target-dir), then rerun the same command"
        )
    else:
        hint = "fix that, then rerun the same command: it continues where this run stopped"
    return DatasetWriteError(f"{path}: cannot write ({reason}); {hint}")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` into a :class:`DatasetWriteError`."""
    try:
        yield
    except OSError as exc:
        raise write_error(path, exc) from None


def blurry_dir_for(target: Path) -> Path:
    """Default folder for blurry crops: ``<target>-blurry`` beside the target."""
    return target.with_name(target.name + "-blurry")


_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_stem(name: str, limit: int = 60) -> str:
    """A file-name-safe, length-limited form of a video's name (letters, digits, ._-)."""
    stem = unicodedata.normalize("NFC", name)
    stem = _UNSAFE.sub("_", stem).strip("._") or "video"
    return stem[:limit]


_CROP_NAME = re.compile(r".+-[0-9a-f]{8}-f[0-9]{7}-[0-9]+\.jpg")


def crop_name(video_stem: str, video_id: str, frame: int, face_index: int) -> str:
    """Deterministic crop file name: the same face of the same frame always gets it."""
    return f"{safe_stem(video_stem)}-{video_id}-f{frame:07d}-{face_index}.jpg"


def inside(base: Path, path: Path) -> bool:
    """Whether ``path`` (resolved) stays inside ``base`` (resolved)."""
    try:
        path.resolve().relative_to(base.resolve())
    except ValueError:
        return False
    return True


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be written in it.

    Raises:
        UsageError: it cannot be created or written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".faceripper-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(
            f"{folder}: cannot write to the target folder ({exc.strerror or exc})"
        ) from None


#: Lock files held by this process, closed in every child it forks (see :class:`_Lock`).
_held_locks: set[IO[bytes]] = set()


def _close_held_locks() -> None:
    for handle in list(_held_locks):
        with contextlib.suppress(OSError):
            handle.close()
    _held_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_locks)


class _Lock:
    """An exclusive, non-blocking lock on a file, released by the OS if the process dies.

    Only this process holds it: ``flock`` belongs to the open file, which a forked child
    would share (a worker process outliving a killed ``rip`` would keep the target
    locked), so every forked child closes it first thing; other children never get the
    descriptor (Python opens files non-inheritable, ``O_CLOEXEC``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise TargetLockedError(
                f"{self.path.parent}: another faceripper rip is writing to this folder"
            ) from None
        self.handle = handle
        _held_locks.add(handle)

    def release(self) -> None:
        if self.handle is not None:
            _held_locks.discard(self.handle)
            self.handle.close()
            self.handle = None


@dataclass
class SegmentRecord:
    """A finished segment, as the journal keeps it.

    ``start``/``end`` are the segment as planned; ``owned`` the frames ``[first, stop)``
    whose faces it wrote, which may begin after ``start`` and go past ``end``
    (:func:`faceripper.worker.owned_frames`); None: ``(start, end)``.
    """

    video: str
    start: int
    end: int
    frames: int
    saved: Counter[str] = field(default_factory=Counter)
    blurry: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    error: str = ""
    owned: tuple[int, int] | None = None

    @property
    def rows_range(self) -> tuple[int, int]:
        """The frames ``[first, stop)`` of the manifest rows this segment wrote."""
        return self.owned if self.owned is not None else (self.start, self.end)

    def to_json(self) -> str:
        return json.dumps(
            {
                "video": self.video,
                "start": self.start,
                "end": self.end,
                "frames": self.frames,
                "saved": dict(self.saved),
                "blurry": dict(self.blurry),
                "ambiguous": dict(self.ambiguous),
                "counts": dict(self.counts),
                "error": self.error,
                **({"owned": list(self.owned)} if self.owned is not None else {}),
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SegmentRecord:
        return cls(
            str(data["video"]),
            int(data["start"]),
            int(data["end"]),
            int(data["frames"]),
            Counter(data.get("saved", {})),
            Counter(data.get("blurry", {})),
            Counter(data.get("ambiguous", {})),
            Counter(data.get("counts", {})),
            str(data.get("error", "")),
            (int(data["owned"][0]), int(data["owned"][1])) if data.get("owned") else None,
        )


def _open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file of the target for appending.

    A string that is not valid Unicode (a message naming a file whose name is not
    UTF-8) is written with backslash escapes rather than stopping the run.
    """
    return path.open("a", encoding="utf-8", errors="backslashreplace", newline="")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Lines of a JSON-lines file; a torn last line (from a kill) is ignored."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


@dataclass
class Dataset:
    """A target folder opened for writing by one run.

    Use as a context manager: entering takes the lock and recovers from an
    interrupted run; leaving releases the lock.
    """

    target: Path
    settings: dict[str, Any]
    blurry_dir: Path | None = None
    restart: bool = False
    #: The class folder of each label whose folder is not named after it (``rip
    #: --label-format``); manifest rows keep the label, their ``path`` the folder.
    folders: dict[str, str] = field(default_factory=dict)
    done: dict[tuple[str, int, int], SegmentRecord] = field(default_factory=dict)
    rows_written: int = 0
    #: Manifest rows per ``(label, status)``: what the dataset holds now.
    row_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Videos already thinned to ``--max-per-video``.
    pruned: set[str] = field(default_factory=set)
    #: Videos whose video-adaptive step is done, and that step's tallies.
    adapted: set[str] = field(default_factory=set)
    adapt_counts: Counter[str] = field(default_factory=Counter)
    _lock: _Lock | None = None
    _manifest: IO[str] | None = None
    _writer: Any = None

    def __enter__(self) -> Dataset:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ opening

    def open(self) -> None:
        """Lock the target, then start a new run or recover the last one."""
        ensure_writable(self.target)
        if self.blurry_dir is not None:
            ensure_writable(self.blurry_dir)
        self._lock = _Lock(self.target / LOCK_NAME)
        self._lock.acquire()
        try:
            self._check_manifest_header()
            with _writing(self.target):
                if self.restart:
                    self._clear()
                self._recover()
        except BaseException:
            self._lock.release()
            raise

    def _check_manifest_header(self) -> None:
        check_manifest_header(self._manifest_path())

    def _journal_path(self) -> Path:
        return self.target / JOURNAL_NAME

    def _manifest_path(self) -> Path:
        return self.target / MANIFEST_NAME

    def _clear(self) -> None:
        """Remove what earlier runs wrote (files listed in the manifest, manifest, journal)."""
        blurry_folders: set[Path] = set()
        for row in read_manifest(self._manifest_path()):
            crop = (self.target / row["path"]).resolve()
            ours = _CROP_NAME.fullmatch(crop.name) is not None
            if inside(self.target, crop) or (row["status"] == "blurry" and ours):
                crop.unlink(missing_ok=True)
                if row["status"] == "blurry":
                    blurry_folders.add(crop.parent)
        folders = [*self.target.iterdir(), *self._blurry_class_dirs(), *blurry_folders]
        for folder in folders:
            if folder.is_dir():
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only if now empty: never delete a user's files
        self._manifest_path().unlink(missing_ok=True)
        self._journal_path().unlink(missing_ok=True)
        for spool in self.target.glob(ADAPT_PREFIX + "*.npz"):
            spool.unlink()

    def _blurry_class_dirs(self) -> list[Path]:
        if self.blurry_dir is None or not self.blurry_dir.is_dir():
            return []
        return list(self.blurry_dir.iterdir())

    def _remove_temporaries(self) -> None:
        """Delete temporary files a killed run left behind (``.<name>.<random>.tmp``)."""
        folders = [self.target, *(p for p in self.target.iterdir() if p.is_dir())]
        folders += [p for p in self._blurry_class_dirs() if p.is_dir()]
        for folder in folders:
            for leftover in folder.glob(".*.tmp"):
                leftover.unlink(missing_ok=True)

    def _recover(self) -> None:
        self._remove_temporaries()
        records = _read_jsonl(self._journal_path())
        manifest = self._manifest_path()
        if records:
            header = records[0]
            if header.get("format") != JOURNAL_FORMAT:
                raise UsageError(f"{self._journal_path()}: not a faceripper journal")
            old = header.get("settings", {})
            changed = sorted(
                k for k in set(old) | set(self.settings) if old.get(k) != self.settings.get(k)
            )
            if changed:
                what = ", ".join(
                    f"{k}: {old.get(k)!r} -> {self.settings.get(k)!r}" for k in changed
                )
                raise SettingsChangedError(
                    f"{self.target}: made by a run with other settings ({what}); "
                    "rerun with the same options, use --restart to start over, "
                    "or choose another --target-dir"
                )
            for data in records[1:]:
                if "pruned" in data:
                    self.pruned.add(str(data["pruned"]))
                    continue
                if "adapted" in data:
                    self.adapted.add(str(data["adapted"]))
                    self.adapt_counts.update(data.get("counts", {}))
                    continue
                record = SegmentRecord.from_json(data)
                self.done[(record.video, record.start, record.end)] = record
        elif manifest.exists() and read_manifest(manifest):
            raise UsageError(
                f"{self.target}: holds a manifest.csv but no run journal; "
                "use --restart to start over or choose another --target-dir"
            )
        else:
            header = {
                "format": JOURNAL_FORMAT,
                "version": JOURNAL_VERSION,
                "settings": self.settings,
            }
            atomic_write_bytes(
                self._journal_path(), (json.dumps(header, ensure_ascii=False) + "\n").encode()
            )
        self._rewrite_manifest_for_done()
        self._manifest = _open_text(self._manifest_path())
        self._writer = csv.writer(self._manifest, lineterminator="\n")
        if self._manifest.tell() == 0:
            self._writer.writerow(MANIFEST_COLUMNS)
            self._manifest.flush()

    def _rewrite_manifest_for_done(self) -> None:
        """Keep manifest rows of finished segments whose file still exists; drop the rest."""
        path = self._manifest_path()
        if not path.exists():
            return
        rows = read_manifest(path)
        done_frames: dict[str, list[tuple[int, int]]] = {}
        for record in self.done.values():
            done_frames.setdefault(record.video, []).append(record.rows_range)
        undecided = self._unadapted_faces()
        keep = []
        for row in rows:
            ranges = done_frames.get(row["video"], [])
            frame = int(row["frame"])
            if (row["video"], frame, row.get("face", "")) in undecided:
                (self.target / row["path"]).unlink(missing_ok=True)  # written again
                continue
            if any(s <= frame < e for s, e in ranges) and (self.target / row["path"]).exists():
                keep.append(row)
        self.rows_written = len(keep)
        self.row_counts = Counter((r["label"], r["status"]) for r in keep)
        if len(keep) == len(rows) and _ends_with_newline(path):
            return
        self._replace_manifest(keep)

    def _replace_manifest(self, rows: list[dict[str, str]]) -> None:
        """Rewrite the manifest atomically with ``rows`` (reopening it if it was open)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer,
            fieldnames=MANIFEST_COLUMNS,
            lineterminator="\n",
            restval="",
            extrasaction="ignore",
        )
        writer.writeheader()
        writer.writerows(rows)
        reopen = self._manifest is not None
        if self._manifest is not None:
            self._manifest.close()
        atomic_write_bytes(self._manifest_path(), buffer.getvalue().encode("utf-8"))
        if reopen:
            self._manifest = _open_text(self._manifest_path())
            self._writer = csv.writer(self._manifest, lineterminator="\n")
        self.rows_written = len(rows)
        self.row_counts = Counter((r["label"], r["status"]) for r in rows)

    def _append_journal(self, line: str) -> None:
        """Append one line to the journal, durably."""
        with _open_text(self._journal_path()) as journal:
            journal.write(line + "\n")
            journal.flush()
            os.fsync(journal.fileno())

    # ------------------------------------------------------------------ writing

    def is_done(self, video: str, start: int, end: int) -> bool:
        """Whether a segment was finished by this or an earlier run."""
        return (video, start, end) in self.done

    def class_dir(self, label: str, status: str) -> Path:
        """The folder a crop of ``label`` goes to; refuses any path leaving the target."""
        base = self.blurry_dir if status == "blurry" and self.blurry_dir else self.target
        name = self.folders.get(label, label)
        folder = base / name
        if folder.parent != base or name in ("", ".", "..") or not inside(base, folder):
            raise UsageError(f"label {label!r} would write outside {base}")
        return folder

    def write_crop(
        self, label: str, name: str, status: str, jpeg: bytes, row: dict[str, Any]
    ) -> None:
        """Write one crop atomically, then its manifest row (flushed)."""
        assert self._writer is not None and self._manifest is not None
        folder = self.class_dir(label, status)
        path = folder / name
        with _writing(path):
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, jpeg)  # fsynced: a power cut cannot leave a torn crop
        relative = Path(os.path.relpath(path, self.target)).as_posix()
        with _writing(self._manifest_path()):
            self._writer.writerow([relative, *(row.get(c, "") for c in MANIFEST_COLUMNS[1:])])
            self._manifest.flush()
        self.rows_written += 1
        self.row_counts[(label, status)] += 1

    def finish_segment(self, record: SegmentRecord) -> None:
        """Make the segment's rows durable, then record it as finished."""
        assert self._manifest is not None
        with _writing(self._manifest_path()):
            self._manifest.flush()
            os.fsync(self._manifest.fileno())
        with _writing(self._journal_path()):
            self._append_journal(record.to_json())
        self.done[(record.video, record.start, record.end)] = record

    # ------------------------------------------------------- video-adaptive step

    def spool_path(self, video: str, start: int, end: int) -> Path:
        """The spool file of one segment's borderline tracks (:mod:`faceripper.adaptive`)."""
        return self.target / f"{ADAPT_PREFIX}{video_id(video)}-{start}-{end}.npz"

    def spool_segment(self, video: str, start: int, end: int, data: bytes) -> None:
        """Write a segment's spool durably; call before :meth:`finish_segment`."""
        atomic_write_bytes(self.spool_path(video, start, end), data)

    def spools(self, video: str) -> list[Path]:
        """The spool files of a video's finished segments, in frame order."""
        ranges = sorted((s, e) for v, s, e in self.done if v == video)
        paths = [self.spool_path(video, s, e) for s, e in ranges]
        return [p for p in paths if p.is_file()]

    def finish_adapt(self, video: str, counts: Counter[str]) -> None:
        """Make the adopted crops durable, record the video as adapted, drop its spools."""
        assert self._manifest is not None
        spools = self.spools(video)
        if spools:
            self._manifest.flush()
            os.fsync(self._manifest.fileno())
            line = {"adapted": video, "counts": dict(counts)}
            self._append_journal(json.dumps(line, ensure_ascii=False))
            for spool in spools:
                spool.unlink(missing_ok=True)
        self.adapted.add(video)
        self.adapt_counts.update(counts)

    def _unadapted_faces(self) -> set[tuple[str, int, str]]:
        """``(video, frame, face)`` of spooled tracks whose video is not adapted yet;
        spools of adapted videos (a kill before their deletion) are deleted."""
        from faceripper.adaptive import unpack

        faces: set[tuple[str, int, str]] = set()
        videos = {v for v, _, _ in self.done}
        for video in sorted(videos):
            for spool in self.spools(video):
                if video in self.adapted:
                    spool.unlink(missing_ok=True)
                    continue
                _, pending = unpack(spool.read_bytes())
                faces.update(
                    (video, hit.frame, str(hit.face_index)) for t in pending for hit in t.hits
                )
        return faces

    def prune_video(self, video: str, frame_count: int, limit: int) -> int:
        """Keep at most ``limit`` saved crops per person of one finished video.

        The video's frames are split into ``limit`` equal stretches and the sharpest
        crop of each stretch is kept; stretches without a crop leave their place to the
        sharpest remaining crops. Files are deleted first, then the manifest is
        rewritten and the video recorded as pruned: a kill in between is repaired by the
        next run (rows whose file is gone are dropped, and the pruning, deterministic,
        runs again to the same result). Returns the number of crops removed.
        """
        assert self._manifest is not None
        with _writing(self._manifest_path()):
            self._manifest.flush()
        rows = read_manifest(self._manifest_path())
        mine = [r for r in rows if r["video"] == video and r["status"] == "saved"]
        drop: set[str] = set()
        for person in sorted({r["person"] for r in mine}):
            theirs = [r for r in mine if r["person"] == person]
            if len(theirs) > limit:
                keep = choose_spread(theirs, frame_count, limit)
                drop.update(r["path"] for r in theirs if r["path"] not in keep)
        for path in sorted(drop):
            (self.target / path).unlink(missing_ok=True)
        if drop:
            with _writing(self._manifest_path()):
                self._replace_manifest([r for r in rows if r["path"] not in drop])
        with _writing(self._journal_path()):
            self._append_journal(json.dumps({"pruned": video}, ensure_ascii=False))
        self.pruned.add(video)
        return len(drop)

    def close(self) -> None:
        """Close the manifest and release the lock."""
        if self._manifest is not None:
            with contextlib.suppress(OSError):  # a full disk: the rows were reported lost
                self._manifest.close()
            self._manifest = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def check_manifest_header(path: Path) -> None:
    """Refuse a ``manifest.csv`` that faceripper did not write: nothing may append to it,
    rewrite it or delete it.

    Raises:
        UsageError: its first line is not a faceripper manifest header.
    """
    try:
        with path.open("rb") as handle:
            first = handle.readline(4096)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    if not first:
        return
    header = next(csv.reader([first.decode("utf-8", "replace").rstrip("\r\n")]), [])
    if tuple(header[: len(MANIFEST_REQUIRED)]) != MANIFEST_REQUIRED:
        shown = first.decode("utf-8", "replace").strip()[:60]
        raise UsageError(
            f"{path}: not a faceripper manifest (its first line is {shown!r}); "
            "move it away or choose another --target-dir"
        )


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return True
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def choose_spread(rows: list[dict[str, str]], frame_count: int, limit: int) -> set[str]:
    """The paths of ``limit`` rows spread over a video, the sharpest of each stretch.

    >>> rows = [{"path": str(f), "frame": str(f), "sharpness": str(s)}
    ...         for f, s in [(0, 10), (1, 90), (50, 20), (51, 30), (99, 5)]]
    >>> sorted(choose_spread(rows, 100, 2), key=int)
    ['1', '51']
    """

    def sharpest(group: list[dict[str, str]]) -> dict[str, str]:
        return max(group, key=lambda r: (float(r["sharpness"]), -int(r["frame"]), r["path"]))

    stretches: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        stretch = min(limit - 1, int(row["frame"]) * limit // max(1, frame_count))
        stretches.setdefault(stretch, []).append(row)
    keep = {sharpest(group)["path"] for group in stretches.values()}
    rest = sorted(
        (r for r in rows if r["path"] not in keep),
        key=lambda r: (-float(r["sharpness"]), int(r["frame"]), r["path"]),
    )
    keep.update(r["path"] for r in rest[: max(0, limit - len(keep))])
    return keep


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a manifest as dicts; a torn last row (from a kill) is left out."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(io.StringIO(text)))
    return [
        r for r in rows if None not in r and all(r.get(c) is not None for c in MANIFEST_REQUIRED)
    ]


def summarize(records: Iterable[SegmentRecord]) -> dict[str, Counter[str]]:
    """Totals per label over segment records, keyed "saved", "blurry" and "ambiguous"."""
    total: dict[str, Counter[str]] = {
        "saved": Counter(),
        "blurry": Counter(),
        "ambiguous": Counter(),
    }
    for record in records:
        total["saved"].update(record.saved)
        total["blurry"].update(record.blurry)
        total["ambiguous"].update(record.ambiguous)
    return total
