"""Poses HOG cannot see, made from real photos, and whether HOG or the CNN finds a face.

The poses of :mod:`faceripper.testing.turned` (``tilt``, ``down``, ``occluded``, and the
``lfw`` photos HOG misses), each searched for per photo (:func:`pose_variants`), and the
detector probes that label every face of its clip (:func:`hog_finds`, :func:`cnn_finds`).
Pixels are RGB uint8 ``(h, w, 3)``, boxes ``(top, right, bottom, left)``, as in
:mod:`faceripper.testing`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.images import ImageRGB, is_image_name, load_rgb
from faceripper.testing.scenes import Box, FaceSource

#: The poses of a face, in the order they are reported. ``frontal`` is a plain photo.
POSES = ("frontal", "lfw", "tilt", "down", "occluded")
#: Poses made from a frontal photo, each with the settings tried, mildest first:
#: degrees of in-plane tilt; vertical scale of the face (looking down); the fraction of
#: the face box's height from its top at which the hand over mouth and chin begins.
POSE_SETTINGS: dict[str, tuple[float, ...]] = {
    "tilt": (45.0, 50.0, 55.0, 60.0, 65.0, 70.0),
    "down": (0.7, 0.65, 0.6, 0.55, 0.5, 0.45),
    "occluded": (0.62, 0.58, 0.54, 0.5, 0.46, 0.42, 0.38),
}
#: A detection counts as finding a face when its box overlaps the face's by this IoU.
FOUND_IOU = 0.3
#: Least CNN score for a face to count as found (``faceripper.follow``'s threshold).
CNN_MIN_SCORE = 0.3
#: dlib's CNN box of a face is about 0.89 of its HOG box's height and 0.08 of it higher
#: (medians over the 277 ``lfw_dev`` photos both find): a CNN box is turned into the
#: HOG box the face would have, so that every face's truth box is HOG-like.
CNN_TO_HOG_SIZE = 1 / 0.89
CNN_TO_HOG_DY = 0.08


def _warp(image: ImageRGB, matrix: npt.NDArray[np.float64]) -> ImageRGB:
    import cv2

    height, width = image.shape[:2]
    warped = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    return np.ascontiguousarray(warped, dtype=np.uint8)


def _centre(box: Box) -> tuple[float, float]:
    top, right, bottom, left = box
    return (left + right) / 2.0, (top + bottom) / 2.0


def tilt_image(image: ImageRGB, box: Box, degrees: float) -> ImageRGB:
    """``image`` turned ``degrees`` (counter-clockwise) about the face box's centre."""
    import cv2

    matrix = cv2.getRotationMatrix2D(_centre(box), degrees, 1.0)
    return _warp(image, np.asarray(matrix, dtype=np.float64))


def look_down_image(image: ImageRGB, box: Box, scale: float) -> ImageRGB:
    """``image`` squeezed vertically to ``scale`` about the face box's centre: a face
    looking down shows its features closer together, foreshortened."""
    _, cy = _centre(box)
    matrix = np.array([[1.0, 0.0, 0.0], [0.0, scale, cy * (1.0 - scale)]])
    return _warp(image, matrix)


def occlude_image(image: ImageRGB, box: Box, start: float) -> ImageRGB:
    """``image`` with a hand over the lower face: a palm and four fingers in the face's
    own skin colour (a little darker, outlined), from ``start`` of the face box's
    height (from its top) to below the chin."""
    import cv2

    top, right, bottom, left = box
    side_w, side_h = right - left, bottom - top
    cheeks = image[
        top + side_h // 3 : top + 2 * side_h // 3, left + side_w // 4 : right - side_w // 4
    ]
    skin = np.median(cheeks.reshape(-1, 3), axis=0) * 0.85
    colour = tuple(int(c) for c in skin)
    edge = tuple(int(c * 0.6) for c in skin)
    layer = image.copy()
    cx = (left + right) / 2.0
    y0 = top + start * side_h
    palm_c = (round(cx + 0.05 * side_w), round(bottom + 0.05 * side_h))
    palm_axes = (round(0.42 * side_w), round(bottom + 0.05 * side_h - y0 - 0.1 * side_h))
    cv2.ellipse(layer, palm_c, palm_axes, 0, 0, 360, colour, -1, cv2.LINE_AA)
    finger_w = 0.11 * side_w
    for k in range(4):
        fx = cx - 0.3 * side_w + k * 0.2 * side_w
        length = (0.25 - 0.04 * abs(k - 1.5)) * side_h
        centre = (round(fx), round(y0 + length / 2))
        axes = (round(finger_w), round(length / 2 + finger_w))
        cv2.ellipse(layer, centre, axes, 8, 0, 360, colour, -1, cv2.LINE_AA)
        cv2.ellipse(layer, centre, axes, 8, 180, 360, edge, 1, cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), max(0.6, side_w / 200))
    changed = np.any(layer != image, axis=2, keepdims=True)
    return np.ascontiguousarray(np.where(changed, layer, image), dtype=np.uint8)


POSE_IMAGES = {"tilt": tilt_image, "down": look_down_image, "occluded": occlude_image}


def cnn_box_to_hog(box: Sequence[int]) -> Box:
    """The HOG-like box (:data:`CNN_TO_HOG_SIZE`, :data:`CNN_TO_HOG_DY`) of a CNN box."""
    top, right, bottom, left = (float(v) for v in box)
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0
    side = (bottom - top) * CNN_TO_HOG_SIZE
    cy += CNN_TO_HOG_DY * side
    half = side / 2.0
    return (round(cy - half), round(cx + half), round(cy + half), round(cx - half))


