"""Ground-truth videos: real face photos composited into frames at known places.

A synthetic video is described by a list of :class:`Shot`; each shot shows a few
:class:`PlacedFace` for a number of frames, each face moving and zooming linearly from a
start to an end position and size, sharp or Gaussian-blurred, a target person or a
distractor. :func:`render_video` draws the frames, writes the video and, beside it, a
truth CSV with the box of every face in every frame (:class:`TruthRow`);
:func:`evaluate` scores an extraction's manifest against that truth.

Typical use::

    sources = load_face_sources(Path("testdata/lfw_dev"))
    people = sources_by_identity(s for s in sources if s.identity in wanted)
    distractors = [s for s in sources if s.identity not in wanted]
    scenes = make_scenes(7, people, distractors, n_shots=6)
    truth = render_video(Path("clip.avi"), scenes)
    metrics = evaluate(manifest_rows, truth, {"alice": "Alice_Smith"}, min_size_px=80)

Sizes: a face's size is the height of its detected box (dlib's boxes are nearly
square). Labeled Faces in the Wild photos hold faces of about 110 px (dlib boxes of 86
to 129 px, median 107), so keep LFW faces at or below their native size
(``max_upscale=1.0`` in :func:`make_scenes`): scaled up they turn soft and read as
blurry to a Laplacian. Take large sharp faces from bigger photos.

Pixels: every image here is RGB uint8 ``(h, w, 3)``; frames are converted to BGR only
when handed to OpenCV's video writer. Boxes are ``(top, right, bottom, left)`` as in
:mod:`faceripper.geometry`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.geometry import as_boxes, box_areas, iou
from faceripper.images import ImageRGB, is_image_name, load_rgb

#: Each side of a face box grows by this fraction of the box to give the region that is
#: cut from the photo and pasted (hair, chin, some background).
CROP_MARGIN = 0.6
#: Pasted pixels are opaque out to this many half-box-widths from the face centre
#: (elliptic distance; the box corners lie at sqrt(2))...
FEATHER_INNER = 1.6
#: ...and fade linearly to transparent at this distance (the crop's edge, 1 + 2 * 0.6).
FEATHER_OUTER = 1.0 + 2.0 * CROP_MARGIN

#: Columns of the truth CSV, in order.
TRUTH_COLUMNS = (
    "frame",
    "time_s",
    "shot",
    "appearance",
    "identity",
    "is_target",
    "top",
    "right",
    "bottom",
    "left",
    "size_px",
    "blur_sigma_px",
)

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

    def __post_init__(self) -> None:
        if self.start_size <= 0 or self.end_size <= 0:
            raise ValueError("face sizes must be positive")
        if self.blur < 0 or self.soften_px < 0 or self.noise < 0:
            raise ValueError("blur, soften_px and noise must be >= 0")
        if self.gain <= 0:
            raise ValueError("gain must be positive")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError("jpeg_quality must be 0 (none) to 100")

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


def _shot_times(n_frames: int) -> npt.NDArray[np.float64]:
    return np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)


def faces_overlap(a: PlacedFace, b: PlacedFace, n_frames: int) -> bool:
    """Whether the pasted region of one face covers the other's face box in any frame.

    The pasted region is the face box grown by :data:`CROP_MARGIN` on each side.
    """
    for t in _shot_times(n_frames):
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
            is_target = not (distractor_sources and rng.random() < distractor_probability)
            if is_target:
                candidates = [p for p in order if people_sources[p]]
                if not candidates:
                    continue
                person = candidates[0]
                order.remove(person)
                photos = people_sources[person]
                source = photos[int(rng.integers(len(photos)))]
            else:
                source = distractor_sources[int(rng.integers(len(distractor_sources)))]
            cap = source.size * max_upscale
            if rng.random() < small_probability:
                low, high = 0.5 * min_size_px, 0.9 * min_size_px
                size0, size1 = (float(v) for v in rng.uniform(low, high, 2))
            else:
                size0 = float(rng.uniform(*size_range_px))
                zoom = float(rng.uniform(-math.log(max_zoom), math.log(max_zoom)))
                size1 = size0 * math.exp(zoom)
            size0, size1 = round(min(size0, cap), 2), round(min(size1, cap), 2)
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


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TruthRow:
    """One face in one frame of a synthetic video: one row of the truth CSV.

    Attributes:
        frame: 0-based frame index in the video.
        time_s: ``frame / fps``, rounded to microseconds.
        shot: 0-based shot index.
        appearance: 0-based id of one face (one person) through one shot, unique in
            the video.
        identity: the person (the source photo's identity).
        is_target: target person or distractor.
        top, right, bottom, left: the face box in frame pixels, clipped to the frame.
        size_px: the face size (box height) as drawn, before clipping, rounded.
        blur_sigma_px: the Gaussian sigma applied, in frame pixels (0 for sharp).
    """

    frame: int
    time_s: float
    shot: int
    appearance: int
    identity: str
    is_target: bool
    top: int
    right: int
    bottom: int
    left: int
    size_px: int
    blur_sigma_px: float

    @property
    def box(self) -> Box:
        """``(top, right, bottom, left)``."""
        return (self.top, self.right, self.bottom, self.left)


@dataclass(frozen=True)
class Truth:
    """Every face of every frame of a synthetic video.

    Attributes:
        rows: one :class:`TruthRow` per face per frame, ordered by frame.
    """

    rows: tuple[TruthRow, ...]
    _by_frame: dict[int, tuple[TruthRow, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        groups: dict[int, list[TruthRow]] = {}
        for row in self.rows:
            groups.setdefault(row.frame, []).append(row)
        object.__setattr__(self, "_by_frame", {k: tuple(v) for k, v in groups.items()})

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TruthRow]:
        return iter(self.rows)

    def in_frame(self, frame: int) -> tuple[TruthRow, ...]:
        """The faces of one frame (empty when it has none)."""
        return self._by_frame.get(frame, ())

    def write_csv(self, path: Path) -> None:
        """Write the rows as CSV with the header :data:`TRUTH_COLUMNS`."""
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(TRUTH_COLUMNS)
            for row in self.rows:
                values = asdict(row)
                values["is_target"] = int(row.is_target)
                writer.writerow([values[c] for c in TRUTH_COLUMNS])


def truth_path(video_path: Path | str) -> Path:
    """The truth CSV beside a video: ``clip.avi`` -> ``clip.avi.truth.csv``."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.name + ".truth.csv")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def load_truth(csv_path: Path | str) -> Truth:
    """Read a truth CSV written by :func:`render_video` (or :meth:`Truth.write_csv`)."""
    rows = []
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            rows.append(
                TruthRow(
                    frame=int(record["frame"]),
                    time_s=float(record["time_s"]),
                    shot=int(record["shot"]),
                    appearance=int(record["appearance"]),
                    identity=record["identity"],
                    is_target=_parse_bool(record["is_target"]),
                    top=int(record["top"]),
                    right=int(record["right"]),
                    bottom=int(record["bottom"]),
                    left=int(record["left"]),
                    size_px=int(record["size_px"]),
                    blur_sigma_px=float(record["blur_sigma_px"]),
                )
            )
    return Truth(tuple(rows))


def render_background(shot: Shot, frame_size: tuple[int, int]) -> ImageRGB:
    """The background of a shot: RGB uint8 ``(height, width, 3)``.

    Plain ``background_rgb``, or with ``texture_seed`` a soft colour-noise texture
    (amplitude about 25 levels) plus faint pixel noise, fixed for the whole shot.
    """
    import cv2

    width, height = frame_size
    base = np.empty((height, width, 3), dtype=np.float32)
    base[:] = np.asarray(shot.background_rgb, dtype=np.float32)
    if shot.texture_seed is not None:
        rng = np.random.default_rng(shot.texture_seed)
        coarse = rng.normal(0.0, 25.0, (6, 10, 3)).astype(np.float32)
        base += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        base += rng.normal(0.0, 2.0, (height, width, 3)).astype(np.float32)
    return np.ascontiguousarray(np.clip(np.rint(base), 0, 255).astype(np.uint8))


@dataclass
class _PreparedFace:
    crop: ImageRGB  # the region cut from the photo, RGB
    box_in_crop: tuple[int, int, int, int]


def _prepare(source: FaceSource, image: ImageRGB) -> _PreparedFace:
    height, width = image.shape[:2]
    top, right, bottom, left = source.box
    pad_x = round((right - left) * CROP_MARGIN)
    pad_y = round((bottom - top) * CROP_MARGIN)
    c_top, c_left = max(top - pad_y, 0), max(left - pad_x, 0)
    c_bottom, c_right = min(bottom + pad_y, height), min(right + pad_x, width)
    crop = np.ascontiguousarray(image[c_top:c_bottom, c_left:c_right])
    return _PreparedFace(crop, (top - c_top, right - c_left, bottom - c_top, left - c_left))


def _degrade(
    patch: ImageRGB, face: PlacedFace | None, rng: np.random.Generator | None
) -> npt.NDArray[np.float32]:
    """A resized face patch as ``face``'s camera would give it: JPEG, soft, gain, noise."""
    import cv2

    if face is not None and face.jpeg_quality > 0:
        ok, data = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, face.jpeg_quality])
        if ok:  # the colour order does not matter for a round trip
            patch = cv2.imdecode(data, cv2.IMREAD_COLOR)
    out = patch.astype(np.float32)
    if face is None:
        return out
    if face.soften_px > 0:
        out = cv2.GaussianBlur(out, (0, 0), face.soften_px, borderType=cv2.BORDER_REFLECT)
    if face.gain != 1.0:
        out *= face.gain
    if face.noise > 0 and rng is not None:
        out += rng.normal(0.0, face.noise, out.shape).astype(np.float32)
    return out


