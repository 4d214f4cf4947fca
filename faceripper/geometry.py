"""Pure functions on face boxes.

A box is ``(top, right, bottom, left)`` in integer pixels, as face_recognition and the
manifest write it ("trbl"); ``right`` and ``bottom`` are exclusive bounds of the face,
so the width is ``right - left``. Arrays of boxes have shape ``(n, 4)`` and dtype int64.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

BoxArray = npt.NDArray[np.int64]


def as_boxes(boxes: npt.ArrayLike) -> BoxArray:
    """Return ``boxes`` as an ``(n, 4)`` int64 array (an empty list gives ``(0, 4)``)."""
    array = np.asarray(boxes, dtype=np.int64)
    if array.size == 0:
        return np.zeros((0, 4), dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (n, 4), got {array.shape}")
    return array


def clip_boxes(boxes: BoxArray, image_shape: tuple[int, ...]) -> BoxArray:
    """Clip boxes to an image of shape ``(height, width, ...)``.

    Like face_recognition's ``_trim_css_to_bounds``: top and left at least 0, right at
    most the width, bottom at most the height.

    >>> clip_boxes(np.array([[-5, 120, 90, -3]]), (80, 100))
    array([[  0, 100,  80,   0]])
    """
    height, width = image_shape[:2]
    out = boxes.copy()
    out[:, 0] = np.maximum(out[:, 0], 0)
    out[:, 1] = np.minimum(out[:, 1], width)
    out[:, 2] = np.minimum(out[:, 2], height)
    out[:, 3] = np.maximum(out[:, 3], 0)
    return out


def scale_boxes(boxes: BoxArray, factor_y: float, factor_x: float | None = None) -> BoxArray:
    """Multiply box coordinates by a factor (``factor_x`` defaults to ``factor_y``), rounded.

    Used to map boxes found on a downscaled frame back to full resolution
    (``factor_y = full_height / small_height``, ``factor_x = full_width / small_width``).

    >>> scale_boxes(np.array([[10, 20, 30, 5]]), 2.0)
    array([[20, 40, 60, 10]])
    """
    fx = factor_y if factor_x is None else factor_x
    factors = np.array([factor_y, fx, factor_y, fx])
    return np.rint(boxes.astype(np.float64) * factors).astype(np.int64)


def box_sizes(boxes: BoxArray) -> npt.NDArray[np.int64]:
    """Return each box's size in pixels: the smaller of its width and height, shape (n,)."""
    width = boxes[:, 1] - boxes[:, 3]
    height = boxes[:, 2] - boxes[:, 0]
    return np.minimum(width, height)


def box_areas(boxes: BoxArray) -> npt.NDArray[np.int64]:
    """Return each box's area in square pixels, shape (n,); inverted boxes give 0."""
    width = np.clip(boxes[:, 1] - boxes[:, 3], 0, None)
    height = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    return width * height


def expand_boxes(
    boxes: BoxArray, margin: float, image_shape: tuple[int, ...] | None = None
) -> BoxArray:
    """Grow each box by ``margin`` times its width and height on every side.

    ``margin=0.2`` adds 20% of the width to the left and to the right, and 20% of the
    height above and below. With ``image_shape`` the result is clipped to the image.
    """
    width = (boxes[:, 1] - boxes[:, 3]).astype(np.float64)
    height = (boxes[:, 2] - boxes[:, 0]).astype(np.float64)
    pad_x = np.rint(width * margin).astype(np.int64)
    pad_y = np.rint(height * margin).astype(np.int64)
    out = np.stack(
        [boxes[:, 0] - pad_y, boxes[:, 1] + pad_x, boxes[:, 2] + pad_y, boxes[:, 3] - pad_x],
        axis=1,
    )
    return clip_boxes(out, image_shape) if image_shape is not None else out


def iou(a: BoxArray, b: BoxArray) -> npt.NDArray[np.float64]:
    """Intersection over union of every box of ``a`` with every box of ``b``: shape (n, m)."""
    top = np.maximum(a[:, None, 0], b[None, :, 0])
    right = np.minimum(a[:, None, 1], b[None, :, 1])
    bottom = np.minimum(a[:, None, 2], b[None, :, 2])
    left = np.maximum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)
