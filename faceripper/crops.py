"""Cutting face crops out of frames: aligned or plain, sized, and their JPEG bytes.

Aligned crops (the default) are rotated about the face box's centre so that the line
through the eye centres is level, then cut square and resized to ``size_px``. A face
turned away from the camera is rotated 10 degrees at most, unless its eye line is
tilted 25 degrees or more (:func:`faceripper.pose.alignment_roll`): a profile's
landmarks do not find its eye line. Plain
crops are the square around the box, as FaceRipper v1 cut them. Either way the square's
side is the box's larger side times ``1 + 2 * margin``.

Images are RGB uint8 ``(h, w, 3)``; boxes ``(top, right, bottom, left)``; landmarks
``(k, 2)`` ``(x, y)`` from dlib's 5- or 68-point model.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, expand_boxes
from faceripper.images import ImageRGB
from faceripper.pose import alignment_roll

#: Side of the grayscale thumbnail compared by near-duplicate suppression.
SIGNATURE_PX = 16


def _square_side(box: BoxArray, margin: float) -> float:
    top, right, bottom, left = (float(v) for v in box)
    return max(right - left, bottom - top) * (1.0 + 2.0 * margin)


def box_crop(image: ImageRGB, box: BoxArray, margin: float, size_px: int = 0) -> ImageRGB:
    """The square around a face box grown by ``margin`` per side, clipped to the image.

    With ``size_px`` the crop is resized to ``size_px`` square (crops clipped at the
    frame's edge are stretched); 0 keeps the frame's pixels.
    """
    import cv2

    top, right, bottom, left = (int(v) for v in box)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = _square_side(box, margin) / 2
    square = np.rint(np.array([[cy - half, cx + half, cy + half, cx - half]])).astype(np.int64)
    t, r, b, lft = expand_boxes(square, 0.0, image.shape)[0]
    crop = np.ascontiguousarray(image[t:b, lft:r])
    if size_px and crop.size:
        shrink = crop.shape[0] > size_px
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        crop = np.asarray(
            cv2.resize(crop, (size_px, size_px), interpolation=interpolation), dtype=np.uint8
        )
    return crop


def aligned_crop(
    image: ImageRGB,
    box: BoxArray,
    landmarks_xy: npt.NDArray[np.float64],
    margin: float,
    size_px: int,
) -> ImageRGB:
    """A square crop of ``size_px``, rotated so that the eyes are level
    (:func:`alignment_roll`: a turned face 10 degrees at most, unless its eye line is
    tilted as a head is).

    The square is centred on the box's centre with a side of the box's larger side times
    ``1 + 2 * margin``; parts outside the frame are filled by mirroring the frame's edge.
    """
    import cv2

    top, right, bottom, left = (float(v) for v in box)
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    side = _square_side(box, margin)
    source = image
    if size_px / side < 0.5:
        # Shrink the face's neighbourhood first: warpAffine has no area averaging.
        reach = side * 0.75
        x0, y0 = max(0, int(cx - reach)), max(0, int(cy - reach))
        x1 = min(image.shape[1], int(cx + reach) + 1)
        y1 = min(image.shape[0], int(cy + reach) + 1)
        factor = 2.0 * size_px / side
        region = image[y0:y1, x0:x1]
        width = max(1, round(region.shape[1] * factor))
        height = max(1, round(region.shape[0] * factor))
        source = np.asarray(
            cv2.resize(region, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        fx, fy = width / region.shape[1], height / region.shape[0]
        cx, cy, side = (cx - x0) * fx, (cy - y0) * fy, side * fx
    matrix = cv2.getRotationMatrix2D((cx, cy), alignment_roll(landmarks_xy), size_px / side)
    matrix[0, 2] += size_px / 2.0 - cx
    matrix[1, 2] += size_px / 2.0 - cy
    aligned = cv2.warpAffine(
        np.ascontiguousarray(source),
        matrix,
        (size_px, size_px),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    return np.asarray(aligned, dtype=np.uint8)


def signature(crop: ImageRGB) -> npt.NDArray[np.float32]:
    """A small normalised grayscale thumbnail of a crop, for near-duplicate checks.

    ``(SIGNATURE_PX, SIGNATURE_PX)`` float32, zero mean and unit variance, so a change
    of overall brightness alone does not make two crops differ.
    """
    import cv2

    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (SIGNATURE_PX, SIGNATURE_PX), interpolation=cv2.INTER_AREA)
    values = small.astype(np.float32)
    values -= values.mean()
    spread = float(values.std())
    return values / spread if spread > 1e-6 else values


def signature_distance(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Mean absolute difference of two signatures (0: identical; about 1.1: unrelated)."""
    return float(np.abs(a - b).mean())


def encode_jpeg(image: ImageRGB, quality: int) -> bytes:
    """JPEG bytes of an RGB image."""
    import cv2

    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


class CropSettings(Protocol):
    """How ``rip`` crops a face (:class:`faceripper.worker.RipSettings` has these)."""

    @property
    def align(self) -> bool: ...
    @property
    def margin(self) -> float: ...
    @property
    def size_px(self) -> int: ...
    @property
    def jpeg_quality(self) -> int: ...
    @property
    def dedupe(self) -> bool: ...


def face_crop(
    image: ImageRGB,
    box: npt.NDArray[np.int64],
    landmarks: npt.NDArray[np.float64],
    settings: CropSettings,
) -> tuple[bytes, npt.NDArray[np.float32] | None]:
    """A face's crop as ``rip`` writes it: JPEG bytes, and its near-duplicate
    :func:`signature` (None without ``settings.dedupe``).

    Eye-level aligned with ``landmarks`` (``(k, 2)`` float64) when ``settings.align``
    (:func:`aligned_crop`), else the box with its margin (:func:`box_crop`); ``box`` is
    ``(4,)`` int64 ``(top, right, bottom, left)``.
    """
    if settings.align:
        crop = aligned_crop(image, box, landmarks, settings.margin, settings.size_px)
    else:
        crop = box_crop(image, box, settings.margin, settings.size_px)
    jpeg = encode_jpeg(crop, settings.jpeg_quality)
    return jpeg, signature(crop) if settings.dedupe else None
