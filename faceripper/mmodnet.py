"""dlib's MMOD CNN face detector, rebuilt from its ``.dat`` to run on a fast engine.

``mmod_human_face_detector.dat`` (dlib's ``dnn_mmod_face_detection_ex.cpp``, the
``--model cnn`` of face_recognition) is a small fully convolutional network run over an
image pyramid:

* the input layer ``input_rgb_image_pyramid<pyramid_down<6>>`` tiles the image and its
  downscaled copies (each 5/6 of the previous one, down to 5 rows) into one image
  (``create_tiled_pyramid``: the full image at the top left, the next levels below it
  until about half the height, the rest stacked upwards from the bottom right, 10
  pixels apart and 11 pixels from the border), each channel ``(pixel - mean) / 256``.
  Every level is a bilinear resize of the previous one, computed on those float values
  (``tt::resize_bilinear``) as dlib's SIMD code computes it: the sample positions of
  each row are summed in float32, four columns at a time, and those small drifts
  change the scores of faces found on deep levels by up to 2e-5 if not reproduced;
* three 5x5 stride-2 convs (16, 32, 32 filters), three 5x5 convs with 45 filters, each
  with its batch norm (stored as ``bn_con2``, folded as dlib's ``affine_`` does) and a
  relu, then a 9x9 conv to one channel: the score map;
* the MMOD loss (``loss_mmod_::to_label``) turns every score above 0 into a detection
  window (80x80 around the input point the score's cell maps to, ``8 * cell + 14``),
  maps it back from its pyramid level to the image (``tiled_pyramid_to_image``),
  rounds it to whole pixels, and keeps the windows in descending score order unless
  one overlaps a kept one (``test_box_overlap``: intersection over the two boxes'
  bounding box above the threshold stored in the file, or covering more than the
  stored fraction of either).

``dlib.cnn_face_detection_model_v1(path)(image, upsample)`` first doubles the image
``upsample`` times (``pyramid_up``, bilinear) and maps the boxes back with
``pyramid_down<2>::rect_down``. :class:`MmodDetector` does all of this in numpy
around the network, which runs on onnxruntime or ``cv2.dnn``
(:mod:`faceripper.engines`); its boxes are dlib's, its scores within float rounding
(docs/performance.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceripper.dlibnet import (
    DatReader,
    Layer,
    LayerSpec,
    emit_layers,
    read_layers,
    read_versions,
)
from faceripper.engines import Converter
from faceripper.onnxgraph import Graph

#: What the expected file is, for error messages.
MMOD_WHAT = "dlib's MMOD face detector (mmod_human_face_detector)"
#: Bumped whenever the ONNX graph built from the ``.dat`` changes (it keys the disk cache).
MMOD_CONVERTER_VERSION = 1
#: The pyramid's levels shrink by this factor (``pyramid_down<6>``): 5/6.
PYRAMID_DOWN = 6
#: A pyramid level is only made while it keeps at least this many rows.
MIN_LEVEL_ROWS = 5

FloatImage = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MmodOptions:
    """What the loss layer stores: the detection window and the overlap test of the NMS.

    Attributes:
        window_px: ``(width, height)`` of the detection window in pyramid pixels.
        nms_iou: two boxes are one when their intersection over their bounding box
            exceeds this.
        nms_covered: or when the intersection covers more than this of either box.
    """

    window_px: tuple[int, int]
    nms_iou: float
    nms_covered: float


@dataclass
class MmodNet:
    """The MMOD network read from its ``.dat``.

    Attributes:
        options: the loss layer's settings.
        mean_rgb: ``(3,)`` float32 channel means subtracted from the pixels.
        padding: pixels between the pyramid's levels in the tiled image.
        outer_padding: pixels between the levels and the tiled image's border.
        layers: the computational layers with their weights, innermost first.
        specs: every layer, innermost first.
    """

    options: MmodOptions
    mean_rgb: npt.NDArray[np.float32]
    padding: int
    outer_padding: int
    layers: list[Layer]
    specs: list[LayerSpec]


def mmod_layers() -> list[LayerSpec]:
    """The MMOD face detector's layers, innermost (next to the input) first."""

    def block(filters: int, stride: int) -> list[LayerSpec]:
        pad = 0 if stride == 2 else 2
        return [LayerSpec("con", filters, 5, stride, pad), LayerSpec("affine"), LayerSpec("relu")]

    layers = block(16, 2) + block(32, 2) + block(32, 2)  # the downsampler
    layers += block(45, 1) * 3
    return [*layers, LayerSpec("con", 1, 9, 1, 4)]


