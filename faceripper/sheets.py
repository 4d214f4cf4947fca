"""Contact sheets: a grid of thumbnails with captions, drawn as a PNG, and a viewer.

Shared by ``check-refs --sheet`` (:mod:`faceripper.checkrefs`) and ``review``
(:mod:`faceripper.review`): :func:`draw_sheet` lays out a title, a summary line and a
grid of :class:`SheetTile`, in fonts that can draw every label (CJK included);
:func:`save_sheet` writes it atomically; :func:`open_file` shows a file in the system's
viewer. Colours are RGB tuples.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from faceripper.errors import UsageError
from faceripper.fileio import atomic_writer
from faceripper.images import ImageRGB

WHITE = (255, 255, 255)
BLACK = (20, 20, 20)
GREY = (150, 150, 150)
LIGHT = (225, 225, 225)
RED = (215, 25, 25)
ORANGE = (200, 110, 0)

# Fonts tried in order (Pillow searches the system font folders for bare names); the
# first ones cover CJK and other scripts, so labels such as 名井 南 render legibly.
_FONT_CANDIDATES = (
    "NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "msyh.ttc",
    "meiryo.ttc",
    "malgun.ttf",
    "DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "arial.ttf",
)


@lru_cache(maxsize=8)
def _fonts(size: int) -> tuple[Any, ...]:
    """Every candidate font the system has, at ``size`` pixels, Pillow's default last."""
    from PIL import ImageFont

    found: list[Any] = []
    for candidate in _FONT_CANDIDATES:
        try:
            found.append(ImageFont.truetype(candidate, size))
        except OSError:
            continue
    try:
        found.append(ImageFont.load_default(size=size))
    except TypeError:  # Pillow < 10.1: a fixed-size bitmap font
        found.append(ImageFont.load_default())
    return tuple(found)


@lru_cache(maxsize=4096)
def _glyph(font: Any, char: str) -> bytes:
    """How ``font`` draws ``char``, as bytes to compare (b"" if it cannot draw it)."""
    from PIL import Image, ImageDraw

    try:
        left, top, right, bottom = (int(v) for v in font.getbbox(char))
        image = Image.new("L", (max(1, right - left) + 2, max(1, bottom - top) + 2))
        ImageDraw.Draw(image).text((1 - left, 1 - top), char, font=font, fill=255)
    except (UnicodeError, OSError, ValueError):
        return b""
    return f"{image.size}".encode() + image.tobytes()


def _covers(font: Any, text: str) -> bool:
    """Whether ``font`` has a glyph for every character of ``text``.

    A missing character is drawn as the font's "notdef" glyph, the same for all of them,
    so it is recognised by comparing with a private-use character no font has.
    """
    missing = _glyph(font, "\U0010fffd")
    for char in set(text):
        if char.isascii() or char.isspace():
            continue
        drawn = _glyph(font, char)
        if not drawn or drawn == missing:
            return False
    return True


def _font(size: int, text: str = "") -> Any:
    """The first font that can draw ``text`` (else the first font) at ``size`` pixels."""
    fonts = _fonts(size)
    return next((f for f in fonts if _covers(f, text)), fonts[0])


def _draw_text(draw: Any, xy: tuple[int, int], text: str, size: int, fill: Any, width: int) -> None:
    """Draw ``text`` at ``xy`` in a font that has its characters, shortened to ``width``.

    When no font can draw some characters they show as the font's box glyph; a font that
    cannot encode them at all (Pillow's old bitmap font) gets an ASCII transliteration.
    """
    font = _font(size, text)
    try:
        draw.text(xy, _fit(text, font, width), fill=fill, font=font)
    except (UnicodeError, OSError, ValueError):
        plain = text.encode("ascii", "replace").decode("ascii")
        draw.text(xy, _fit(plain, font, width), fill=fill, font=font)


def _fit(text: str, font: Any, width: int) -> str:
    """``text`` shortened in the middle with "..." until it fits ``width`` pixels."""
    if font.getlength(text) <= width:
        return text
    keep = len(text)
    while keep > 1:
        keep -= 1
        head = (keep + 1) // 2
        tail = keep - head
        short = text[:head] + "..." + (text[-tail:] if tail else "")
        if font.getlength(short) <= width:
            return short
    return "..."


