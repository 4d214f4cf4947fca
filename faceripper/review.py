"""Contact sheets of a dataset's crops, to look them over: ``faceripper review``.

:func:`review_dataset` reads ``T/manifest.csv`` and draws one PNG per class folder of
``T``, ``<out>/<folder>.png``: a sample of the folder's saved crops spread evenly over
its manifest rows (so over its videos and their frames), sorted by distance, largest
first, so that the crops most likely to be someone else come first. Each thumbnail is
captioned with its distance and sharpness, and in small text its video and frame.

The sheets go beside the dataset (``<T>-review`` by default), never inside it: dataset
loaders take every folder of ``T`` as a class and walk into class folders.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from faceripper.config import label_problem
from faceripper.errors import ImageReadError, UsageError
from faceripper.images import load_rgb
from faceripper.sheets import BLACK, GREY, SheetTile, draw_sheet, fit_square, save_sheet
from faceripper.writer import MANIFEST_NAME, inside, read_manifest

DEFAULT_PER_LABEL = 48
"""Crops shown per sheet unless told otherwise."""

THUMB_PX = 144
"""The side of a thumbnail on a review sheet, in pixels."""

COLUMNS = 8
"""Thumbnails per row of a review sheet."""


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
        distances: the distances of the crops shown, largest first (as on the sheet).
    """

    path: Path
    folder: str
    label: str
    crops: int
    shown: int
    missing: int
    distances: tuple[float, ...]

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


def _folder_of(path: str) -> str | None:
    """The class folder of a crop's manifest path, or None if it is not ``folder/file``."""
    parts = path.split("/")
    if len(parts) != 2 or not all(parts) or parts[0] in (".", ".."):
        return None
    return parts[0]


def _sheet_file(folder: str) -> str:
    """The sheet's file name: the folder's, made safe if it is not a valid name."""
    stem = folder
    if label_problem(stem):
        stem = "".join(c if c.isalnum() or c in " -_." else "_" for c in folder).strip(" .")
        stem = stem or "label"
    return f"{stem}.png"


def _tile(target: Path, row: dict[str, str], thumb_px: int) -> SheetTile:
    try:
        image = fit_square(load_rgb(target / row["path"]), thumb_px)
    except ImageReadError:
        image = None
    distance, sharpness = _number(row["distance"]), _number(row["sharpness"])
    caption = f"dist {distance:.3f}  sharp {sharpness:.0f}"
    where = f"{Path(row['video']).name} f{row['frame']}"
    return SheetTile(image, [(caption, BLACK)], GREY, 1, small=[(where, GREY)])


def review_dataset(
    target: Path,
    out_dir: Path | None = None,
    per_label: int = DEFAULT_PER_LABEL,
    thumb_px: int = THUMB_PX,
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
    if not target.is_dir():
        what = "does not exist" if not target.exists() else "is not a folder"
        raise UsageError(f"{target}: dataset folder {what}")
    manifest = target / MANIFEST_NAME
    if not manifest.is_file():
        raise UsageError(
            f"{manifest}: no manifest: {target} is not a dataset written by faceripper rip"
        )
    out_dir = review_dir_for(target) if out_dir is None else out_dir
    if inside(target, out_dir):
        raise UsageError(
            f"{out_dir}: the review sheets must go outside the dataset {target}: "
            "dataset loaders would take the folder as a class or walk into it"
        )
    try:
        rows = read_manifest(manifest)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{manifest}: cannot read the manifest: {exc}") from exc
    by_folder: dict[str, list[dict[str, str]]] = {}
    missing: dict[str, int] = {}
    for row in rows:
        folder = _folder_of(row["path"])
        if row["status"] != "saved" or folder is None:
            continue
        if (target / row["path"]).is_file():
            by_folder.setdefault(folder, []).append(row)
        else:
            missing[folder] = missing.get(folder, 0) + 1
    if by_folder:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{out_dir}: cannot create the review folder: {exc}") from exc
    sheets: list[ReviewSheet] = []
    for folder in sorted(by_folder):
        held = by_folder[folder]
        sample = [held[i] for i in spread(len(held), per_label)]
        sample.sort(key=_doubt)  # stable: equal distances stay in manifest order
        sheet = ReviewSheet(
            path=out_dir / _sheet_file(folder),
            folder=folder,
            label=held[0]["label"],
            crops=len(held),
            shown=len(sample),
            missing=missing.get(folder, 0),
            distances=tuple(_number(r["distance"]) for r in sample),
        )
        tiles = [_tile(target, row, thumb_px) for row in sample]
        save_sheet(
            draw_sheet(_title(sheet), _summary(sheet), GREY, tiles, thumb_px, COLUMNS, 1),
            sheet.path,
        )
        sheets.append(sheet)
    return sheets


def _title(sheet: ReviewSheet) -> str:
    return sheet.folder if sheet.label == sheet.folder else f"{sheet.folder}  ({sheet.label})"


def _summary(sheet: ReviewSheet) -> str:
    text = f"{sheet.shown} of {sheet.crops} crops, largest distance first"
    if sheet.missing:
        text += f"; {sheet.missing} listed in the manifest but missing"
    return text


def describe(sheet: ReviewSheet) -> str:
    """A one-line summary of a sheet, for the command line."""
    shown = [d for d in sheet.distances if not math.isnan(d)]
    text = f"{sheet.path}: {sheet.folder}, {sheet.shown} of {sheet.crops} crops"
    if shown:
        median = sheet.median_distance
        text += f", distance {min(shown):.3f}-{max(shown):.3f} (median {median:.3f})"
    if sheet.missing:
        text += f", {sheet.missing} missing"
    return text