#: How far the input point of a score cell is from the cell's position times
#: :data:`CELL_STRIDE` (each stride-2 conv maps ``p`` to ``2 p + 2``; the others keep it).
CELL_STRIDE, CELL_OFFSET = 8, 14


def _read_options(reader: DatReader) -> MmodOptions:
    version = reader.int()
    if version != 1:
        reader.fail(f"mmod_options has version {version}, expected 1")
    window = (reader.int(), reader.int())
    if not (0 < window[0] <= 1000 and 0 < window[1] <= 1000):
        reader.fail(f"bad detection window {window}")
    reader.float(), reader.float(), reader.float()  # losses and truth match (training only)
    nms_iou, nms_covered = reader.float(), reader.float()
    reader.float(), reader.float()  # overlaps_ignore (training only)
    return MmodOptions(window, nms_iou, nms_covered)


def read_mmod(path: Path) -> MmodNet:
    """Read ``mmod_human_face_detector.dat``.

    Raises:
        ModelFormatError: the file cannot be read or is not that network.
    """
    reader = DatReader.open(path, MMOD_WHAT, "loss_mmod_")
    options = _read_options(reader)
    specs = mmod_layers()
    computational = read_versions(reader, specs)
    kind = reader.str()
    reader.expect("input layer", kind.rstrip("2"), "input_rgb_image_pyramid")
    mean = np.array([reader.float() for _ in range(3)], dtype=np.float32)
    padding, outer = (reader.int(), reader.int()) if kind.endswith("2") else (10, 11)
    layers = read_layers(reader, computational)
    reader.finish()
    return MmodNet(options, mean, padding, outer, layers, specs)


def mmod_onnx(path: Path) -> bytes:
    """The MMOD network of ``path`` as an ONNX model (bytes).

    Its input ``pyramid`` is the tiled pyramid, ``(batch, 3, rows, cols)`` float32
    already normalised (:func:`tiled_pyramid`); its output ``scores`` is
    ``(batch, 1, rows', cols')`` float32, about an eighth of the input's size.

    Raises:
        ModelFormatError: the file is not that network.
    """
    net = read_mmod(path)
    graph = Graph("mmod_human_face_detector", opset=13)
    graph.input("pyramid", ("batch", 3, "rows", "cols"))
    emit_layers(
        graph, "pyramid", (3, 0, 0), net.specs, net.layers, f"{path}: not {MMOD_WHAT}", "scores"
    )
    graph.output("scores", ("batch", 1, "out_rows", "out_cols"))
    return graph.to_bytes()


# ---------------------------------------------------------------------------- the pyramid

#: A rectangle ``(left, top, right, bottom)``, inclusive, in whole pixels (dlib's).
Rect = tuple[int, int, int, int]


def pyramid_rects(rows: int, cols: int, padding: int, outer: int) -> tuple[list[Rect], int, int]:
    """Where each pyramid level of a ``rows x cols`` image lies in the tiled image.

    dlib's ``compute_tiled_image_pyramid_details``: level 0 at the top left, the
    following levels below it while the column is under about half the total height,
    the rest right-aligned, stacked upwards from the bottom, while they stay clear of
    level 0.

    Returns:
        ``(rects, tiled_rows, tiled_cols)``: one rectangle a level, largest first.

    Example:
        >>> rects, tiled_rows, tiled_cols = pyramid_rects(100, 200, 10, 11)
        >>> rects[:3], tiled_rows, tiled_cols
        ([(11, 11, 210, 110), (11, 121, 176, 203), (11, 214, 148, 282)], 418, 222)
    """
    sizes = [(rows, cols)]
    rate = (PYRAMID_DOWN - 1.0) / PYRAMID_DOWN
    while True:
        nr, nc = math.floor(rate * sizes[-1][0]), math.floor(rate * sizes[-1][1])
        if nr * nc == 0 or nr < MIN_LEVEL_ROWS:
            break
        sizes.append((nr, nc))
    total = sum(h + padding for h, _ in sizes) - 2 * padding
    height = previous_width = 0
    for h, w in sizes:
        if w <= cols - previous_width - padding and (height - rows) * 2 >= total - rows:
            break
        height += h + padding
        previous_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer
    while y < height + outer and len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    right = outer + cols - 1
    while len(rects) < len(sizes):
        h, w = sizes[len(rects)]
        rect = (right - w + 1, y - h, right, y - 1)
        first = rects[0]
        if max(rect[0], first[0]) <= min(rect[2], first[2]) and max(rect[1], first[1]) <= min(
            rect[3], first[3]
        ):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer, cols + 2 * outer