def fit_square(image: ImageRGB, size: int) -> ImageRGB:
    """``image`` scaled to fit a ``size`` square, centred on a light grey background."""
    import cv2

    height, width = image.shape[:2]
    scale = size / max(height, width, 1)
    new_w = max(1, min(size, round(width * scale)))
    new_h = max(1, min(size, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    tile = np.full((size, size, 3), LIGHT, dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    tile[top : top + new_h, left : left + new_w] = resized
    return tile


Colour = tuple[int, int, int]


@dataclass
class SheetTile:
    """One thumbnail of a contact sheet (:func:`draw_sheet`).

    Attributes:
        image: the ``thumb_px`` square thumbnail; None draws a crossed placeholder.
        lines: caption lines under it, each with its colour.
        frame: the colour of the frame around the thumbnail.
        frame_px: the frame's width.
        badge: text on a label in the thumbnail's top-left corner ("" for none).
        small: caption lines in a smaller font, below ``lines``.
    """

    image: ImageRGB | None
    lines: list[tuple[str, Colour]]
    frame: Colour
    frame_px: int
    badge: str = ""
    small: list[tuple[str, Colour]] = field(default_factory=list)


def draw_sheet(
    title: str,
    summary: str,
    summary_colour: Colour,
    tiles: Sequence[SheetTile],
    thumb_px: int,
    columns: int = 6,
    caption_lines: int = 3,
) -> Any:
    """Draw a contact sheet as a PIL image: a title, a summary line, then a grid of tiles.

    Args:
        title: the big first line.
        summary: the line under it, in ``summary_colour``.
        tiles: the thumbnails, left to right then top to bottom.
        thumb_px: the side of each thumbnail; the text sizes follow it.
        columns: at most this many tiles per row.
        caption_lines: room kept under every thumbnail for this many ``lines``, plus
            room for the most ``small`` lines any tile has.
    """
    import cv2
    from PIL import Image, ImageDraw

    text_px = max(11, min(18, thumb_px // 11))
    small_px = max(10, round(text_px * 0.85))
    title_px = round(text_px * 1.6)
    badge_px = max(10, round(text_px * 1.1))
    line_h = round(text_px * 1.35)
    small_h = round(small_px * 1.3)
    pad = max(8, thumb_px // 16)

    columns = max(1, min(len(tiles), columns))
    rows = max(1, math.ceil(len(tiles) / columns))
    small_lines = max((len(t.small) for t in tiles), default=0)
    caption_h = caption_lines * line_h + small_lines * small_h + pad // 2
    cell_w, cell_h = thumb_px + pad, thumb_px + caption_h + pad
    header_h = round(title_px * 1.4) + line_h + 2 * pad
    width = max(pad + columns * cell_w, 360)
    height = header_h + rows * cell_h + pad

    canvas = np.full((height, width, 3), WHITE, dtype=np.uint8)
    origins: list[tuple[int, int]] = []
    for index, tile in enumerate(tiles):
        x = pad + (index % columns) * cell_w
        y = header_h + (index // columns) * cell_h
        origins.append((x, y))
        if tile.image is not None:
            canvas[y : y + thumb_px, x : x + thumb_px] = tile.image
        else:
            canvas[y : y + thumb_px, x : x + thumb_px] = LIGHT
            cv2.line(canvas, (x, y), (x + thumb_px - 1, y + thumb_px - 1), GREY, 1)
            cv2.line(canvas, (x + thumb_px - 1, y), (x, y + thumb_px - 1), GREY, 1)
        inset = tile.frame_px // 2
        cv2.rectangle(
            canvas,
            (x - inset, y - inset),
            (x + thumb_px - 1 + inset, y + thumb_px - 1 + inset),
            tile.frame,
            tile.frame_px,
        )

    sheet = Image.fromarray(canvas)
    draw = ImageDraw.Draw(sheet)
    _draw_text(draw, (pad, pad), title, title_px, BLACK, width - 2 * pad)
    summary_xy = (pad, pad + round(title_px * 1.4))
    _draw_text(draw, summary_xy, summary, text_px, summary_colour, width - 2 * pad)
    for tile, (x, y) in zip(tiles, origins, strict=True):
        if tile.badge:
            badge_w = round(_font(badge_px).getlength(tile.badge)) + 8
            fill = RED if tile.frame == RED else GREY
            draw.rectangle(
                (x, y, x + min(badge_w, thumb_px) - 1, y + round(badge_px * 1.3)), fill=fill
            )
            _draw_text(draw, (x + 4, y + 1), tile.badge, badge_px, WHITE, thumb_px - 8)
        line_y = y + thumb_px + pad // 2
        for text, colour in tile.lines:
            _draw_text(draw, (x, line_y), text, text_px, colour, thumb_px)
            line_y += line_h
        for text, colour in tile.small:
            _draw_text(draw, (x, line_y), text, small_px, colour, thumb_px)
            line_y += small_h
    return sheet


def save_sheet(sheet: Any, path: Path) -> None:
    """Write a sheet from :func:`draw_sheet` as a PNG, atomically.

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        with atomic_writer(path, fsync=False) as stream:
            sheet.save(stream, format="PNG", optimize=False)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the contact sheet: {exc}") from exc


# ---------------------------------------------------------------------------- viewer


def open_file(path: Path) -> None:
    """Open a file in the system's default viewer, without waiting for it.

    Uses ``os.startfile`` on Windows, ``open`` on macOS and ``xdg-open`` elsewhere.

    Raises:
        UsageError: the file does not exist, or no viewer is available (no ``xdg-open``,
            no graphical session, or the viewer failed to start).
    """
    if not path.exists():
        raise UsageError(f"{path}: cannot open, the file does not exist")
    if sys.platform == "win32":
        try:
            os.startfile(path)  # type: ignore[attr-defined,unused-ignore]
        except OSError as exc:
            raise UsageError(f"{path}: cannot open it in a viewer: {exc}") from exc
        return
    command = "open" if sys.platform == "darwin" else "xdg-open"
    program = shutil.which(command)
    if program is None:
        raise UsageError(
            f"{path}: cannot open it: no viewer ({command} not found); open the file yourself"
        )
    if (
        sys.platform != "darwin"
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
    ):
        raise UsageError(
            f"{path}: cannot open it: no graphical session (DISPLAY is not set); "
            "open the file yourself"
        )
    try:
        subprocess.Popen(
            [program, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise UsageError(f"{path}: cannot open it with {command}: {exc}") from exc
