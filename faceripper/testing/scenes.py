"""Scenes of a ground-truth video: face photos (:class:`FaceSource`), where each face
is in each frame (:class:`PlacedFace`, :class:`Shot`), and random scenes
(:func:`make_scenes`).

Sizes: a face's size is the height of its detected box (dlib's boxes are nearly
square). See :mod:`faceripper.testing`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.geometry import box_areas
from faceripper.images import is_image_name, load_rgb

#: Each side of a face box grows by this fraction of the box to give the region that is
#: cut from the photo and pasted (hair, chin, some background).
CROP_MARGIN = 0.6
#: Pasted pixels are opaque out to this many half-box-widths from the face centre
#: (elliptic distance; the box corners lie at sqrt(2))...
FEATHER_INNER = 1.6
#: ...and fade linearly to transparent at this distance (the crop's edge, 1 + 2 * 0.6).
FEATHER_OUTER = 1.0 + 2.0 * CROP_MARGIN


Box = tuple[int, int, int, int]
FloatBox = tuple[float, float, float, float]


# --------------------------------------------------------------------------------------
# Face sources
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceSource:
    """One photo of one person and where the face is in it.

    Attributes:
        path: the photo file.
        identity: who it shows (for LFW, the folder name such as ``"Halle_Berry"``).
        box: the face box in the photo's pixels, ``(top, right, bottom, left)``, as
            found by :func:`faceripper.detector.detect_faces` (largest face).
    """

    path: Path
    identity: str
    box: Box

    @property
    def size(self) -> int:
        """The face box height in the photo, pixels: the native size of this face."""
        return self.box[2] - self.box[0]

    @property
    def aspect(self) -> float:
        """Face box width divided by height."""
        return (self.box[1] - self.box[3]) / max(self.size, 1)


def load_face_sources(
    folder_or_paths: Path | str | Iterable[Path | str], identity: str | None = None
) -> list[FaceSource]:
    """Detect the face in each photo, once, and return the photos that have one.

    Args:
        folder_or_paths: a folder, searched recursively for images (sorted by path), or
            image paths. LFW's ``lfw_dev`` root or one person's folder both work.
        identity: every photo's identity; by default the name of the photo's folder.

    Returns:
        One :class:`FaceSource` per photo in which dlib's HOG detector (upsample 1)
        finds a face, with the largest face's box; photos without one are skipped.
    """
    from faceripper.detector import detect_faces

    if isinstance(folder_or_paths, (str, Path)):
        root = Path(folder_or_paths)
        if root.is_dir():
            paths = sorted(p for p in root.rglob("*") if p.is_file() and is_image_name(p))
        else:
            paths = [root]
    else:
        paths = [Path(p) for p in folder_or_paths]
    sources = []
    for path in paths:
        boxes = detect_faces(load_rgb(path), upsample=1)
        if len(boxes) == 0:
            continue
        top, right, bottom, left = (int(v) for v in boxes[int(np.argmax(box_areas(boxes)))])
        name = identity if identity is not None else path.parent.name
        sources.append(FaceSource(path, name, (top, right, bottom, left)))
    return sources


def sources_by_identity(sources: Iterable[FaceSource]) -> dict[str, list[FaceSource]]:
    """Group face sources by identity, keeping their order."""
    groups: dict[str, list[FaceSource]] = {}
    for source in sources:
        groups.setdefault(source.identity, []).append(source)
    return groups


# --------------------------------------------------------------------------------------
# Scene description
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacedFace:
    """One face shown throughout one shot.

    Centre and size interpolate linearly from start (first frame of the shot) to end
    (last frame), which gives motion and zoom.

    Attributes:
        source: the photo pasted.
        start_xy: face box centre ``(x, y)`` in frame pixels on the shot's first frame.
        end_xy: the same on the shot's last frame.
        start_size: face box height in frame pixels on the first frame (the source's
            box is scaled to this; its width follows the source box's aspect).
        end_size: the same on the last frame.
        blur: Gaussian blur sigma as a fraction of the face size (0 is sharp; 0.03 and
            up is clearly blurred at any size).
        is_target: whether the person is one the extraction looks for, or a distractor.
        gain: brightness factor applied to the pasted pixels (1.0: unchanged).
        noise: standard deviation, in levels (0-255), of Gaussian pixel noise added to
            the pasted face every frame (sensor noise; 0: none).
        soften_px: a mild Gaussian blur, sigma in frame pixels (an in-focus face from a
            soft lens, about 1 px at most); unlike ``blur`` it does not make the face
            "blurred" in the truth.
        jpeg_quality: when 1-100, the resized face is JPEG-compressed at this quality
            before it is pasted (a face that went through another codec); 0: not.
        mirror: paste the photo mirrored left to right (the face turned the other way).
        views: other photos of the same person that the face turns to during the shot
            (a real face's encoding moves as the head turns, the expression and the
            light change; a still photo's does not). The face shows ``source``, then
            each of ``views`` in turn, changing at the times ``view_changes``, and
            cycling back to ``source`` when there are more changes than views. Each
            view is pasted at the same centre and size (its own box scaled to it).
        view_changes: increasing times in (0, 1) at which the face moves to its next
            view; empty: ``source`` throughout.
        fade: the change of view is a crossfade over this fraction of the shot,
            centred on each change time (0: a hard switch).
        wobble: per-frame jitter of the head as a fraction of the face size: size,
            centre (in face sizes) and gain each move by up to about this much, frame to
            frame (drawn from the frame index; 0: none, the face glides smoothly).
    """

    source: FaceSource
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    start_size: float
    end_size: float
    blur: float = 0.0
    is_target: bool = True
    gain: float = 1.0
    noise: float = 0.0
    soften_px: float = 0.0
    jpeg_quality: int = 0
    mirror: bool = False
    views: tuple[FaceSource, ...] = ()
    view_changes: tuple[float, ...] = ()
    fade: float = 0.0
    wobble: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "views", tuple(self.views))
        object.__setattr__(self, "view_changes", tuple(self.view_changes))
        if any(v.identity != self.source.identity for v in self.views):
            raise ValueError("every view of a face shows the same person")
        if self.view_changes and not self.views:
            raise ValueError("view_changes need views")
        changes = self.view_changes
        if any(not 0 < c < 1 for c in changes) or list(changes) != sorted(changes):
            raise ValueError("view_changes are increasing times in (0, 1)")
        if self.fade < 0 or self.wobble < 0:
            raise ValueError("fade and wobble must be >= 0")
        if self.start_size <= 0 or self.end_size <= 0:
            raise ValueError("face sizes must be positive")
        if self.blur < 0 or self.soften_px < 0 or self.noise < 0:
            raise ValueError("blur, soften_px and noise must be >= 0")
        if self.gain <= 0:
            raise ValueError("gain must be positive")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be 0 (none) to 100")

    @property
    def all_views(self) -> tuple[FaceSource, ...]:
        """``source`` followed by ``views``."""
        return (self.source, *self.views)

    def view_weights(self, t: float) -> tuple[int, int, float]:
        """Which views show at ``t``: ``(view, next view, weight of the next)``.

        Indices into :attr:`all_views`; the weight is 0 outside a crossfade, and rises
        from 0 to 1 across ``fade`` around each change.
        """
        n = len(self.all_views)
        half = self.fade / 2.0
        index = 0
        for change in self.view_changes:
            if t >= change + half:
                index += 1
            elif t > change - half:
                weight = (t - (change - half)) / max(self.fade, 1e-9)
                return index % n, (index + 1) % n, float(weight)
            else:
                break
        return index % n, index % n, 0.0

    def at(self, t: float) -> tuple[float, float, float]:
        """Centre x, centre y and size at ``t`` in [0, 1] through the shot."""
        return (
            self.start_xy[0] + (self.end_xy[0] - self.start_xy[0]) * t,
            self.start_xy[1] + (self.end_xy[1] - self.start_xy[1]) * t,
            self.start_size + (self.end_size - self.start_size) * t,
        )

    def nominal_box(self, t: float) -> FloatBox:
        """The face box (top, right, bottom, left) at ``t``, unrounded and unclipped."""
        cx, cy, size = self.at(t)
        half_w = size * self.source.aspect / 2.0
        return (cy - size / 2.0, cx + half_w, cy + size / 2.0, cx - half_w)


def _grow(box: FloatBox, margin: float) -> FloatBox:
    top, right, bottom, left = box
    pad_x, pad_y = (right - left) * margin, (bottom - top) * margin
    return (top - pad_y, right + pad_x, bottom + pad_y, left - pad_x)


def _intersects(a: FloatBox, b: FloatBox) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[3] < b[1] and b[3] < a[1]


def shot_times(n_frames: int) -> npt.NDArray[np.float64]:
    return np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)


def faces_overlap(a: PlacedFace, b: PlacedFace, n_frames: int) -> bool:
    """Whether the pasted region of one face covers the other's face box in any frame.

    The pasted region is the face box grown by :data:`CROP_MARGIN` on each side.
    """
    for t in shot_times(n_frames):
        box_a, box_b = a.nominal_box(float(t)), b.nominal_box(float(t))
        if _intersects(_grow(box_a, CROP_MARGIN), box_b) or _intersects(
            _grow(box_b, CROP_MARGIN), box_a
        ):
            return True
    return False


@dataclass(frozen=True)
class Shot:
    """A run of frames over one background with a few faces.

    Attributes:
        n_frames: number of frames, >= 1.
        faces: the faces shown; no face's pasted region may cover another face's box in
            any frame (:func:`faces_overlap`), or a ``ValueError`` is raised.
        background_rgb: the background's base colour, RGB.
        texture_seed: seed of a soft noise texture over the base colour; ``None`` for a
            plain background.
    """

    n_frames: int
    faces: tuple[PlacedFace, ...] = ()
    background_rgb: tuple[int, int, int] = (128, 128, 128)
    texture_seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "faces", tuple(self.faces))
        if self.n_frames < 1:
            raise ValueError(f"a shot needs at least one frame, got {self.n_frames}")
        for i, a in enumerate(self.faces):
            for b in self.faces[i + 1 :]:
                if faces_overlap(a, b, self.n_frames):
                    raise ValueError(
                        f"faces of {a.source.identity} and {b.source.identity} overlap in a shot"
                    )


# --------------------------------------------------------------------------------------
# Random scenes
# --------------------------------------------------------------------------------------


def place_path(
    rng: np.random.Generator,
    source: FaceSource,
    size0: float,
    size1: float,
    frame_size: tuple[int, int],
    max_move_px: float,
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """A random start and end centre for a face that stays inside the frame.

    The face's box (``max(size0, size1)`` high, the source's aspect) fits the frame at
    both ends, and the end is at most ``max_move_px`` from the start. None when the
    face does not fit at all.
    """
    width, height = frame_size
    half_w = max(size0, size1) * source.aspect / 2.0
    half_h = max(size0, size1) / 2.0
    # Centres are rounded to 0.01 px; round the allowed range inwards so that the face
    # box stays inside the frame after rounding.
    x_lo, x_hi = math.ceil(half_w * 100) / 100, math.floor((width - half_w) * 100) / 100
    y_lo, y_hi = math.ceil(half_h * 100) / 100, math.floor((height - half_h) * 100) / 100
    if x_lo > x_hi or y_lo > y_hi:
        return None
    x0 = round(float(rng.uniform(x_lo, x_hi)), 2)
    y0 = round(float(rng.uniform(y_lo, y_hi)), 2)
    angle = float(rng.uniform(0.0, 2.0 * math.pi))
    distance = float(rng.uniform(0.0, max_move_px))
    x1 = min(max(round(x0 + distance * math.cos(angle), 2), x_lo), x_hi)
    y1 = min(max(round(y0 + distance * math.sin(angle), 2), y_lo), y_hi)
    return (x0, y0), (x1, y1)


def _pick_source(
    rng: np.random.Generator,
    order: list[str],
    people_sources: Mapping[str, Sequence[FaceSource]],
    distractor_sources: Sequence[FaceSource],
    distractor_probability: float,
) -> tuple[FaceSource, bool] | None:
    """The photo of a shot's next face and whether it is a target: a distractor with
    ``distractor_probability``, else a photo of the first person of ``order`` with
    photos, who is taken out of ``order`` (a shot never shows one person twice). None
    when no target person is left."""
    is_target = not (distractor_sources and rng.random() < distractor_probability)
    if is_target:
        candidates = [p for p in order if people_sources[p]]
        if not candidates:
            return None
        person = candidates[0]
        order.remove(person)
        photos = people_sources[person]
        return photos[int(rng.integers(len(photos)))], True
    return distractor_sources[int(rng.integers(len(distractor_sources)))], False


def _draw_sizes(
    rng: np.random.Generator,
    cap: float,
    min_size_px: float,
    small_probability: float,
    size_range_px: tuple[float, float],
    max_zoom: float,
) -> tuple[float, float]:
    """A face's start and end size (box heights, px, at most ``cap``): small (under
    ``min_size_px``) with ``small_probability``, else drawn from ``size_range_px`` and
    zoomed by a factor in ``[1 / max_zoom, max_zoom]``."""
    if rng.random() < small_probability:
        low, high = 0.5 * min_size_px, 0.9 * min_size_px
        size0, size1 = (float(v) for v in rng.uniform(low, high, 2))
    else:
        size0 = float(rng.uniform(*size_range_px))
        zoom = float(rng.uniform(-math.log(max_zoom), math.log(max_zoom)))
        size1 = size0 * math.exp(zoom)
    return round(min(size0, cap), 2), round(min(size1, cap), 2)


def make_scenes(
    rng_seed: int,
    people_sources: Mapping[str, Sequence[FaceSource]],
    distractor_sources: Sequence[FaceSource] = (),
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    n_shots: int = 4,
    frames_per_shot: int | tuple[int, int] = (45, 90),
    faces_per_shot: tuple[int, int] = (1, 3),
    size_range_px: tuple[float, float] = (85.0, 110.0),
    min_size_px: float = 80.0,
    small_probability: float = 0.15,
    blur_probability: float = 0.2,
    blur_range: tuple[float, float] = (0.03, 0.06),
    distractor_probability: float = 0.25,
    max_speed_px_s: float = 60.0,
    max_zoom: float = 1.2,
    max_upscale: float = 1.0,
    max_tries: int = 100,
) -> list[Shot]:
    """Draw random shots: several people per shot, moving, zooming, some blurred or small.

    Deterministic for a seed and the same inputs. Pass as ``people_sources`` only the
    photos meant to appear in the video (keep the reference photos aside).

    Args:
        rng_seed: seed of :func:`numpy.random.default_rng`.
        people_sources: target identity -> its photos; a shot never shows one person
            twice.
        distractor_sources: photos of people the extraction should not save.
        frame_size: ``(width, height)`` in pixels.
        fps: frame rate, used to turn ``max_speed_px_s`` into motion per shot.
        n_shots: number of shots.
        frames_per_shot: a fixed count, or ``(low, high)`` inclusive to draw from.
        faces_per_shot: ``(low, high)`` inclusive; fewer are placed when no free
            room is found in ``max_tries`` attempts.
        size_range_px: face sizes (box heights) of ordinary faces, drawn uniformly.
        min_size_px: the extraction's minimum face size; "small" faces stay below it.
        small_probability: chance that a face is small: between half of
            ``min_size_px`` and 90% of it throughout the shot.
        blur_probability: chance that a face is blurred for its whole shot.
        blur_range: blur sigma as a fraction of face size, drawn uniformly.
        distractor_probability: chance that a face is a distractor (when there are any).
        max_speed_px_s: largest speed of a face's centre.
        max_zoom: the end size is the start size times a factor in
            ``[1 / max_zoom, max_zoom]``.
        max_upscale: no face is drawn larger than its photo's native size times this
            (keep 1.0 for LFW; larger faces turn soft).
        max_tries: placement attempts per face.

    Returns:
        ``n_shots`` shots, each with a random textured background.
    """
    rng = np.random.default_rng(rng_seed)
    identities = sorted(people_sources)
    width, height = frame_size
    shots = []
    for _ in range(n_shots):
        if isinstance(frames_per_shot, int):
            n_frames = frames_per_shot
        else:
            n_frames = int(rng.integers(frames_per_shot[0], frames_per_shot[1] + 1))
        n_faces = int(rng.integers(faces_per_shot[0], faces_per_shot[1] + 1))
        max_move = max_speed_px_s * max(n_frames - 1, 0) / fps
        order = [identities[int(i)] for i in rng.permutation(len(identities))]
        placed: list[PlacedFace] = []
        for _slot in range(n_faces):
            picked = _pick_source(
                rng, order, people_sources, distractor_sources, distractor_probability
            )
            if picked is None:
                continue
            source, is_target = picked
            size0, size1 = _draw_sizes(
                rng,
                source.size * max_upscale,
                min_size_px,
                small_probability,
                size_range_px,
                max_zoom,
            )
            blur = (
                round(float(rng.uniform(*blur_range)), 4)
                if rng.random() < blur_probability
                else 0.0
            )
            for _try in range(max_tries):
                ends = place_path(rng, source, size0, size1, (width, height), max_move)
                if ends is None:
                    break
                face = PlacedFace(source, ends[0], ends[1], size0, size1, blur, is_target)
                if not any(faces_overlap(face, other, n_frames) for other in placed):
                    placed.append(face)
                    break
        colour = tuple(int(c) for c in rng.integers(40, 216, 3))
        shots.append(
            Shot(n_frames, tuple(placed), colour, int(rng.integers(2**31)))  # type: ignore[arg-type]
        )
    return shots
