"""Sharpness of a face: the variance of the Laplacian on a size-normalised crop.

FaceRipper v1 measured the variance of the Laplacian on the raw crop, so the same face
scored differently at 100 px and at 1000 px (a large face holds more fine detail per
pixel than a small one, and its edges are spread over more pixels). Here every face is
first resized to :data:`NORMALISED_SIZE_PX` square, in grayscale, then scored, so one
threshold means the same at any face size.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray

#: Side of the square every face is resized to before its Laplacian is measured.
NORMALISED_SIZE_PX = 128


def sharpness(image: npt.NDArray[np.uint8], boxes: BoxArray) -> npt.NDArray[np.float64]:
    """Size-normalised sharpness of each face box: ``(n,)`` float64, higher is sharper.

    Args:
        image: RGB (or BGR: the gray conversion weights differ only slightly) uint8
            ``(h, w, 3)``, or grayscale ``(h, w)``.
        boxes: ``(n, 4)`` int64 ``(top, right, bottom, left)`` inside the image.
    """
    import cv2

    scores = np.full(len(boxes), np.nan)
    for i, (top, right, bottom, left) in enumerate(boxes):
        crop = image[max(top, 0) : bottom, max(left, 0) : right]
        if crop.shape[0] < 2 or crop.shape[1] < 2:
            scores[i] = 0.0
            continue
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        shrinking = gray.shape[0] > NORMALISED_SIZE_PX
        side = (NORMALISED_SIZE_PX, NORMALISED_SIZE_PX)
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        square = cv2.resize(gray, side, interpolation=interpolation)
        scores[i] = float(cv2.Laplacian(square, cv2.CV_64F).var())
    return scores
