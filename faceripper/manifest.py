"""``T/manifest.csv``: one row per crop written, appended by one run at a time.

Rows are flushed as they are written and fsynced when a segment is committed
(:class:`ManifestFile`); readers (:func:`read_manifest`) leave out a torn last row.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from faceripper.errors import UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.journal import open_text

MANIFEST_NAME = "manifest.csv"

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


@dataclass(frozen=True)
class ManifestRow:
    """One crop's manifest row: its fields are the columns after ``path``, in order.

    ``path`` is the writer's to fill (where :meth:`faceripper.writer.Dataset.write_crop`
    put the crop); :meth:`values` gives the rest as written, with times, distances and
    sharpness rounded. Reading code gets the rows back as dicts of strings
    (:func:`read_manifest`).

    >>> row = ManifestRow("amy", "Amy", "", "v.mp4", 7, 0.2802, 10, 60, 70, 20,
    ...                   0.31234, 88.06, "saved", "3", True, 0, "", "hog", -12.34, 3.0)
    >>> row.values()[4:]
    [7, '0.280', 10, 60, 70, 20, '0.3123', '88.1', 'saved', '3', 1, 0, '', 'hog', '-12.3', '3.0']
    """

    label: str
    person: str
    group: str
    #: The video's key (its path relative to the video folder).
    video: str
    frame: int
    time_s: float
    #: The face's box in the frame's pixels.
    top: int
    right: int
    bottom: int
    left: int
    #: To the person's references (or their track's, when not ``encoded``).
    distance: float
    sharpness: float
    #: ``saved`` or ``blurry``.
    status: str
    #: The face track the crop belongs to.
    track: str
    #: Whether this crop's own encoding was computed (``False``: its identity and
    #: distance come from its track).
    encoded: bool
    #: The face's index in the frame, left to right.
    face: int
    #: ``moved``: a crop the user moved into another person's folder
    #: (:mod:`faceripper.corrections`); otherwise empty.
    corrected: str
    #: What found the face: ``hog`` or ``cnn`` (``--model``), or ``followed`` (the CNN,
    #: around a person's track that HOG lost: :mod:`faceripper.follow`).
    detector: str
    #: The face's yaw and roll in degrees, estimated from its landmarks
    #: (:mod:`faceripper.pose`; yaw 0: frontal, positive: the nose towards the image's
    #: right; roll 0: the eyes level); empty when its landmarks were not computed.
    yaw: float | None = None
    roll: float | None = None

    def values(self) -> list[object]:
        """The row's values as written, in :data:`MANIFEST_COLUMNS` order after ``path``:
        floats rounded to :data:`DECIMALS` places, booleans as 0 or 1."""
        values: list[object] = []
        for column in fields(self):
            value = getattr(self, column.name)
            if value is None:
                value = ""
            elif column.name in DECIMALS:
                value = f"{value:.{DECIMALS[column.name]}f}"
            elif column.type == "bool":
                value = int(value)
            values.append(value)
        return values


#: The decimal places of the float columns in the manifest.
DECIMALS = {"time_s": 3, "distance": 4, "sharpness": 1, "yaw": 1, "roll": 1}

#: All the manifest's columns: ``path``, then :class:`ManifestRow`'s fields (the required
#: ones first).
MANIFEST_COLUMNS = ("path", *(f.name for f in fields(ManifestRow)))


class ManifestFile:
    """The manifest opened for appending by one run.

    :meth:`open` writes the header into a new (empty) manifest; :meth:`append` writes a
    row and flushes it; :meth:`flush` with ``durable`` also fsyncs; :meth:`replace`
    rewrites the whole file atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._writer: Any = None

    def open(self) -> None:
        """Open for appending; an empty manifest gets its header first."""
        self._file = open_text(self.path)
        self._writer = csv.writer(self._file, lineterminator="\n")
        if self._file.tell() == 0:
            self._writer.writerow(MANIFEST_COLUMNS)
            self._file.flush()

    def append(self, values: Sequence[Any]) -> None:
        """Append one row (the values of :data:`MANIFEST_COLUMNS`, in order), flushed."""
        assert self._writer is not None and self._file is not None
        self._writer.writerow(values)
        self._file.flush()

    def flush(self, durable: bool = False) -> None:
        """Flush the rows written; ``durable``: fsync them too."""
        assert self._file is not None
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def replace(self, rows: list[dict[str, str]]) -> None:
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
        reopen = self._file is not None
        if self._file is not None:
            self._file.close()
        atomic_write_bytes(self.path, buffer.getvalue().encode("utf-8"))
        if reopen:
            self._file = open_text(self.path)
            self._writer = csv.writer(self._file, lineterminator="\n")

    def close(self) -> None:
        """Close the file; an error closing it (a full disk) is ignored: the rows were
        reported lost when they were written."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None


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


def ends_with_newline(path: Path) -> bool:
    """Whether a file is empty or ends with a newline (no torn last line)."""
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


def dataset_manifest(target: Path) -> Path:
    """The ``manifest.csv`` of a dataset folder written by ``rip``.

    Raises:
        UsageError: ``target`` is missing or not a folder, or holds no manifest.
    """
    if not target.is_dir():
        what = "does not exist" if not target.exists() else "is not a folder"
        raise UsageError(f"{target}: dataset folder {what}")
    manifest = target / MANIFEST_NAME
    if not manifest.is_file():
        raise UsageError(
            f"{manifest}: no manifest: {target} is not a dataset written by faceripper rip"
        )
    return manifest


def folder_of(path: str) -> str | None:
    """The class folder of a manifest ``path`` (``folder/file.jpg``), or None.

    >>> folder_of("alice/v-0a1b2c3d-f0000001-0.jpg"), folder_of("../x.jpg"), folder_of("x.jpg")
    ('alice', None, None)
    """
    parts = path.split("/")
    if len(parts) != 2 or not all(parts) or parts[0] in (".", ".."):
        return None
    return parts[0]


def saved_rows(target: Path, manifest: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The manifest's rows of saved crops in a class folder of ``target``: those whose
    file exists, and those whose file is missing (deleted or moved by hand).

    Raises:
        UsageError: the manifest cannot be read.
    """
    try:
        rows = read_manifest(manifest)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{manifest}: cannot read the manifest: {exc}") from exc
    present: list[dict[str, str]] = []
    missing: list[dict[str, str]] = []
    for row in rows:
        if row["status"] != "saved" or folder_of(row["path"]) is None:
            continue
        (present if (target / row["path"]).is_file() else missing).append(row)
    return present, missing
