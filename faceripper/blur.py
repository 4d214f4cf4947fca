"""Sharpness of a face: the variance of the Laplacian on a size-normalised crop.

FaceRipper v1 measured the variance of the Laplacian on the raw crop, so the same face
scored differently at 100 px and at 1000 px (a large face holds little detail per pixel,
its edges spread over many pixels). Here every face is first resampled so that its box
is :data:`NORMALISED_SIZE_PX` square, in grayscale, then scored, so one threshold means
the same blur, as a fraction of the face's size, at any face size.

Why 64 px: the 3x3 Laplacian responds to detail about one pixel of the normalised crop
wide, so the score measures blur relative to ``1 / NORMALISED_SIZE_PX`` of the face. A
face smaller than that must be enlarged, which adds no detail, so it scores low even
when perfectly sharp. With 128 px (the first version, enlarging bilinearly) a sharp
100 px face scored 0.43 of the same face at 250 px and 0.32 of it at 1000 px; with 64 px
(enlarging bicubically) 0.74 and 0.68. Blurred faces (Gaussian sigma 2% of the face
height or more) score the same at every size from 80 px to 1000 px within 6%.
Measurements, the default threshold and its error rates: ``docs/blur.md``
(``benchmarks/blur_threshold.py`` reproduces them).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray

#: Side of the square a face box is resampled to before its Laplacian is measured.
NORMALISED_SIZE_PX = 64

#: Default ``rip --blur`` threshold: faces whose :func:`sharpness` is below it are blurry.
#: Measured on real faces from 60 to 1000 px, sharp and blurred: see docs/blur.md.
DEFAULT_BLUR_THRESHOLD: float = 75.0

#: Default ``rip --blur-floor``: a face under ``--blur`` but not under this floor is kept
#: when it is as sharp as its track allows (:func:`soft_in_track`); a face under the floor
#: never is. Measured on footage-like ground truth: docs/blur.md, "Soft faces judged by
#: their track".
DEFAULT_BLUR_FLOOR: float = 50.0


def default_floor(threshold: float) -> float:
    """``--blur-floor`` when it is not given: the same fraction of ``--blur`` as the
    defaults' (two thirds), so that a stricter ``--blur`` (FaceRipper v1's 250) keeps its
    meaning instead of meeting a floor measured for 75.

    >>> default_floor(DEFAULT_BLUR_THRESHOLD), default_floor(250.0)
    (50.0, 166.66666666666666)
    """
    return threshold * DEFAULT_BLUR_FLOOR / DEFAULT_BLUR_THRESHOLD


#: A face under ``--blur`` is kept only when it scores at least this fraction of its
#: track's sharp level (:func:`track_sharpness`): a face blurred by a Gaussian of 2% of
#: its height keeps 6-14% of its sharp score, one of 3% 3-6%, so such a dip in a sharp
#: track stays blurry, while an in-focus track's faces (head turns, light) were measured
#: down to 16% of its level. docs/blur.md, "Soft faces judged by their track".
TRACK_FACTOR: float = 0.15


def sharpness(image: npt.NDArray[np.uint8], boxes: BoxArray) -> npt.NDArray[np.float64]:
    """Size-normalised sharpness of each face box: ``(n,)`` float64, higher is sharper.

    The part of the box inside the image is converted to gray and resampled by the factor
    that makes the whole box :data:`NORMALISED_SIZE_PX` square (area averaging to
    shrink, bicubic to enlarge); the score is the variance of its 3x3 Laplacian. A box
    partly outside the image keeps its scale (only the visible part is measured); a box
    with less than 2x2 pixels inside the image scores 0.

    Args:
        image: RGB (or BGR: the gray conversion weights differ only slightly) uint8
            ``(h, w, 3)``, or grayscale ``(h, w)``.
        boxes: ``(n, 4)`` int64 ``(top, right, bottom, left)``.
    """
    import cv2

    height, width = image.shape[:2]
    scores = np.zeros(len(boxes), dtype=np.float64)
    for i, (top, right, bottom, left) in enumerate(np.asarray(boxes, dtype=np.int64)):
        y0, y1 = min(max(top, 0), height), min(max(bottom, 0), height)
        x0, x1 = min(max(left, 0), width), min(max(right, 0), width)
        if y1 - y0 < 2 or x1 - x0 < 2:
            continue  # (almost) nothing of the box inside the image
        crop = image[y0:y1, x0:x1]
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        # The factor that makes the whole box NORMALISED_SIZE_PX, applied to the visible
        # part, so a face cut by the image border keeps its scale.
        out_h = max(2, round(crop.shape[0] * NORMALISED_SIZE_PX / int(bottom - top)))
        out_w = max(2, round(crop.shape[1] * NORMALISED_SIZE_PX / int(right - left)))
        # Area averaging costs 2-4 ms for a 1000 px face and grows with the pixel
        # count: halve very large faces first with pyrDown (5-tap Gaussian, sigma 1 px of
        # its input) while at least 8x the target remains, so that its smoothing is at
        # most 1/16 px of the result (scores move by about 1%).
        while gray.shape[0] >= 16 * out_h and gray.shape[1] >= 16 * out_w:
            gray = cv2.pyrDown(gray)
        if (out_h, out_w) != gray.shape:
            shrinking = out_h * out_w < gray.shape[0] * gray.shape[1]
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
            gray = cv2.resize(gray, (out_w, out_h), interpolation=interpolation)
        scores[i] = float(cv2.Laplacian(gray, cv2.CV_64F).var())
    return scores


def is_blurry(scores: npt.NDArray[np.float64], threshold: float) -> npt.NDArray[np.bool_]:
    """Which faces are blurry: ``(n,)`` bool, their :func:`sharpness` ``scores`` under
    ``threshold`` (``--blur``; 0: none is).

    >>> is_blurry(np.array([20.0, 90.0]), 75.0).tolist(), is_blurry(np.array([20.0]), 0).tolist()
    ([True, False], [False])
    """
    if threshold > 0:
        return np.asarray(scores < threshold, dtype=bool)
    return np.zeros(len(scores), dtype=bool)


def croppable(
    scores: npt.NDArray[np.float64], blurry: npt.NDArray[np.bool_], floor: float
) -> npt.NDArray[np.bool_]:
    """Which faces of a frame are cropped: ``(n,)`` bool, those not ``blurry`` and those
    that their track may still keep, not under ``floor`` (:func:`soft_in_track`; 0:
    every face, as ``--save-blurry`` keeps them all; inf: none that is blurry).

    >>> croppable(np.array([90.0, 50.0, 20.0]), np.array([False, True, True]), 40.0).tolist()
    [True, True, False]
    """
    return np.asarray(~np.asarray(blurry, dtype=bool) | (np.asarray(scores) >= floor), dtype=bool)


def track_sharpness(scores: npt.NDArray[np.float64]) -> float:
    """A track's sharp level: the upper quartile of its faces' :func:`sharpness` scores
    (0 for no face). A quarter of the track's faces may be blurred by motion or focus
    without lowering it.

    >>> track_sharpness(np.array([400.0, 420.0, 30.0, 410.0, 35.0]))
    410.0
    """
    if len(scores) == 0:
        return 0.0
    return float(np.percentile(np.asarray(scores, dtype=np.float64), 75))


def soft_in_track(
    scores: npt.NDArray[np.float64],
    threshold: float,
    floor: float,
    factor: float = TRACK_FACTOR,
) -> npt.NDArray[np.bool_]:
    """Which faces of one track are under ``threshold`` (``--blur``) yet kept: ``(n,)``
    bool, those scoring at least ``floor`` (``--blur-floor``) and at least ``factor``
    of the track's sharp level (:func:`track_sharpness`).

    A track whose faces are all soft alike (a dark, noisy or soft shot, in focus) keeps
    them; a face far under the rest of its track (a motion-blurred frame of a sharp
    track) does not, nor does any face under ``floor``. With ``floor >= threshold`` (or
    ``threshold`` 0) no face is. ``scores``: the track's faces, all of them.

    >>> soft_in_track(np.array([50.0, 60.0, 45.0, 30.0]), 75.0, 40.0).tolist()
    [True, True, True, False]
    >>> soft_in_track(np.array([400.0, 420.0, 60.0, 410.0]), 75.0, 40.0).tolist()
    [False, False, False, False]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if threshold <= 0 or floor >= threshold:
        return np.zeros(len(scores), dtype=bool)
    level = track_sharpness(scores)
    return np.asarray(
        (scores < threshold) & (scores >= floor) & (scores >= factor * level), dtype=bool
    )