def _sample_rows(in_rows: int, rows: int) -> tuple[npt.NDArray, npt.NDArray, npt.NDArray]:
    """dlib's bilinear resize's rows: ``(top, bottom, fraction)``, positions summed in float64."""
    y_scale = (in_rows - 1) / max(rows - 1, 1)
    y = np.add.accumulate(np.concatenate([[0.0], np.full(max(rows - 1, 0), y_scale)]))[:rows]
    top = np.floor(y).astype(np.intp)
    return top, np.minimum(top + 1, in_rows - 1), y - top


def _sample_columns(in_cols: int, cols: int) -> tuple[npt.NDArray[np.float32], npt.NDArray, float]:
    """dlib's bilinear resize's SIMD columns, four at a time: ``(x, left, x_scale)``.

    Four float32 lanes start at ``-4 s, -3 s, -2 s, -s`` (``s = x_scale``) and advance
    by ``4 s`` a block, summed in float32; ``left`` is ``x`` truncated. The blocks end
    before the first whose last lane's right neighbour falls outside the source (the
    remaining columns are computed one by one, in float64).
    """
    x_scale = (in_cols - 1) / max(cols - 1, 1)
    start = -4 * x_scale
    lanes = np.array([start, start + x_scale, start + 2 * x_scale, start + 3 * x_scale])
    steps = np.full((cols // 4 + 1, 4), np.float32(4 * x_scale), dtype=np.float32)
    x = np.add.accumulate(np.concatenate([lanes[None].astype(np.float32), steps]), axis=0)[1:]
    left = np.trunc(x).astype(np.intp)
    over = np.nonzero(left[:, 3] + 1 >= in_cols)[0]
    blocks = min(int(over[0]) if len(over) else len(x), cols // 4)
    return x[:blocks].reshape(-1), left[:blocks].reshape(-1), x_scale


def _tail_columns(x_scale: float, done: int, cols: int, in_cols: int) -> tuple[npt.NDArray, ...]:
    """The columns after the SIMD blocks: ``(left, right, fraction)``, summed in float64."""
    x = np.add.accumulate(
        np.concatenate([[done * x_scale - x_scale], np.full(cols - done, x_scale)])
    )
    left = np.floor(x[1:]).astype(np.intp)
    return left, np.minimum(left + 1, in_cols - 1), x[1:] - left


def _resize_plane(source: FloatImage, rows: int, cols: int) -> FloatImage:
    """dlib's bilinear ``resize_image`` of float planes (``tt::resize_bilinear`` on the CPU).

    Output pixel ``(r, c)`` samples the source at about ``(c * x_scale, r * y_scale)``
    with ``x_scale = (w - 1) / (cols - 1)``, the lower neighbour clamped to the last row.
    As dlib's SIMD code: rows in float64; columns four at a time in float32, positions
    summed in float32 (:func:`_sample_columns`); weights and sums in float32; the last
    few columns in float64 (:func:`_tail_columns`).

    Args:
        source: ``(channels, h, w)`` float32 planes.

    Returns:
        ``(channels, rows, cols)`` float32.
    """
    in_rows, in_cols = source.shape[1:]
    top, bottom, tb = _sample_rows(in_rows, rows)
    x, left, x_scale = _sample_columns(in_cols, cols)
    lr = x - left.astype(np.float32)
    ilr = np.float32(1) - lr
    tbf, itbf = tb.astype(np.float32)[:, None], (1 - tb).astype(np.float32)[:, None]
    weights = (itbf * ilr, itbf * lr, tbf * ilr, tbf * lr)
    t_left, t_right, t_lr = _tail_columns(x_scale, len(left), cols, in_cols)
    t_lr = t_lr.astype(np.float32)
    out = np.empty((len(source), rows, cols), dtype=np.float32)
    for channel, plane in enumerate(source):
        upper, lower = plane[top], plane[bottom]
        value = weights[0] * upper[:, left]
        value += weights[1] * upper[:, left + 1]
        value += weights[2] * lower[:, left]
        value += weights[3] * lower[:, left + 1]
        out[channel, :, : len(left)] = value
        above = (1 - t_lr) * upper[:, t_left] + t_lr * upper[:, t_right]
        below = (1 - t_lr) * lower[:, t_left] + t_lr * lower[:, t_right]
        out[channel, :, len(left) :] = (1 - tb[:, None]) * above + tb[:, None] * below
    return out


def tiled_pyramid(
    images: npt.NDArray[np.uint8], net: MmodNet
) -> tuple[npt.NDArray[np.float32], list[Rect]]:
    """The network's input for same-sized RGB images: their tiled, normalised pyramids.

    Args:
        images: ``(n, h, w, 3)`` uint8 RGB.
        net: the network (means, paddings).

    Returns:
        ``(tensor, rects)``: ``(n, 3, tiled_rows, tiled_cols)`` float32, each channel
        ``(pixel - mean) / 256`` and 0 between the levels; the levels' rectangles.
    """
    n, rows, cols = images.shape[:3]
    rects, tiled_rows, tiled_cols = pyramid_rects(rows, cols, net.padding, net.outer_padding)
    tensor = np.zeros((n, 3, tiled_rows, tiled_cols), dtype=np.float32)
    level = (images.transpose(0, 3, 1, 2).astype(np.float32) - net.mean_rgb[:, None, None]) / 256
    for i, (left, top, right, bottom) in enumerate(rects):
        if i:
            level = np.stack([_resize_plane(p, bottom - top + 1, right - left + 1) for p in level])
        tensor[:, :, top : bottom + 1, left : right + 1] = level
    return tensor, rects


# ---------------------------------------------------------------------------- detections


def _round(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """dlib's conversion of a ``drectangle`` to a ``rectangle``: ``floor(v + 0.5)``."""
    return np.floor(values + 0.5).astype(np.int64)


def score_windows(
    scores: npt.NDArray[np.float32], rects: list[Rect], options: MmodOptions, threshold: float = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every score above ``threshold`` as a detection window in the image, best first.

    dlib's ``loss_mmod_::tensor_to_dets``: the cell ``(r, c)`` maps to the point
    ``(8 c + 14, 8 r + 14)`` of the tiled image, the window is centred there; the level
    is the first rectangle holding that point (else the nearest), and the window moves
    to that level's origin and up the pyramid (``x * 6/5 + 0.3`` a level), then is
    rounded to whole pixels.

    Args:
        scores: ``(rows, cols)`` the network's output for one image.
        rects: the pyramid levels in the tiled image (:func:`pyramid_rects`).
        options: the detection window.
        threshold: scores must exceed this (dlib's ``adjust_threshold``, 0 by default).

    Returns:
        ``(boxes, scores)``: ``(n, 4)`` int64 ``(left, top, right, bottom)`` in the image
        the pyramid was made of, and ``(n,)`` float32, in descending score order.
    """
    rows, cols = np.nonzero(scores > threshold)
    found = scores[rows, cols]
    order = np.argsort(-found.astype(np.float64), kind="stable")
    rows, cols, found = rows[order], cols[order], found[order]
    points = np.stack([cols, rows], axis=1).astype(np.float64) * CELL_STRIDE + CELL_OFFSET
    half = (np.array(options.window_px, dtype=np.float64) - 1) / 2
    boxes = np.concatenate([points - half, points + half], axis=1)
    levels = _nearest_level(points.astype(np.int64), np.array(rects, dtype=np.int64))
    origin = np.array(rects, dtype=np.float64)[levels][:, :2]
    boxes -= np.concatenate([origin, origin], axis=1)
    ratio = PYRAMID_DOWN / (PYRAMID_DOWN - 1.0)
    for step in range(1, len(rects)):
        up = levels >= step
        boxes[up] = boxes[up] * ratio + 0.3
    return _round(boxes), found


def _nearest_level(points: npt.NDArray[np.int64], rects: npt.NDArray[np.int64]) -> npt.NDArray:
    """dlib's ``nearest_rect``: the first rectangle holding each point, else the nearest."""
    nearest = np.clip(points[:, None, :], rects[None, :, :2], rects[None, :, 2:])
    distance = np.hypot(*(nearest - points[:, None, :]).transpose(2, 0, 1))
    return np.argmin(distance, axis=1)


def _area(boxes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    width = np.maximum(boxes[..., 2] - boxes[..., 0] + 1, 0)
    height = np.maximum(boxes[..., 3] - boxes[..., 1] + 1, 0)
    return np.where((width > 0) & (height > 0), width * height, 0)


def non_max_suppression(boxes: npt.NDArray[np.int64], options: MmodOptions) -> list[int]:
    """Which of ``boxes`` (best first) dlib keeps: those overlapping no kept box.

    dlib's ``test_box_overlap``: two boxes overlap when their intersection is more
    than ``options.nms_iou`` of their bounding box (not of their union), or more than
    ``options.nms_covered`` of either box.
    """
    kept: list[int] = []
    for i, box in enumerate(boxes):
        if kept:
            other = boxes[kept]
            inner = _area(
                np.concatenate(
                    [np.maximum(other[:, :2], box[:2]), np.minimum(other[:, 2:], box[2:])], axis=1
                )
            )
            outer = _area(
                np.concatenate(
                    [np.minimum(other[:, :2], box[:2]), np.maximum(other[:, 2:], box[2:])], axis=1
                )
            )
            hit = (inner > 0) & (
                (inner / outer > options.nms_iou)
                | (inner / _area(other) > options.nms_covered)
                | (inner / _area(box) > options.nms_covered)
            )
            if hit.any():
                continue
        kept.append(i)
    return kept


# ---------------------------------------------------------------------------- upsampling


def pyramid_up(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The image doubled as dlib's ``pyramid_up`` (``pyramid_down<2>``) doubles it.

    ``(h, w)`` becomes ``(2 h + 1, 2 w + 2)`` by dlib's bilinear ``resize_image`` of RGB
    images, bit for bit: the samples of :func:`_resize_plane`, values truncated to
    integers.

    Args:
        image: ``(h, w, 3)`` uint8 RGB.

    Returns:
        ``(2 h + 1, 2 w + 2, 3)`` uint8 RGB.
    """
    in_rows, in_cols = image.shape[:2]
    rows, cols = 2 * in_rows + 1, 2 * in_cols + 2
    top, bottom, tb = _sample_rows(in_rows, rows)
    x, left, x_scale = _sample_columns(in_cols, cols)
    lr = (x - left.astype(np.float32))[None, :, None]
    ilr = np.float32(1) - lr
    tbf, itbf = tb.astype(np.float32)[:, None, None], (1 - tb).astype(np.float32)[:, None, None]
    pixels = image.astype(np.float32)
    upper, lower = pixels[top], pixels[bottom]
    value = (itbf * ilr) * upper[:, left] + (itbf * lr) * upper[:, left + 1]
    value = value + (tbf * ilr) * lower[:, left] + (tbf * lr) * lower[:, left + 1]
    out = np.empty((rows, cols, 3), dtype=np.uint8)
    out[:, : len(left)] = np.trunc(value).astype(np.int32).astype(np.uint8)
    t_left, t_right, t_lr = _tail_columns(x_scale, len(left), cols, in_cols)
    t_lr, tbd = t_lr[None, :, None], tb[:, None, None]
    upper, lower = image[top].astype(np.float64), image[bottom].astype(np.float64)
    above = (1 - t_lr) * upper[:, t_left] + t_lr * upper[:, t_right]
    below = (1 - t_lr) * lower[:, t_left] + t_lr * lower[:, t_right]
    out[:, len(left) :] = ((1 - tbd) * above + tbd * below).astype(np.int32).astype(np.uint8)
    return out


def rect_down(boxes: npt.NDArray[np.int64], levels: int) -> npt.NDArray[np.int64]:
    """``(left, top, right, bottom)`` boxes of a ``levels`` times doubled image in the original.

    dlib's ``pyramid_down<2>::rect_down``: ``x / 2 - 1.25``, ``y / 2 - 0.75`` a level,
    rounded once at the end.
    """
    if levels == 0:
        return boxes
    values = boxes.astype(np.float64)
    for _ in range(levels):
        values = values / 2.0 - np.array([1.25, 0.75, 1.25, 0.75])
    return _round(values)


# ---------------------------------------------------------------------------- the detector


class ScoreNetwork(Protocol):
    """The converted network on an engine (:mod:`faceripper.engines`)."""

    def run(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Score maps ``(n, 1, h', w')`` of tiled pyramids ``(n, 3, h, w)``."""
        ...


@dataclass
class MmodDetector:
    """dlib's CNN face detector, its network on an engine.

    Attributes:
        net: the network read from the ``.dat`` (its window, NMS, means, paddings).
        network: the converted network (:func:`faceripper.engines.open_network` with
            :data:`MMOD_CONVERTER`).
        batch_size: images the network takes in one call. On a CPU one at a time
            (batching saves nothing there, and a 1080p frame's pyramid and first layer
            already hold about 200 MB); on a GPU several.
    """

    net: MmodNet
    network: ScoreNetwork
    batch_size: int = 1

    def detect_batch(
        self, images: list[npt.NDArray[np.uint8]], upsample: int = 0, threshold: float = 0.0
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Faces of same-sized images, as ``dlib.cnn_face_detection_model_v1`` finds them.

        Args:
            images: RGB uint8 ``(h, w, 3)`` images, all the same size.
            upsample: how many times each image is doubled first (finds smaller faces).
            threshold: scores must exceed this (dlib's ``adjust_threshold``).

        Returns:
            One ``(boxes, scores)`` an image: ``(n, 4)`` int64 ``(top, right, bottom,
            left)`` boxes in the image's pixels, not clipped (dlib's rectangles can reach
            a little outside), and ``(n,)`` float32 confidences, best first.
        """
        if len(images) > self.batch_size:
            chunks = range(0, len(images), self.batch_size)
            size = self.batch_size
            return [
                found
                for i in chunks
                for found in self.detect_batch(images[i : i + size], upsample, threshold)
            ]
        if not images:
            return []
        for _ in range(upsample):
            images = [pyramid_up(image) for image in images]
        tensor, rects = tiled_pyramid(np.stack(images), self.net)
        scores = self.network.run(tensor)
        found = []
        for score_map in scores[:, 0]:
            boxes, confidences = score_windows(score_map, rects, self.net.options, threshold)
            kept = non_max_suppression(boxes, self.net.options)
            boxes = rect_down(boxes[kept], upsample)
            found.append((boxes[:, [1, 2, 3, 0]], confidences[kept]))
        return found

    def detect(
        self, image: npt.NDArray[np.uint8], upsample: int = 0, threshold: float = 0.0
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """Faces of one RGB image: ``(boxes, scores)`` as :meth:`detect_batch` gives them."""
        return self.detect_batch([image], upsample, threshold)[0]


#: How :mod:`faceripper.engines` converts and caches the MMOD network.
MMOD_CONVERTER = Converter(mmod_onnx, MMOD_CONVERTER_VERSION)


def open_mmod_detector(
    dat: Path, engine: str, device: str = "cpu", threads: int = 1
) -> MmodDetector:
    """dlib's CNN face detector of ``dat`` with its network on ``engine``.

    Args:
        dat: ``mmod_human_face_detector.dat``.
        engine: ``onnxruntime`` or ``opencv``.
        device: ``cpu``, or ``cuda`` (onnxruntime-gpu).
        threads: the engine's threads.

    Raises:
        ModelFormatError: ``dat`` is not that network.
        EngineUnavailableError: the engine or device cannot run here.
    """
    from faceripper.engines import open_network

    network = open_network(dat, engine, device, threads, MMOD_CONVERTER)
    return MmodDetector(read_mmod(dat), network, batch_size=8 if device == "cuda" else 1)
