"""The report of ``faceripper check-refs``: a :class:`~faceripper.checkrefs.RefCheck` as
rich tables (:func:`summary_tables`) and as one contact-sheet PNG per person
(:func:`write_contact_sheets`, drawn by :mod:`faceripper.sheets`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceripper.checkrefs import (
    SAME_PERSON_DISTANCE,
    PersonCheck,
    RefCheck,
    ReferenceCheck,
    count_text,
    distance_text,
)
from faceripper.config import label_problem
from faceripper.errors import ImageReadError, UsageError
from faceripper.geometry import expand_boxes
from faceripper.images import ImageRGB, load_rgb
from faceripper.sheets import (
    BLACK,
    GREY,
    ORANGE,
    RED,
    SheetTile,
    draw_sheet,
    fit_square,
    save_sheet,
)

if TYPE_CHECKING:
    from rich.table import Table


# ---------------------------------------------------------------------------- tables


def summary_tables(check: RefCheck, max_pairs: int = 20) -> list[Table]:
    """The check as rich tables (data to print, nothing is printed).

    Args:
        check: from :func:`check_references`.
        max_pairs: at most this many cross-person pairs are listed; a caption counts the rest.

    Returns:
        Three ``rich.table.Table``: one row per person (the label column only when some
        label differs from its person's name); the flagged references; the confusable
        pairs of different people (or the closest pair when none is). A fourth lists
        the photos whose face only a fallback search found, and which, when there are any.
    """
    tables = [_people_table(check), _outliers_table(check), _pairs_table(check, max_pairs)]
    fallback = _fallback_table(check)
    if fallback is not None:
        tables.append(fallback)
    return tables


def _people_table(check: RefCheck) -> Table:
    """One row per person: photos, what became of them, median distance, outliers."""
    from rich.table import Table
    from rich.text import Text

    with_labels = any(p.label != p.name for p in check.people)
    people = Table(title="Reference photos per person", title_justify="left")
    people.add_column("person", no_wrap=True)
    if with_labels:
        people.add_column("label", no_wrap=True)
    for header in ("photos", "usable", "no face", "several faces", "unreadable"):
        people.add_column(header, justify="right")
    people.add_column("median distance", justify="right")
    people.add_column("outliers", justify="right")

    def number(value: int, bad: str = "yellow") -> Text:
        return Text(str(value), style=bad if value else "dim")

    for person in check.people:
        label = [Text(person.label)] if with_labels else []
        people.add_row(
            Text(person.name),
            *label,
            Text(str(person.photos)),
            Text(str(person.usable), style="bold red" if person.usable == 0 else ""),
            number(person.no_face),
            number(person.several_faces),
            number(person.unreadable),
            Text(distance_text(person.median_distance)),
            number(len(person.outliers), bad="bold red"),
        )
    total_refs = sum(p.usable for p in check.people)
    people.caption = (
        f"{len(check.people)} people, {total_refs} usable photos; "
        "median distance: of each photo to the person's others (same person: under "
        f"{SAME_PERSON_DISTANCE})"
    )
    return people


def _outliers_table(check: RefCheck) -> Table:
    """The flagged references, with the nearest other person and why."""
    from rich.table import Table
    from rich.text import Text

    flagged = Table(
        title="Outliers: photos unlike the person's others (wrong person or poor photo)",
        title_justify="left",
    )
    flagged.add_column("person", no_wrap=True)
    flagged.add_column("photo")
    flagged.add_column("distance", justify="right")
    flagged.add_column("nearest other person")
    flagged.add_column("why")
    for person, ref in check.outliers:
        nearest = (
            Text(f"{ref.nearest_person} {ref.nearest_distance:.3f}")
            if ref.nearest_person is not None
            else Text("-")
        )
        flagged.add_row(
            Text(person.name),
            Text(ref.source.name),
            Text(f"{ref.distance:.3f}", style="bold red"),
            nearest,
            Text(ref.reason),
        )
    if not check.outliers:
        flagged.caption = "no outliers"
    return flagged


def _pairs_table(check: RefCheck, max_pairs: int) -> Table:
    """The confusable pairs of different people (at most ``max_pairs``), or the closest."""
    from rich.table import Table
    from rich.text import Text

    shown = check.confusable[:max_pairs]
    if shown:
        title = f"Confusable: photos of different people closer than {check.tolerance:g}"
    else:
        title = "Closest photos of two different people"
    pairs = Table(title=title, title_justify="left")
    for header in ("person", "photo", "person", "photo"):
        pairs.add_column(header)
    pairs.add_column("distance", justify="right")
    for item in shown or ([check.closest_pair] if check.closest_pair else []):
        pairs.add_row(
            Text(item.person_a),
            Text(item.source_a.name),
            Text(item.person_b),
            Text(item.source_b.name),
            Text(
                f"{item.distance:.3f}", style="bold red" if item.distance < check.tolerance else ""
            ),
        )
    if len(check.confusable) > len(shown):
        pairs.caption = f"and {len(check.confusable) - len(shown)} more pairs"
    elif not shown:
        pairs.caption = (
            f"no pair under {check.tolerance:g}"
            if check.closest_pair
            else "fewer than two people have usable photos"
        )
    return pairs


def _fallback_table(check: RefCheck) -> Table | None:
    """The photos whose face only a fallback search found; None when there are none."""
    from rich.table import Table
    from rich.text import Text

    found = [(p, r) for p in check.people for r in p.references if r.found_by]
    if found:
        fallback = Table(
            title="Faces found only by a fallback search (tight crops: no margin around the face)",
            title_justify="left",
        )
        for header in ("person", "photo", "found by"):
            fallback.add_column(header, no_wrap=header != "photo")
        for person, ref in found:
            fallback.add_row(Text(person.name), Text(ref.source.name), Text(ref.found_by))
        return fallback
    return None


# ---------------------------------------------------------------------------- contact sheets


def _face_thumb(ref: ReferenceCheck, size: int) -> ImageRGB | None:
    """The face of a reference with a margin around it, as a ``size`` square."""
    try:
        image = load_rgb(ref.source)
    except ImageReadError:
        return None
    box = np.array([ref.box_trbl], dtype=np.int64)
    top, right, bottom, left = expand_boxes(box, 0.3, image.shape)[0]
    crop = image[top:bottom, left:right]
    if crop.size == 0:
        return None
    return fit_square(crop, size)


def _photo_thumb(path: Path, size: int) -> ImageRGB | None:
    try:
        return fit_square(load_rgb(path), size)
    except ImageReadError:
        return None


_STATUS_TEXT = {
    "no_face": "NO FACE",
    "unreadable": "UNREADABLE",
    "not_image": "NOT AN IMAGE",
}


def _tiles(person: PersonCheck, check: RefCheck, thumb_px: int) -> list[SheetTile]:
    tiles: list[SheetTile] = []
    for ref in person.references:
        lines = [(ref.source.name, BLACK)]
        if ref.outlier:
            lines.append((f"OUTLIER {distance_text(ref.distance)}", RED))
        elif math.isnan(ref.distance):
            lines.append(("only photo", GREY))
        else:
            high = ref.distance > SAME_PERSON_DISTANCE
            lines.append((f"distance {ref.distance:.3f}", ORANGE if high else BLACK))
        if ref.nearest_person is not None and ref.nearest_distance < check.tolerance:
            lines.append((f"like {ref.nearest_person} {ref.nearest_distance:.3f}", ORANGE))
        elif ref.faces > 1:
            lines.append((f"{ref.faces} faces, largest used", ORANGE))
        elif ref.found_by:
            lines.append((f"found {ref.found_by}", GREY))
        tiles.append(
            SheetTile(
                _face_thumb(ref, thumb_px),
                lines,
                RED if ref.outlier else GREY,
                4 if ref.outlier else 1,
                "OUTLIER" if ref.outlier else "",
            )
        )
    for result in person.unusable:
        status = _STATUS_TEXT.get(result.status, result.status.upper())
        image = _photo_thumb(result.path, thumb_px) if result.status == "no_face" else None
        lines = [(result.path.name, BLACK), (status, GREY)]
        tiles.append(SheetTile(image, lines, GREY, 1, status))
    return tiles


def _sheet(person: PersonCheck, check: RefCheck, thumb_px: int) -> Any:
    """Draw one person's contact sheet as a PIL image."""
    title = person.label if person.label == person.name else f"{person.label}  ({person.name})"
    summary = (
        f"{count_text(person.photos, 'photo')}, {person.usable} usable, "
        f"median distance {distance_text(person.median_distance)}, "
        f"{count_text(len(person.outliers), 'outlier')}"
    )
    if person.usable == 0:
        summary += " - NO USABLE PHOTO"
    summary_colour = RED if person.outliers or person.usable == 0 else GREY
    return draw_sheet(title, summary, summary_colour, _tiles(person, check, thumb_px), thumb_px)


def _sheet_name(person: PersonCheck) -> str:
    """The sheet's file name: the label, made safe if it is not a valid folder name."""
    stem = person.label
    if label_problem(stem):
        stem = "".join(c if c.isalnum() or c in " -_." else "_" for c in person.name).strip(" .")
        stem = stem or "person"
    return f"{stem}.png"


def write_contact_sheets(check: RefCheck, out_dir: Path, thumb_px: int = 160) -> list[Path]:
    """Write one contact-sheet PNG per person, ``<out_dir>/<label>.png``.

    Each sheet shows the face of every usable reference photo (cropped with a margin),
    with its file name and its median distance to the person's other photos; outliers are
    framed in red and marked OUTLIER; a reference closer than the tolerance to another
    person says who. Photos without a face are shown whole with NO FACE, unreadable files
    as grey placeholders. Sheets are written atomically.

    Args:
        check: from :func:`check_references`.
        out_dir: created if needed; existing sheets of the same names are replaced.
        thumb_px: the side of each face thumbnail in pixels (32 or more).

    Returns:
        The sheets written, in the order of ``check.people``.

    Raises:
        UsageError: ``thumb_px`` is under 32, or ``out_dir`` cannot be created or written.
    """
    if thumb_px < 32:
        raise UsageError(f"contact sheet thumbnails must be 32 px or more, got {thumb_px}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the contact sheet folder: {exc}") from exc
    written: list[Path] = []
    for person in check.people:
        path = out_dir / _sheet_name(person)
        save_sheet(_sheet(person, check, thumb_px), path)
        written.append(path)
    return written
