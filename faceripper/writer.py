"""The only code that writes the dataset: crops, ``manifest.csv`` and the run journal.

Layout of a target folder ``T``::

    T/<label>/<video>-<id>-f<frame>-<face>.jpg   one class folder per person, images only
    T/manifest.csv                               one row per crop written
    T/.faceripper-journal.jsonl                  run settings, then one line per finished segment
    T/.faceripper.lock                           held while a run is writing
    T/.faceripper-adapt-<id>-<start>-<end>.npz   a finished segment's borderline tracks,
                                                 until its video's second step is done
    T/.faceripper-adapt-late-<id>.npz            a video's tracks left undecided, kept for
                                                 the run's end (faceripper.lateanchors)
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
held-back tracks and anchor tracks in a spool file written before the segment's
journal line. When a video's last segment is done, its held-back tracks are decided,
the adopted crops written, and one journal line ``{"adapted": video}`` commits the step
(with the faces the video adds to the run's gallery, :mod:`faceripper.runanchors`);
only then are the spool files deleted. On resume, manifest rows of a video not yet
adapted that belong to its spooled tracks are dropped with their files: the step runs
again, deterministically, to the same result. The tracks a video's step kept for the
run's end (:mod:`faceripper.lateanchors`) are written to their kept spool before that
journal line, and revisited after the run's last video: crops, then one line ``{"adapted":
video, "late": true}``, then the kept spool's deletion; on resume, rows of kept tracks
without that line are dropped with their files in the same way.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceripper.errors import FaceripperError, UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.journal import (
    JOURNAL_NAME,
    SegmentRecord,
    SettingsChangedError,
    append_line,
    check_header,
    read_jsonl,
    start_journal,
    summarize,
)
from faceripper.lock import LOCK_NAME, TargetLock, TargetLockedError
from faceripper.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    MANIFEST_REQUIRED,
    ManifestFile,
    ManifestRow,
    check_manifest_header,
    choose_spread,
    ends_with_newline,
    read_manifest,
)
from faceripper.video import video_id

__all__ = [
    "ADAPT_PREFIX",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MANIFEST_REQUIRED",
    "Dataset",
    "DatasetWriteError",
    "ManifestRow",
    "SegmentRecord",
    "SettingsChangedError",
    "TargetLockedError",
    "blurry_dir_for",
    "check_manifest_header",
    "choose_spread",
    "crop_name",
    "ensure_writable",
    "inside",
    "read_manifest",
    "safe_stem",
    "summarize",
    "write_error",
]

#: Spool files of the video-adaptive step: ``<prefix><video id>-<start>-<end>.npz``.
ADAPT_PREFIX = ".faceripper-adapt-"


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


def is_crop_name(name: str) -> bool:
    """Whether ``name`` is one :func:`crop_name` gives (a file rip wrote)."""
    return _CROP_NAME.fullmatch(name) is not None


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
    #: Per adapted video, what its step said of people never matched with confidence
    #: (:mod:`faceripper.unsure`).
    unsure: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The faces each adapted video added to the run's gallery, in journal order
    #: (:mod:`faceripper.runanchors`).
    gallery: list[dict[str, Any]] = field(default_factory=list)
    #: Videos whose kept tracks the run's end revisited (:mod:`faceripper.lateanchors`).
    late: set[str] = field(default_factory=set)
    _lock: TargetLock | None = None
    _manifest: ManifestFile | None = None

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
        self._lock = TargetLock(self.target / LOCK_NAME)
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
            ours = is_crop_name(crop.name)
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
        records = read_jsonl(self._journal_path())
        manifest = self._manifest_path()
        if records:
            check_header(self._journal_path(), records[0], self.settings, self.target)
            for data in records[1:]:
                if "pruned" in data:
                    self.pruned.add(str(data["pruned"]))
                    continue
                if "adapted" in data:
                    (self.late if data.get("late") else self.adapted).add(str(data["adapted"]))
                    self.adapt_counts.update(data.get("counts", {}))
                    if "unsure" in data:  # a late line's replaces its video's step's
                        self.unsure[str(data["adapted"])] = data["unsure"]
                    if data.get("gallery"):
                        self.gallery.append(data["gallery"])
                    continue
                record = SegmentRecord.from_json(data)
                self.done[(record.video, record.start, record.end)] = record
        elif manifest.exists() and read_manifest(manifest):
            raise UsageError(
                f"{self.target}: holds a manifest.csv but no run journal; "
                "use --restart to start over or choose another --target-dir"
            )
        else:
            start_journal(self._journal_path(), self.settings)
        self._manifest = ManifestFile(self._manifest_path())
        self._rewrite_manifest_for_done()
        self._manifest.open()

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
        if len(keep) == len(rows) and ends_with_newline(path):
            return
        self._replace_manifest(keep)

    def _replace_manifest(self, rows: list[dict[str, str]]) -> None:
        """Rewrite the manifest atomically with ``rows`` (reopening it if it was open)."""
        assert self._manifest is not None
        self._manifest.replace(rows)
        self.rows_written = len(rows)
        self.row_counts = Counter((r["label"], r["status"]) for r in rows)

    def _append_journal(self, line: str) -> None:
        """Append one line to the journal, durably."""
        append_line(self._journal_path(), line)

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

    def write_crop(self, row: ManifestRow, name: str, jpeg: bytes) -> None:
        """Write one crop atomically, as ``name`` in its label's and status's folder
        (:meth:`class_dir`), then its manifest row (flushed)."""
        assert self._manifest is not None
        folder = self.class_dir(row.label, row.status)
        path = folder / name
        with _writing(path):
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, jpeg)  # fsynced: a power cut cannot leave a torn crop
        relative = Path(os.path.relpath(path, self.target)).as_posix()
        with _writing(self._manifest_path()):
            self._manifest.append([relative, *row.values()])
        self.rows_written += 1
        self.row_counts[(row.label, row.status)] += 1

    def finish_segment(self, record: SegmentRecord) -> None:
        """Make the segment's rows durable, then record it as finished."""
        assert self._manifest is not None
        with _writing(self._manifest_path()):
            self._manifest.flush(durable=True)
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

    def finish_adapt(
        self,
        video: str,
        counts: Counter[str],
        unsure: dict[str, Any] | None = None,
        gallery: dict[str, Any] | None = None,
    ) -> None:
        """Make the adopted crops durable, record the video as adapted (with what its
        step said of people never matched with confidence: ``unsure``, and the faces it
        adds to the run's gallery: ``gallery``), drop its spools."""
        assert self._manifest is not None
        spools = self.spools(video)
        if unsure:
            self.unsure[video] = unsure
        if spools:
            self._manifest.flush(durable=True)
            line: dict[str, Any] = {"adapted": video, "counts": dict(counts)}
            if unsure:
                line["unsure"] = unsure
            if gallery:
                line["gallery"] = gallery
            self._append_journal(json.dumps(line, ensure_ascii=False))
            for spool in spools:
                spool.unlink(missing_ok=True)
        self.adapted.add(video)
        self.adapt_counts.update(counts)

    def finish_late(
        self,
        video: str,
        counts: Counter[str],
        kept: Path,
        unsure: dict[str, Any] | None = None,
    ) -> None:
        """Make the crops the run's end lent one video durable, record it (an ``adapted``
        line marked ``late``, :mod:`faceripper.lateanchors`; none when it lent nothing;
        with ``unsure``, the video's notes that replace its step's:
        :mod:`faceripper.latenotes`), drop its kept spool."""
        assert self._manifest is not None
        if unsure is not None:
            self.unsure[video] = unsure
        if counts:
            self._manifest.flush(durable=True)
            line: dict[str, Any] = {"adapted": video, "late": True, "counts": dict(counts)}
            if unsure is not None:
                line["unsure"] = unsure
            self._append_journal(json.dumps(line, ensure_ascii=False))
            self.late.add(video)
            self.adapt_counts.update(counts)
        kept.unlink(missing_ok=True)

    def _unadapted_faces(self) -> set[tuple[str, int, str]]:
        """``(video, frame, face)`` of spooled tracks whose video is not adapted yet, or
        kept for the run's end and not revisited yet; spools of adapted videos (a kill
        before their deletion) are deleted."""
        from faceripper.lateanchors import unfinished_faces
        from faceripper.spool import unpack

        faces = unfinished_faces(self.target, self.late)
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
            self._manifest.close()
            self._manifest = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
