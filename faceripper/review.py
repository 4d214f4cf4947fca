"""Contact sheets of a dataset's crops, to look them over: ``faceripper review``.

:func:`review_dataset` reads ``T/manifest.csv`` and draws one PNG per class folder of
``T``, ``<out>/<folder>.png``. First come the face tracks that need a look: those decided
with the least margin, whose median distance is within ``check_margin`` of the run's
tolerance (:func:`track_margins`), one crop each (the track's farthest), least margin
first. Then, in the slots left, a sample of the folder's other saved crops spread evenly
over its manifest rows (so over its videos and their frames), sorted by distance,
largest first. Each thumbnail is captioned with its distance and sharpness, and in
small text its video and frame (and, for a track to check, its margin and size).
``<out>/check.csv`` lists every track of every folder, least margin first, with the
crops a user would have to look at.

The sheets go beside the dataset (``<T>-review`` by default), never inside it: dataset
loaders take every folder of ``T`` as a class and walk into class folders.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from faceripper.config import label_problem
from faceripper.errors import ImageReadError, UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.images import load_rgb
from faceripper.journal import JOURNAL_NAME
from faceripper.manifest import dataset_manifest, folder_of, saved_rows
from faceripper.sheets import BLACK, GREY, RED, SheetTile, draw_sheet, fit_square, save_sheet
from faceripper.words import counted
from faceripper.writer import inside

DEFAULT_PER_LABEL = 48
"""Crops shown per sheet unless told otherwise."""

THUMB_PX = 144
"""The side of a thumbnail on a review sheet, in pixels."""

COLUMNS = 8
"""Thumbnails per row of a review sheet."""

DEFAULT_CHECK_MARGIN = 0.05
"""A track whose median distance is within this of the tolerance needs a look."""

CHECK_CSV = "check.csv"
"""The list of tracks to check, beside the sheets."""


@dataclass(frozen=True)
class TrackMargin:
    """How narrowly one face track was decided.

    Attributes:
        folder: its class folder.
        video: its video key.
        track: its name (the manifest's ``track``; a crop without one is its own track).
        rows: its saved crops whose file exists, in manifest order.
        distance: the median distance of its encoded crops (of all, if none is encoded).
        margin: ``tolerance - distance``: how far inside the tolerance it was decided
            (negative: beyond it, kept by the track's slack; ``-inf``: a crop whose face
            you excluded by a correction).
    """

    folder: str
    video: str
    track: str
    rows: tuple[dict[str, str], ...] = field(repr=False)
    distance: float
    margin: float

    @property
    def worst(self) -> dict[str, str]:
        """Its crop farthest from the person (the one to look at)."""
        return max(self.rows, key=lambda r: (_number(r["distance"]), r["path"]))


@dataclass(frozen=True)
class ReviewSheet:
    """One review sheet written.

    Attributes:
        path: the PNG.
        folder: the class folder it shows (its name, relative to the dataset).
        label: the manifest's label of the folder's crops.
        crops: the folder's saved crops listed in the manifest whose file exists.
        shown: how many of them the sheet shows.
        missing: the folder's manifest rows whose file is gone (not shown).
        distances: the distances of the crops shown, in sheet order.
        to_check: the folder's tracks within the check margin of the tolerance.
        to_check_crops: their crops.
        tolerance: the run's tolerance (from the journal; NaN if unknown).
        check_margin: the margin under which a track is to check.
    """

    path: Path
    folder: str
    label: str
    crops: int
    shown: int
    missing: int
    distances: tuple[float, ...]
    to_check: int = 0
    to_check_crops: int = 0
    tolerance: float = math.nan
    check_margin: float = DEFAULT_CHECK_MARGIN

    @property
    def median_distance(self) -> float:
        """The median distance of the crops shown (NaN when none has one)."""
        values = [d for d in self.distances if not math.isnan(d)]
        return statistics.median(values) if values else math.nan


def review_dir_for(target: Path) -> Path:
    """Default folder for review sheets: ``<target>-review`` beside the target."""
    base = target if target.name else target.resolve()
    return base.with_name(base.name + "-review")


def spread(count: int, wanted: int) -> list[int]:
    """``wanted`` indices of ``range(count)`` spread evenly, each in the middle of its share.

    >>> spread(10, 3)
    [1, 5, 8]
    >>> spread(3, 5)
    [0, 1, 2]
    """
    wanted = min(count, wanted)
    return [(2 * i + 1) * count // (2 * wanted) for i in range(wanted)]


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _doubt(row: dict[str, str]) -> tuple[bool, float]:
    """Sort key: largest distance first, rows without a distance last."""
    distance = _number(row["distance"])
    return (math.isnan(distance), 0.0 if math.isnan(distance) else -distance)


def run_tolerance(target: Path) -> float:
    """The tolerance of the run that wrote ``target`` (its journal), NaN if unknown."""
    try:
        with (target / JOURNAL_NAME).open(encoding="utf-8") as handle:
            header = json.loads(handle.readline())
        return float(header["settings"]["tolerance"])
    except (OSError, ValueError, KeyError, TypeError):
        return math.nan


def track_margins(rows: list[dict[str, str]], tolerance: float) -> list[TrackMargin]:
    """The tracks of a folder's saved crops, least margin first (then by name).

    >>> rows = [dict(path=f"a/{i}.jpg", video="v", track=t, distance=d, encoded="1")
    ...         for i, (t, d) in enumerate([("0.0", "0.30"), ("0.0", "0.34"), ("9.0", "0.38")])]
    >>> [(m.track, round(m.margin, 2)) for m in track_margins(rows, 0.4)]
    [('9.0', 0.02), ('0.0', 0.08)]
    """
    tracks: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        key = (row["video"], row.get("track") or f"#{row['path']}")
        tracks.setdefault(key, []).append(row)
    margins = []
    for (video, track), members in tracks.items():
        encoded = [r for r in members if r.get("encoded", "1") != "0"] or members
        values = [_number(r["distance"]) for r in encoded]
        values = [v for v in values if not math.isnan(v)]
        distance = statistics.median(values) if values else math.nan
        if any(math.isinf(_number(r["distance"])) for r in members):
            distance = math.inf  # a face a correction excluded: the track needs a look
        margins.append(
            TrackMargin(
                folder=folder_of(members[0]["path"]) or "",
                video=video,
                track=track,
                rows=tuple(members),
                distance=distance,
                margin=tolerance - distance,
            )
        )
    margins.sort(key=lambda m: (math.isnan(m.margin), m.margin, m.video, m.track))
    return margins


def _sheet_file(folder: str) -> str:
    """The sheet's file name: the folder's, made safe if it is not a valid name."""
    stem = folder
    if label_problem(stem):
        stem = "".join(c if c.isalnum() or c in " -_." else "_" for c in folder).strip(" .")
        stem = stem or "label"
    return f"{stem}.png"


def _tile(
    target: Path, row: dict[str, str], thumb_px: int, track: TrackMargin | None = None
) -> SheetTile:
    try:
        image = fit_square(load_rgb(target / row["path"]), thumb_px)
    except ImageReadError:
        image = None
    distance, sharpness = _number(row["distance"]), _number(row["sharpness"])
    caption = f"dist {distance:.3f}  sharp {sharpness:.0f}"
    small = [(f"{Path(row['video']).name} f{row['frame']}", GREY)]
    if track is not None:
        small.append((f"margin {track.margin:.3f}, {counted(len(track.rows), 'crop')}", RED))
    return SheetTile(image, [(caption, BLACK)], GREY, 1, small=small)


def review_dataset(
    target: Path,
    out_dir: Path | None = None,
    per_label: int = DEFAULT_PER_LABEL,
    thumb_px: int = THUMB_PX,
    check_margin: float = DEFAULT_CHECK_MARGIN,
) -> list[ReviewSheet]:
    """Write one review sheet per class folder of the dataset ``target``.

    Args:
        target: a dataset written by ``rip`` (it holds ``manifest.csv``).
        out_dir: where the sheets go, created if needed; default ``<target>-review``
            beside it (:func:`review_dir_for`). Existing sheets of the same names are
            replaced.
        per_label: at most this many crops per sheet, spread evenly over the folder's
            manifest rows (:func:`spread`), the same ones every time.
        thumb_px: the side of each thumbnail (32 or more).
        check_margin: a track whose median distance is within this of the run's
            tolerance is shown first, one crop, and counted as to check
            (:func:`track_margins`).

    Returns:
        The sheets written, by folder name. Only saved crops whose file exists are shown
        (not the blurry ones of ``--save-blurry``); a manifest without any gives none.

    Raises:
        UsageError: ``target`` or its manifest is missing, ``out_dir`` is inside
            ``target`` or cannot be written, or ``per_label`` or ``thumb_px`` is too small.
    """
    if per_label < 1:
        raise UsageError(f"crops per sheet must be 1 or more, got {per_label}")
    if thumb_px < 32:
        raise UsageError(f"review thumbnails must be 32 px or more, got {thumb_px}")
    manifest = dataset_manifest(target)
    out_dir = review_dir_for(target) if out_dir is None else out_dir
    if inside(target, out_dir):
        raise UsageError(
            f"{out_dir}: the review sheets must go outside the dataset {target}: "
            "dataset loaders would take the folder as a class or walk into it"
        )
    present, lost = saved_rows(target, manifest)
    by_folder: dict[str, list[dict[str, str]]] = {}
    for row in present:
        by_folder.setdefault(folder_of(row["path"]) or "", []).append(row)
    missing = Counter(folder_of(row["path"]) or "" for row in lost)
    if by_folder:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{out_dir}: cannot create the review folder: {exc}") from exc
    sheets: list[ReviewSheet] = []
    tolerance = run_tolerance(target)
    if math.isnan(tolerance):
        known = [_number(r["distance"]) for v in by_folder.values() for r in v]
        tolerance = max((d for d in known if math.isfinite(d)), default=math.nan)
    all_tracks: list[TrackMargin] = []
    for folder in sorted(by_folder):
        held = by_folder[folder]
        tracks = track_margins(held, tolerance)
        all_tracks += tracks
        doubtful = [t for t in tracks if not t.margin >= check_margin]
        first = doubtful[:per_label]
        shown = {t.worst["path"] for t in first}
        rest = [r for r in held if r["path"] not in shown]
        sample = [rest[i] for i in spread(len(rest), per_label - len(first))]
        sample.sort(key=_doubt)  # stable: equal distances stay in manifest order
        ordered = [t.worst for t in first] + sample
        sheet = ReviewSheet(
            path=out_dir / _sheet_file(folder),
            folder=folder,
            label=held[0]["label"],
            crops=len(held),
            shown=len(ordered),
            missing=missing.get(folder, 0),
            distances=tuple(_number(r["distance"]) for r in ordered),
            to_check=len(doubtful),
            to_check_crops=sum(len(t.rows) for t in doubtful),
            tolerance=tolerance,
            check_margin=check_margin,
        )
        tiles = [_tile(target, t.worst, thumb_px, t) for t in first]
        tiles += [_tile(target, row, thumb_px) for row in sample]
        save_sheet(
            draw_sheet(_title(sheet), _summary(sheet), GREY, tiles, thumb_px, COLUMNS, 1),
            sheet.path,
        )
        sheets.append(sheet)
    if by_folder:
        atomic_write_bytes(out_dir / CHECK_CSV, _check_csv(all_tracks, check_margin))
    return sheets


def _check_csv(tracks: list[TrackMargin], check_margin: float) -> bytes:
    """Every track, least margin first: what to look at, and which crops to delete."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["check", "margin", "distance", "folder", "video", "track", "crops", "look_at", "paths"]
    )
    for track in sorted(tracks, key=lambda t: (math.isnan(t.margin), t.margin, t.folder)):
        writer.writerow(
            [
                int(not track.margin >= check_margin),
                f"{track.margin:.4f}",
                f"{track.distance:.4f}",
                track.folder,
                track.video,
                track.track,
                len(track.rows),
                track.worst["path"],
                " ".join(r["path"] for r in track.rows),
            ]
        )
    return buffer.getvalue().encode("utf-8")