def _paste(
    frame: npt.NDArray[np.float32],
    prepared: _PreparedFace,
    centre_xy: tuple[float, float],
    size: float,
    blur_sigma: float,
    face: PlacedFace | None = None,
    rng: np.random.Generator | None = None,
) -> FloatBox:
    """Paste one face into ``frame`` (float32 RGB, in place); return its exact box.

    ``face``'s camera settings (gain, noise drawn from ``rng``, soften, JPEG) apply.
    """
    import cv2

    crop_h, crop_w = prepared.crop.shape[:2]
    b_top, b_right, b_bottom, b_left = prepared.box_in_crop
    scale = size / max(b_bottom - b_top, 1)
    new_w, new_h = max(1, round(crop_w * scale)), max(1, round(crop_h * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    patch = _degrade(
        cv2.resize(prepared.crop, (new_w, new_h), interpolation=interpolation), face, rng
    )
    if blur_sigma > 0:
        patch = cv2.GaussianBlur(patch, (0, 0), blur_sigma, borderType=cv2.BORDER_REFLECT)
    kx, ky = new_w / crop_w, new_h / crop_h
    f_top, f_bottom = b_top * ky, b_bottom * ky
    f_left, f_right = b_left * kx, b_right * kx
    if face is not None and face.mirror:
        patch = np.ascontiguousarray(patch[:, ::-1])
        f_left, f_right = new_w - f_right, new_w - f_left
    off_x = round(centre_xy[0] - (f_left + f_right) / 2.0)
    off_y = round(centre_xy[1] - (f_top + f_bottom) / 2.0)

    # Elliptic feather: opaque near the face, transparent at the crop's edge.
    xs = (np.arange(new_w, dtype=np.float32) + 0.5 - (f_left + f_right) / 2) / (
        max(f_right - f_left, 1e-3) / 2
    )
    ys = (np.arange(new_h, dtype=np.float32) + 0.5 - (f_top + f_bottom) / 2) / (
        max(f_bottom - f_top, 1e-3) / 2
    )
    radius = np.sqrt(ys[:, None] ** 2 + xs[None, :] ** 2)
    alpha = np.clip((FEATHER_OUTER - radius) / (FEATHER_OUTER - FEATHER_INNER), 0.0, 1.0)

    frame_h, frame_w = frame.shape[:2]
    y0, x0 = max(off_y, 0), max(off_x, 0)
    y1, x1 = min(off_y + new_h, frame_h), min(off_x + new_w, frame_w)
    if y0 < y1 and x0 < x1:
        sub_patch = patch[y0 - off_y : y1 - off_y, x0 - off_x : x1 - off_x]
        sub_alpha = alpha[y0 - off_y : y1 - off_y, x0 - off_x : x1 - off_x, None]
        region = frame[y0:y1, x0:x1]
        region += (sub_patch - region) * sub_alpha
    return (off_y + f_top, off_x + f_right, off_y + f_bottom, off_x + f_left)


def render_frames(
    scenes: Sequence[Shot], frame_size: tuple[int, int] = (640, 360), fps: float = 30.0
) -> Iterator[tuple[ImageRGB, list[TruthRow]]]:
    """Draw the frames of ``scenes`` one by one, without writing a video.

    Args:
        scenes: the shots, shown one after the other.
        frame_size: ``(width, height)`` in pixels.
        fps: frame rate, for the rows' ``time_s``.

    Yields:
        ``(frame, rows)``: the frame, RGB uint8 ``(height, width, 3)``, and the truth of
        its faces (faces pushed wholly out of the frame have no row).
    """
    width, height = frame_size
    images: dict[Path, ImageRGB] = {}
    frame_index = 0
    appearance = 0
    for shot_index, shot in enumerate(scenes):
        background = render_background(shot, frame_size).astype(np.float32)
        prepared = []
        for face in shot.faces:
            path = face.source.path
            if path not in images:
                images[path] = load_rgb(path)
            prepared.append(_prepare(face.source, images[path]))
        appearances = list(range(appearance, appearance + len(shot.faces)))
        appearance += len(shot.faces)
        for t in _shot_times(shot.n_frames):
            frame = background.copy()
            rows = []
            rng = np.random.default_rng(frame_index)  # pixel noise, the same every render
            for face, prep, app in zip(shot.faces, prepared, appearances, strict=True):
                cx, cy, size = face.at(float(t))
                sigma = face.blur * size
                f_top, f_right, f_bottom, f_left = _paste(
                    frame, prep, (cx, cy), size, sigma, face, rng
                )
                top, left = max(round(f_top), 0), max(round(f_left), 0)
                bottom, right = min(round(f_bottom), height), min(round(f_right), width)
                if bottom <= top or right <= left:
                    continue
                rows.append(
                    TruthRow(
                        frame=frame_index,
                        time_s=round(frame_index / fps, 6),
                        shot=shot_index,
                        appearance=app,
                        identity=face.source.identity,
                        is_target=face.is_target,
                        top=top,
                        right=right,
                        bottom=bottom,
                        left=left,
                        size_px=round(f_bottom - f_top),
                        blur_sigma_px=round(sigma, 4),
                    )
                )
            image = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
            yield np.ascontiguousarray(image), rows
            frame_index += 1


def open_video_writer(
    path: Path | str, frame_size: tuple[int, int], fps: float = 30.0, quality: int = 95
) -> Any:
    """Open an OpenCV ``VideoWriter`` for ``.avi`` (Motion JPEG) or ``.mp4`` (MPEG-4 part 2).

    ``.avi`` uses OpenCV's own MJPEG encoder (``cv2.CAP_OPENCV_MJPEG``), the only
    backend of opencv-python-headless that honours ``VIDEOWRITER_PROP_QUALITY``; the
    FFmpeg backend ignores it. ``.mp4`` uses FFmpeg's ``mp4v`` at its default bitrate,
    visibly lossier (H.264 ``avc1`` is not available in the wheels).

    Raises:
        ValueError: another extension.
        OSError: the writer cannot be opened.
    """
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".avi":
        writer = cv2.VideoWriter(
            str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"), fps, frame_size
        )
        if writer.isOpened():
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    elif suffix == ".mp4":
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, frame_size)
    else:
        raise ValueError(f"{path}: synthetic videos are .avi (MJPG) or .mp4 (mp4v)")
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open a video writer for it")
    return writer


def render_video(
    path: Path | str,
    scenes: Sequence[Shot],
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    quality: int = 95,
) -> Truth:
    """Render ``scenes`` into a video file and write its truth CSV beside it.

    Args:
        path: the video to write, ``.avi`` (Motion JPEG at ``quality``) or ``.mp4``
            (``mp4v``); see :func:`open_video_writer`.
        scenes: the shots, one after the other.
        frame_size: ``(width, height)`` in pixels.
        fps: frame rate.
        quality: JPEG quality 0-100 of ``.avi`` frames.

    Returns:
        The truth, also written to :func:`truth_path` of ``path``.
    """
    import cv2

    writer = open_video_writer(path, frame_size, fps, quality)
    rows: list[TruthRow] = []
    try:
        for image, frame_rows in render_frames(scenes, frame_size, fps):
            writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            rows.extend(frame_rows)
    finally:
        writer.release()
    truth = Truth(tuple(rows))
    truth.write_csv(truth_path(path))
    return truth


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """How an extraction's manifest compares with the truth.

    A saved row *matches* the truth face of its frame with the highest IoU, if that is
    at least the threshold. Ratios with a zero denominator are 0.0.

    Attributes:
        saved: manifest rows with status ``"saved"``.
        blurry_rows: manifest rows with status ``"blurry"`` (not scored).
        correct: saved rows matching a face of the identity their label maps to.
        wrong_identity: saved rows matching a face of another identity (a distractor,
            another target, or a label missing from the map).
        unmatched: saved rows matching no truth face.
        on_distractor: saved rows matching a distractor face.
        on_blurred: saved rows matching a blurred face.
        on_small: saved rows matching a face below ``min_size_px``.
        duplicates: saved rows matching a face an earlier row already matched.
        precision: ``correct / saved``.
        eligible_faces: truth faces that are targets, sharp and at least
            ``min_size_px``.
        eligible_found: eligible faces with at least one correct row.
        recall: ``eligible_found / eligible_faces`` (frame recall).
        target_faces: all truth target faces.
        target_found: target faces with at least one correct row.
        recall_all_targets: ``target_found / target_faces``.
        eligible_appearances: target appearances with at least one eligible face.
        appearances_found: those of them with at least one correct row in any frame.
        appearance_coverage: ``appearances_found / eligible_appearances``.
        min_size_px: the minimum size used.
        iou_threshold: the IoU threshold used.
    """

    saved: int
    blurry_rows: int
    correct: int
    wrong_identity: int
    unmatched: int
    on_distractor: int
    on_blurred: int
    on_small: int
    duplicates: int
    precision: float
    eligible_faces: int
    eligible_found: int
    recall: float
    target_faces: int
    target_found: int
    recall_all_targets: float
    eligible_appearances: int
    appearances_found: int
    appearance_coverage: float
    min_size_px: int
    iou_threshold: float

    def as_dict(self) -> dict[str, int | float]:
        """The metrics as a plain dict (JSON-serialisable)."""
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate(
    manifest_rows: Iterable[Mapping[str, Any]],
    truth: Truth,
    label_to_identity: Mapping[str, str],
    min_size_px: int,
    iou_threshold: float = 0.4,
) -> Metrics:
    """Score an extraction's manifest against the truth of its synthetic video.

    Args:
        manifest_rows: dicts (values may be strings, as read by ``csv.DictReader``) with
            at least ``frame`` (0-based), ``top``, ``right``, ``bottom``, ``left``,
            ``label`` and ``status`` (``"saved"`` or ``"blurry"``; others are ignored).
        truth: the video's truth.
        label_to_identity: the extraction's person label -> truth identity.
        min_size_px: faces smaller than this (``size_px``) are not expected to be saved.
        iou_threshold: least IoU for a row to match a truth face.

    Returns:
        The :class:`Metrics`.
    """
    counts = dict.fromkeys(
        (
            "saved",
            "blurry_rows",
            "correct",
            "wrong_identity",
            "unmatched",
            "on_distractor",
            "on_blurred",
            "on_small",
            "duplicates",
        ),
        0,
    )
    matched: set[TruthRow] = set()
    found: set[TruthRow] = set()
    for record in manifest_rows:
        status = str(record["status"])
        if status == "blurry":
            counts["blurry_rows"] += 1
        if status != "saved":
            continue
        counts["saved"] += 1
        candidates = truth.in_frame(int(record["frame"]))
        box = as_boxes([[int(record[k]) for k in ("top", "right", "bottom", "left")]])
        if not candidates:
            counts["unmatched"] += 1
            continue
        overlaps = iou(box, as_boxes([c.box for c in candidates]))[0]
        best = int(np.argmax(overlaps))
        if overlaps[best] < iou_threshold:
            counts["unmatched"] += 1
            continue
        face = candidates[best]
        if face in matched:
            counts["duplicates"] += 1
        matched.add(face)
        counts["on_distractor"] += int(not face.is_target)
        counts["on_blurred"] += int(face.blur_sigma_px > 0)
        counts["on_small"] += int(face.size_px < min_size_px)
        if label_to_identity.get(str(record["label"])) == face.identity:
            counts["correct"] += 1
            found.add(face)
        else:
            counts["wrong_identity"] += 1

    targets = [row for row in truth if row.is_target]
    eligible = [r for r in targets if r.blur_sigma_px == 0 and r.size_px >= min_size_px]
    eligible_apps = {r.appearance for r in eligible}
    found_apps = {r.appearance for r in found if r.is_target} & eligible_apps
    eligible_found = sum(r in found for r in eligible)
    target_found = sum(r in found for r in targets)
    return Metrics(
        **counts,
        precision=_ratio(counts["correct"], counts["saved"]),
        eligible_faces=len(eligible),
        eligible_found=eligible_found,
        recall=_ratio(eligible_found, len(eligible)),
        target_faces=len(targets),
        target_found=target_found,
        recall_all_targets=_ratio(target_found, len(targets)),
        eligible_appearances=len(eligible_apps),
        appearances_found=len(found_apps),
        appearance_coverage=_ratio(len(found_apps), len(eligible_apps)),
        min_size_px=int(min_size_px),
        iou_threshold=float(iou_threshold),
    )


# --------------------------------------------------------------------------------------
# A ready-made scenario from a folder of person folders (e.g. Labeled Faces in the Wild)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A ground-truth video with its reference folders, ready for ``faceripper rip``.

    Attributes:
        video: the rendered video.
        truth: its truth (also written to ``truth_csv``).
        truth_csv: the truth file (kept outside the video folder).
        refs: a folder of person folders holding reference photos that never appear in
            the video (``rip --refs``).
        label_to_identity: the label (reference folder name) of each target person ->
            the identity in the truth.
    """

    video: Path
    truth: Truth
    truth_csv: Path
    refs: Path
    label_to_identity: dict[str, str]


def build_scenario(
    people_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    n_targets: int = 6,
    n_refs: int = 3,
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    n_shots: int = 6,
    frames_per_shot: int | tuple[int, int] = (45, 90),
    video_name: str = "scenario.avi",
    **scene_options: Any,
) -> Scenario:
    """Render a ground-truth video from a folder of person folders.

    People with at least ``n_refs + 2`` photos are candidate targets; ``n_targets`` of
    them are drawn (deterministically for ``seed``). Each target's last ``n_refs``
    photos (sorted by name) are copied into ``out_dir/refs/<identity>/`` as references;
    the others appear in the video. People with fewer photos are distractors. The video
    goes to ``out_dir/videos/<video_name>``, its truth to ``out_dir/<video_name>.truth.csv``.

    ``scene_options`` pass on to :func:`make_scenes` (sizes, blur, distractor rates).
    """
    import shutil

    folders = sorted(p for p in Path(people_dir).iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    candidates = [name for name, files in photos.items() if len(files) >= n_refs + 2]
    rng = np.random.default_rng(seed)
    targets = sorted(candidates[int(i)] for i in rng.permutation(len(candidates))[:n_targets])
    refs = Path(out_dir) / "refs"
    shown: dict[str, list[FaceSource]] = {}
    for name in targets:
        (refs / name).mkdir(parents=True, exist_ok=True)
        for photo in photos[name][-n_refs:]:
            shutil.copy(photo, refs / name / photo.name)
        shown[name] = load_face_sources(photos[name][:-n_refs], identity=name)
    distractors = [
        source
        for name, files in photos.items()
        if name not in candidates
        for source in load_face_sources(files, identity=name)
    ]
    scenes = make_scenes(
        seed,
        shown,
        distractors,
        frame_size=frame_size,
        fps=fps,
        n_shots=n_shots,
        frames_per_shot=frames_per_shot,
        **scene_options,
    )
    videos = Path(out_dir) / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    video = videos / video_name
    truth = render_video(video, scenes, frame_size=frame_size, fps=fps)
    truth_csv = Path(out_dir) / f"{video_name}.truth.csv"
    truth_path(video).replace(truth_csv)
    return Scenario(video, truth, truth_csv, refs, {name: name for name in targets})