def best_iou(box: Box, boxes: npt.NDArray[np.int64]) -> tuple[float, int]:
    from faceripper.geometry import as_boxes, iou

    if len(boxes) == 0:
        return 0.0, -1
    overlaps = iou(as_boxes([box]), as_boxes(boxes))[0]
    best = int(np.argmax(overlaps))
    return float(overlaps[best]), best


def hog_finds(image: ImageRGB, box: Box, scale: float) -> bool:
    """Whether HOG, on ``image`` resized by ``scale`` (no upsampling), finds the face
    at ``box`` (IoU at least :data:`FOUND_IOU`)."""
    from faceripper.detector import detect_faces_scaled

    return best_iou(box, detect_faces_scaled(image, scale))[0] >= FOUND_IOU


def cnn_finds(image: ImageRGB, box: Box) -> tuple[float, Box | None]:
    """The CNN's best score and box for the face at ``box``, searching the region
    ``rip`` follows a face in (:func:`faceripper.detector.detect_cnn_around`); 0 and
    None when no box of score :data:`CNN_MIN_SCORE` overlaps it by :data:`FOUND_IOU`."""
    from faceripper.detector import detect_cnn_around

    boxes, scores = detect_cnn_around(image, np.asarray(box, dtype=np.int64))
    keep = scores >= CNN_MIN_SCORE
    boxes, scores = boxes[keep], scores[keep]
    overlap, best = best_iou(box, boxes)
    if overlap < FOUND_IOU:
        return 0.0, None
    top, right, bottom, left = (int(v) for v in boxes[best])
    return float(scores[best]), (top, right, bottom, left)


def at_size(image: ImageRGB, box: Box, size: float) -> tuple[ImageRGB, Box]:
    """``image`` resized so that ``box`` is ``size`` high, and the box there."""
    import cv2

    factor = size / max(box[2] - box[0], 1)
    height, width = image.shape[:2]
    resized = cv2.resize(
        image, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA
    )
    scaled = (
        round(box[0] * factor),
        round(box[1] * factor),
        round(box[2] * factor),
        round(box[3] * factor),
    )
    return np.ascontiguousarray(resized, dtype=np.uint8), scaled


def hog_lost_cnn_found(image: ImageRGB, box: Box, size: float, scale: float) -> bool:
    """Whether the face at ``box``, drawn ``size`` high, is missed by HOG at ``scale``
    and found by the CNN."""
    small, small_box = at_size(image, box, size)
    return not hog_finds(small, small_box, scale) and cnn_finds(small, small_box)[0] > 0


@dataclass(frozen=True)
class PoseVariant:
    """A photo in one pose, written to a file, with the pose's name and setting."""

    source: FaceSource
    pose: str
    setting: float


def pose_variants(
    source: FaceSource, out_dir: Path, size: float, scale: float, poses: Iterable[str]
) -> list[PoseVariant]:
    """For each of ``poses`` (keys of :data:`POSE_SETTINGS`), a setting at which HOG (at
    ``scale``) misses the face of ``source`` drawn ``size`` high and the CNN finds it (the
    second mildest such setting, else the only one), written as a PNG under ``out_dir``;
    poses with no such setting are left out. The variant's box is the original face's
    (same centre and size)."""
    import cv2

    image = load_rgb(source.path)
    found = []
    for pose in poses:
        good = [
            (setting, posed)
            for setting in POSE_SETTINGS[pose]
            for posed in [POSE_IMAGES[pose](image, source.box, setting)]
            if hog_lost_cnn_found(posed, source.box, size, scale)
        ]
        if not good:
            continue
        # One step past the mildest setting HOG misses, where there is one: the video's
        # noise and compression must not bring the face back into HOG's sight.
        setting, posed = good[min(1, len(good) - 1)]
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{source.path.stem}-{pose}-{setting:g}.png"
        cv2.imwrite(str(path), cv2.cvtColor(posed, cv2.COLOR_RGB2BGR))
        found.append(PoseVariant(FaceSource(path, source.identity, source.box), pose, setting))
    return found


def hog_missed_photos(people_dir: Path, scale: float) -> list[tuple[FaceSource, float]]:
    """The photos of ``people_dir`` (LFW, one folder a person) in which HOG at ``scale``
    finds no face and the CNN (whole photo, no upsampling) finds one: each as a
    :class:`FaceSource` with the HOG-like box of the CNN's (:func:`cnn_box_to_hog`), and
    the CNN's score. ``lfw_dev`` has 3 (measured: Jacques Chirac 0006 and 0010, John Paul
    II 0002; HOG finds the last when the photo is doubled)."""
    from faceripper.detector import detect_cnn_scored, detect_faces_scaled

    found = []
    for folder in sorted(p for p in Path(people_dir).iterdir() if p.is_dir()):
        for path in sorted(p for p in folder.iterdir() if is_image_name(p)):
            image = load_rgb(path)
            if len(detect_faces_scaled(image, scale)):
                continue
            boxes, scores = detect_cnn_scored(image)
            if len(boxes) and scores[0] >= CNN_MIN_SCORE:
                found.append(
                    (FaceSource(path, folder.name, cnn_box_to_hog(boxes[0])), float(scores[0]))
                )
    return found


# --------------------------------------------------------------------------------------