def _title(sheet: ReviewSheet) -> str:
    return sheet.folder if sheet.label == sheet.folder else f"{sheet.folder}  ({sheet.label})"


def _summary(sheet: ReviewSheet) -> str:
    text = f"{sheet.shown} of {counted(sheet.crops, 'crop')}"
    if sheet.to_check:
        text += (
            f"; first the {counted(sheet.to_check, 'track')} "
            f"({counted(sheet.to_check_crops, 'crop')}) within "
            f"{sheet.check_margin:g} of the tolerance {sheet.tolerance:g}: check these"
        )
    text += "; then largest distance first"
    if sheet.missing:
        text += f"; {sheet.missing} listed in the manifest but missing"
    return text


def describe(sheet: ReviewSheet) -> str:
    """A one-line summary of a sheet, for the command line."""
    shown = [d for d in sheet.distances if not math.isnan(d)]
    text = f"{sheet.path}: {sheet.folder}, {sheet.shown} of {counted(sheet.crops, 'crop')}"
    if shown:
        median = sheet.median_distance
        text += f", distance {min(shown):.3f}-{max(shown):.3f} (median {median:.3f})"
    if sheet.missing:
        text += f", {sheet.missing} missing"
    text += (
        f"; to check: {counted(sheet.to_check, 'track')} ({counted(sheet.to_check_crops, 'crop')})"
    )
    return text
