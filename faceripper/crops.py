"""Cutting face crops out of frames: aligned or plain, sized, and their JPEG bytes.

Aligned crops (the default) are rotated about the face box's centre so that the line
through the eye centres is level, then cut square and resized to ``size_px``. A face
turned away from the camera is rotated 10 degrees at most (:func:`alignment_roll`):
its landmarks do not find its eye line. Plain
crops are the square around the box, as FaceRipper v1 cut them. Either way the square's
side is the box's larger side times ``1 + 2 * margin``.

Images are RGB uint8 ``(h, w, 3)``; boxes ``(top, right, bottom, left)``; landmarks
``(k, 2)`` ``(x, y)`` from dlib's 5- or 68-point model.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, expand_boxes
from faceripper.images import ImageRGB

#: Side of the grayscale thumbnail compared by near-duplicate suppression.
SIGNATURE_PX = 16


def eye_centres(landmarks_xy: npt.NDArray[np.float64]) -> tuple[npt.NDArray, npt.NDArray]:
    """The centres ``(x, y)`` of the eye on the image's left and the one on its right.

    dlib's 5-point model gives two corners per eye (points 0-1 and 2-3) and the nose
    base (4); the 68-point model gives six points per eye (36-41 and 42-47).
    """
    if len(landmarks_xy) == 68:
        first, second = landmarks_xy[36:42].mean(axis=0), landmarks_xy[42:48].mean(axis=0)
    elif len(landmarks_xy) == 5:
        first, second = landmarks_xy[0:2].mean(axis=0), landmarks_xy[2:4].mean(axis=0)
    else:
        raise ValueError(f"expected 5 or 68 landmarks, got {len(landmarks_xy)}")
    return (first, second) if first[0] <= second[0] else (second, first)


def roll_degrees(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """The angle of the line from the left eye to the right eye, in degrees (0: level)."""
    left, right = eye_centres(landmarks_xy)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


#: A face whose nose lies farther than this (in eye distances) from the middle of its
#: eyes, along the eye line, is turned (:func:`nose_offset`) ...
FRONTAL_NOSE_OFFSET = 0.15
#: ... and its crop is rotated at most this many degrees either way
#: (:func:`alignment_roll`). Measured with the 5-point landmarks on the Hamilton clip:
#: frontal faces lie 0.02-0.09 off (median 0.06-0.09, also when turned in the image's
#: plane by up to 60 degrees), Lin-Manuel Miranda's profile 0.16-0.25 (its four eye
#: points strung along the brow: "rolls" of up to 19 degrees), three-quarter faces in
#: the audience 0.16-0.52 (up to 17 degrees).
TURNED_MAX_ROLL = 10.0


def nose_offset(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """How far the nose lies from the middle of the eyes, along the eye line, in eye
    distances (0: a frontal face; 0.5: the nose in front of one eye).

    ``landmarks_xy``: dlib's ``(5, 2)`` or ``(68, 2)`` points.
    """
    left, right = eye_centres(landmarks_xy)
    nose = landmarks_xy[33] if len(landmarks_xy) == 68 else landmarks_xy[4]
    axis = right - left
    length = float(np.hypot(*axis))
    if length < 1e-6:
        return math.inf
    return abs(float((nose - left) @ axis) / length**2 - 0.5)


def alignment_roll(landmarks_xy: npt.NDArray[np.float64]) -> float:
    """The rotation (degrees) that levels a face's eyes, as far as its landmarks can tell.

    A frontal face (:func:`nose_offset` at most :data:`FRONTAL_NOSE_OFFSET`) gets its
    whole roll (:func:`roll_degrees`), a tilted head included; a turned one at most
    :data:`TURNED_MAX_ROLL`: on a profile, dlib's landmarks string the eye points
    along the brow, and their "eye line" would spin the crop.

    Example:
        >>> frontal = np.array([[70, 50], [60, 48], [30, 40], [40, 42], [47, 65]], float)
        >>> alignment_roll(frontal) == roll_degrees(frontal)
        True
        >>> profile = np.array([[70, 70], [60, 60], [30, 30], [40, 40], [28, 55]], float)
        >>> round(roll_degrees(profile)), alignment_roll(profile)
        (45, 10.0)
    """
    roll = roll_degrees(landmarks_xy)
    if nose_offset(landmarks_xy) <= FRONTAL_NOSE_OFFSET:
        return roll
    return max(-TURNED_MAX_ROLL, min(TURNED_MAX_ROLL, roll))


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
    (:func:`alignment_roll`: a turned face 10 degrees at most).

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
