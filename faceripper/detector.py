"""Face detection with dlib's HOG or CNN (MMOD) detector.

Images are RGB uint8 ``(h, w, 3)`` C-contiguous arrays (see :mod:`faceripper.images`);
boxes come back as ``(n, 4)`` int64 ``(top, right, bottom, left)`` arrays clipped to the
image, exactly as ``face_recognition.face_locations`` returns them.

The CNN's network runs on the process's engine (``models.Models.configure_cnn``:
onnxruntime by default, OpenCV, or dlib's own), with dlib's boxes and scores within
float rounding (:mod:`faceripper.mmodnet`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from faceripper import memo
from faceripper.geometry import BoxArray, as_boxes, box_sizes, clip_boxes, iou, scale_boxes
from faceripper.images import ImageRGB
from faceripper.memo import RegionSearch
from faceripper.models import DetectorModel, get_models

#: Detection confidences, ``(n,)`` float32.
Scores = npt.NDArray[np.float32]

#: Side (as dlib's boxes measure it) of the smallest face dlib's HOG detector finds
#: reliably without upsampling. Measured on 40 LFW faces pasted at known sizes: found
#: 3% of the time at 44 px, 60% at 56 px, 95% at 60 px, 100% from 64 px up.
HOG_RELIABLE_FACE_PX = 68
#: Side of the smallest face dlib's CNN (MMOD) detector finds reliably, as it is
#: searched for. Its boxes come in sizes of whole pyramid levels, the smallest 79 px, and
#: it finds faces a little smaller than that (boxed at 79): at a detection scale ``s``
#: its smallest box is ``79 / s`` in the frame, which must not fall under
#: ``--min-size`` (the face would be dropped as too small), while the face must not be
#: so small at ``s`` that the CNN misses it. Measured on the Hamilton clip's frontal
#: close-up (HOG boxes of 105 px): at 0.68 (72 px) the CNN missed it in half the
#: frames, which broke its tracks into pieces too short to decide; at 0.8 (84 px) it
#: was found in every frame but boxed at 99 px, under 100; at 0.78, 101 px.
CNN_RELIABLE_FACE_PX = 78
#: Frames are never enlarged more than this for detection.
MAX_DETECTION_UPSCALE = 4.0


def _rect_trbl(rect: object) -> tuple[int, int, int, int]:
    return rect.top(), rect.right(), rect.bottom(), rect.left()  # type: ignore[attr-defined]


def detect_faces(image: ImageRGB, model: DetectorModel = "hog", upsample: int = 1) -> BoxArray:
    """Find faces in an image.

    Args:
        image: RGB uint8 array ``(h, w, 3)``, C-contiguous.
        model: ``"hog"`` (fast, CPU) or ``"cnn"`` (dlib's MMOD detector: more faces, turned
            ones too, about 5 times HOG's cost on onnxruntime; see
            :func:`detect_cnn_scored`).
        upsample: how many times to double the image first; higher numbers find smaller
            faces (each doubling makes HOG about 4x slower). face_recognition's default is 1.

    Returns:
        ``(n, 4)`` int64 boxes ``(top, right, bottom, left)``, clipped to the image.
    """
    if model not in ("hog", "cnn"):
        raise ValueError(f"unknown detector model {model!r}: use 'hog' or 'cnn'")
    if model == "cnn":
        return detect_cnn_scored(image, upsample)[0]
    image = np.ascontiguousarray(image)  # dlib misreads strided views (see INSTALLING_DLIB.md)
    rects = list(get_models().hog_detector(image, upsample))
    return clip_boxes(as_boxes([_rect_trbl(r) for r in rects]), image.shape)


def _dlib_cnn_found(found: Sequence[object], shape: tuple[int, ...]) -> tuple[BoxArray, Scores]:
    """dlib's ``mmod_rectangles`` as clipped boxes and float32 confidences."""
    boxes = as_boxes([_rect_trbl(d.rect) for d in found])  # type: ignore[attr-defined]
    scores = np.array([d.confidence for d in found], dtype=np.float32)  # type: ignore[attr-defined]
    return clip_boxes(boxes, shape), scores


def detect_cnn_scored(image: ImageRGB, upsample: int = 0) -> tuple[BoxArray, Scores]:
    """Faces found by dlib's CNN (MMOD) detector, with its confidences.

    Runs on the process's engine (``get_models().configure_cnn``): the converted
    network (:mod:`faceripper.mmodnet`: dlib's boxes, scores within float rounding;
    on one core about 25, 35 and 70 ms of CPU for a 150, 200 and 300 px square region,
    0.56 s for a 720p frame), or dlib's own with ``--engine dlib`` (10 times slower).

    Args:
        image: RGB uint8 ``(h, w, 3)``.
        upsample: how many times the image is doubled first; each doubling finds faces
            half as large (without doubling, faces from about 70 px; boxes of at least
            80 px, the detection window).

    Returns:
        ``(boxes, scores)``: ``(n, 4)`` int64 ``(top, right, bottom, left)`` boxes in
        the image's pixels, clipped to it, and ``(n,)`` float32 confidences (above 0),
        best first.

    Example:
        >>> boxes, scores = detect_cnn_scored(np.zeros((120, 160, 3), np.uint8))
        >>> boxes.shape, scores.dtype
        ((0, 4), dtype('float32'))
    """
    image = np.ascontiguousarray(image)
    models = get_models()
    network = models.cnn_network
    if network is None:
        return _dlib_cnn_found(models.cnn_detector(image, upsample), image.shape)
    boxes, scores = network.detect(image, upsample)
    return clip_boxes(boxes, image.shape), scores


def detect_faces_batch(
    images: Sequence[ImageRGB], upsample: int = 0, batch_size: int = 32
) -> list[BoxArray]:
    """Run the CNN detector over several same-sized images in one batch (one engine call)."""
    if not images:
        return []
    images = [np.ascontiguousarray(i) for i in images]
    models = get_models()
    network = models.cnn_network
    if network is None:
        found = models.cnn_detector(list(images), upsample, batch_size=batch_size)
        return [_dlib_cnn_found(f, images[0].shape)[0] for f in found]
    return [clip_boxes(b, images[0].shape) for b, _ in network.detect_batch(images, upsample)]


def detect_faces_batch_scaled(
    images: Sequence[ImageRGB], scale: float, upsample: int = 0
) -> list[BoxArray]:
    """CNN-detect same-sized images in one batch, on copies resized by ``scale``.

    Boxes are returned in full-resolution pixels, one array per image.
    """
    import cv2

    if not images:
        return []
    height, width = images[0].shape[:2]
    if abs(scale - 1.0) < 1e-6:
        return detect_faces_batch([np.ascontiguousarray(i) for i in images], upsample)
    small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
    interpolation = _interpolation(scale)
    small = [
        np.ascontiguousarray(
            cv2.resize(i, (small_w, small_h), interpolation=interpolation), dtype=np.uint8
        )
        for i in images
    ]
    return [
        clip_boxes(scale_boxes(b, height / small_h, width / small_w), images[0].shape)
        for b in detect_faces_batch(small, upsample)
    ]


def detection_scale(min_size_px: int, model: DetectorModel = "hog") -> float:
    """The factor to resize a frame by so that a face of ``min_size_px`` is still found.

    HOG finds faces reliably from :data:`HOG_RELIABLE_FACE_PX` up, dlib's CNN detector
    from :data:`CNN_RELIABLE_FACE_PX`, so a frame whose faces of interest are at least
    ``min_size_px`` is shrunk to ``HOG_RELIABLE_FACE_PX / min_size_px`` of its size
    before HOG detection (``CNN_RELIABLE_FACE_PX / min_size_px`` before the CNN's): at
    the default ``--min-size 100`` a 1080p frame is detected at 0.68 of its size, in
    less than half the time (0.78 with ``--model cnn``). A smaller ``min_size_px``
    enlarges the frame instead (at most :data:`MAX_DETECTION_UPSCALE` times), which is
    slower but finds those faces.

    >>> detection_scale(100), detection_scale(68), detection_scale(34)
    (0.68, 1.0, 2.0)
    >>> detection_scale(100, "cnn")
    0.78
    """
    if min_size_px <= 0:
        return MAX_DETECTION_UPSCALE
    reliable = CNN_RELIABLE_FACE_PX if model == "cnn" else HOG_RELIABLE_FACE_PX
    return min(MAX_DETECTION_UPSCALE, reliable / float(min_size_px))


def _interpolation(scale: float) -> int:
    """Area averaging only where a linear resize would alias (below half size).

    Linear interpolation is 6x faster on a 1080p frame (2.7 ms against 17.6 ms at 0.85),
    and between half size and full size it drops no detail HOG uses.
    """
    import cv2

    return cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR


def resize_for_detection(image: ImageRGB, scale: float) -> ImageRGB:
    """``image`` resized by ``scale`` as the detector gets it (itself at scale 1)."""
    import cv2

    if abs(scale - 1.0) < 1e-6:
        return image
    small_h, small_w = detection_size(image.shape, scale)
    small = cv2.resize(image, (small_w, small_h), interpolation=_interpolation(scale))
    return np.ascontiguousarray(small)


def detection_size(shape: tuple[int, ...], scale: float) -> tuple[int, int]:
    """``(height, width)`` of an image of ``shape`` as the detector gets it at ``scale``
    (:func:`resize_for_detection`).

    >>> detection_size((1080, 1920, 3), 0.68), detection_size((360, 640, 3), 1.0)
    ((734, 1306), (360, 640))
    """
    if abs(scale - 1.0) < 1e-6:
        return shape[0], shape[1]
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def detect_faces_scaled(
    image: ImageRGB, scale: float, model: DetectorModel = "hog", upsample: int = 0
) -> BoxArray:
    """Detect on a copy of ``image`` resized by ``scale``; boxes in full-resolution pixels."""
    small = resize_for_detection(image, scale)
    boxes = detect_faces(small, model=model, upsample=upsample)
    if small is image:
        return boxes
    height, width = image.shape[:2]
    factors = (height / small.shape[0], width / small.shape[1])
    return clip_boxes(scale_boxes(boxes, *factors), image.shape)


#: Around a tracked face, the region searched reaches this many face sides beyond its
#: box on every side: as far as a face can move and still link to its track (an overlap
#: of at least 0.3 with its last box, :data:`faceripper.tracks.LINK_IOU`, allows a shift
#: of about half a side).
REGION_MARGIN = 0.5
#: A region is shrunk further than the whole frame's detection scale only while its face
#: stays at least this many pixels high: a face that shrank by the largest size ratio a
#: track links (1.5x) is still over :data:`HOG_RELIABLE_FACE_PX`.
REGION_FACE_PX = 104
#: dlib's HOG detector searches an image pyramid whose levels shrink by this factor
#: (``pyramid_down<6>``). Regions are shrunk by whole levels, so that their faces get the
#: box sizes that a search of the whole frame gives them.
HOG_PYRAMID_STEP = 5 / 6
#: dlib's HOG features are computed on cells of this many pixels.
HOG_CELL_PX = 8
#: Two detections of overlapping regions overlapping more than this are one face.
SAME_FACE_IOU = 0.5


def region_scale(side_px: float, base_scale: float) -> float:
    """The scale a region around a face of ``side_px`` is searched at.

    ``base_scale`` (the whole frame's, :func:`detection_scale`) times as many pyramid
    steps as keep the face at least :data:`REGION_FACE_PX` high: a large face is
    searched in a small image, at the pyramid level where a whole-frame search would
    find it, so it gets the same box.

    >>> region_scale(100, 0.68), round(region_scale(300, 0.68), 4)
    (0.68, 0.3935)
    """
    face_px = side_px * base_scale
    if face_px <= REGION_FACE_PX:
        return base_scale
    steps = math.floor(math.log(face_px / REGION_FACE_PX) / -math.log(HOG_PYRAMID_STEP))
    return base_scale * HOG_PYRAMID_STEP**steps


def detect_around(
    image: ImageRGB,
    boxes: BoxArray,
    base_scale: float = 1.0,
    model: DetectorModel = "hog",
    search: RegionSearch | None = None,
) -> BoxArray:
    """Detect faces only near ``boxes`` (the last boxes of tracked faces).

    The frame is resized by ``base_scale`` as for a whole-frame search; each box's
    region (:data:`REGION_MARGIN` face sides around it) is cut from it along the HOG
    detector's 8-pixel cell grid, so a face the size of the smallest face searched
    gets exactly the box a whole-frame search gives it. Regions of larger faces are
    shrunk by whole steps of the detector's pyramid (:func:`region_scale`), so they get
    the same box sizes too and a 600 px face costs no more than a 100 px one: a few
    percent of a whole 1080p frame each. A face found by two overlapping regions is
    reported once.

    Args:
        image: RGB uint8 ``(h, w, 3)``.
        boxes: ``(n, 4)`` int64 ``(top, right, bottom, left)`` boxes in ``image``.
        base_scale: the scale the whole frame is searched at (:func:`detection_scale`);
            no region is searched at a larger one, so no smaller face is found.
        model: the detector, as for :func:`detect_faces`.
        search: how a region is searched (:func:`faceripper.memo.region_search`: from
            an earlier run's searches), given its place ``(top, left, bottom, right,
            width, height, resized)`` in the frame resized by ``base_scale`` and a
            function that cuts it out; default: ``model`` on the region.

    Returns:
        ``(k, 4)`` int64 boxes in ``image``'s pixels, clipped to it.

    Example:
        >>> detect_around(np.zeros((360, 640, 3), np.uint8), np.zeros((0, 4), np.int64))
        array([], shape=(0, 4), dtype=int64)
    """
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    small_h, small_w = detection_size(image.shape, base_scale)
    shrunk = functools.cache(lambda: resize_for_detection(image, base_scale))  # when needed
    fy, fx = image.shape[0] / small_h, image.shape[1] / small_w
    found: list[BoxArray] = []
    for box, side in zip(boxes, box_sizes(boxes), strict=True):
        pad = max(int(side), 1) * REGION_MARGIN
        top = max(0, math.floor((box[0] - pad) / fy / HOG_CELL_PX) * HOG_CELL_PX)
        left = max(0, math.floor((box[3] - pad) / fx / HOG_CELL_PX) * HOG_CELL_PX)
        bottom = min(small_h, math.ceil((box[2] + pad) / fy / HOG_CELL_PX) * HOG_CELL_PX)
        right = min(small_w, math.ceil((box[1] + pad) / fx / HOG_CELL_PX) * HOG_CELL_PX)
        if bottom - top < HOG_CELL_PX or right - left < HOG_CELL_PX:
            continue
        shrink = region_scale(float(side), base_scale) / base_scale
        size = (right - left, bottom - top)  # (width, height) the region is searched at
        if shrink < 1.0:
            size = (max(1, round((right - left) * shrink)), max(1, round((bottom - top) * shrink)))
        cut = functools.partial(_cut_region, shrunk, (top, left, bottom, right), size)
        if search is None:
            local = detect_faces(cut(), model=model, upsample=0)
        else:
            local = search((top, left, bottom, right, *size, int(shrink < 1.0)), cut)[0]
        local = scale_boxes(local, (bottom - top) / size[1], (right - left) / size[0])
        found.append(local + np.array([top, left, top, left], dtype=np.int64))
    if not found:
        return np.zeros((0, 4), dtype=np.int64)
    every = np.concatenate(found)
    if abs(base_scale - 1.0) >= 1e-6:  # boxes of the shrunk frame
        every = scale_boxes(every, fy, fx)
    every = clip_boxes(every, image.shape)
    kept: list[int] = []
    for i in range(len(every)):
        if not kept or iou(every[i : i + 1], every[kept]).max() <= SAME_FACE_IOU:
            kept.append(i)
    return every[kept]


def _cut_region(
    shrunk: Callable[[], ImageRGB],
    place: tuple[int, int, int, int],
    size: tuple[int, int],
) -> ImageRGB:
    """The region ``place`` ``(top, left, bottom, right)`` of the frame ``shrunk()``
    resized to ``size`` ``(width, height)`` (by area averaging), as HOG searches it."""
    import cv2

    top, left, bottom, right = place
    region = shrunk()[top:bottom, left:right]
    if size != (right - left, bottom - top):
        return np.ascontiguousarray(
            cv2.resize(region, size, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
    return np.ascontiguousarray(region, dtype=np.uint8)


#: A region searched by the CNN around a followed face (:func:`detect_cnn_around`) is
#: resized so that the face's last box is this many pixels high: the smallest boxes
#: dlib's MMOD detector gives are about 80 px, and it finds faces a little smaller than
#: that (boxed at 80). A region then holds about 160 x 160 pixels whatever the face's
#: size: measured, 194 ms of CPU with dlib-bin (a whole 640x360 frame: 1.9 s).
CNN_REGION_FACE_PX = 80


def detect_cnn_around(
    image: ImageRGB, box: npt.NDArray[np.int64], margin: float = REGION_MARGIN
) -> tuple[BoxArray, npt.NDArray[np.float32]]:
    """CNN-detect (:func:`detect_cnn_scored`) the region around one face box.

    The region reaches ``margin`` face sides beyond ``box`` on every side, and is
    resized so that the box is :data:`CNN_REGION_FACE_PX` high, so its cost does not
    depend on the face's size. A rerun that searched the same pixels before reuses what
    was found (:func:`faceripper.memo.recall_pixels`).

    Args:
        image: RGB uint8 ``(h, w, 3)``.
        box: ``(4,)`` int64 ``(top, right, bottom, left)`` in ``image``.
        margin: how far the region reaches, in face sides.

    Returns:
        ``(boxes, scores)`` as :func:`detect_cnn_scored`'s, in ``image``'s pixels.

    Example:
        >>> boxes, scores = detect_cnn_around(np.zeros((360, 640, 3), np.uint8),
        ...                                   np.array([100, 300, 200, 200]))
        >>> boxes.shape, scores.shape
        ((0, 4), (0,))
    """
    import cv2

    top, right, bottom, left = (int(v) for v in box)
    side = max(1, min(right - left, bottom - top))
    pad = round(side * margin)
    y0, x0 = max(0, top - pad), max(0, left - pad)
    y1, x1 = min(image.shape[0], bottom + pad), min(image.shape[1], right + pad)
    if y1 - y0 < 2 or x1 - x0 < 2:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.float32)
    factor = CNN_REGION_FACE_PX / side
    width, height = max(1, round((x1 - x0) * factor)), max(1, round((y1 - y0) * factor))
    region = cv2.resize(image[y0:y1, x0:x1], (width, height), interpolation=_interpolation(factor))
    small: ImageRGB = np.ascontiguousarray(region, dtype=np.uint8)
    boxes, scores = memo.recall_pixels(memo.CNN_REGION, small, detect_cnn_scored)
    boxes = scale_boxes(boxes, (y1 - y0) / height, (x1 - x0) / width)
    boxes = boxes + np.array([y0, x0, y0, x0], dtype=np.int64)
    return clip_boxes(boxes, image.shape), scores


# ------------------------------------------------------------------ tight reference crops

#: A face crop with no margin around the face (a photo cut to the face box, from an
#: earlier extraction or a face dataset) often shows HOG no face: its detection window
#: needs some background around the face. Such a photo is searched again padded by
#: this fraction of its longer side on every side (see :func:`pad_for_detection`).
DETECTION_PAD = 0.5


def pad_for_detection(image: ImageRGB, fraction: float = DETECTION_PAD) -> tuple[ImageRGB, int]:
    """``image`` with a border of ``fraction`` of its longer side on every side.

    The border repeats the image's edge pixels and is blurred away from the image
    (Gaussian, sigma a quarter of the border), so it adds no edges a face detector could
    take for a face's outline, and a face cut by the image's edge gets back a plausible
    continuation of its own colours.

    Returns:
        ``(padded, pad_px)``: RGB uint8 ``(h + 2 pad_px, w + 2 pad_px, 3)``, C-contiguous;
        a box in ``padded`` minus ``pad_px`` is in ``image``'s pixels.

    Example:
        >>> padded, pad = pad_for_detection(np.zeros((100, 80, 3), np.uint8), 0.5)
        >>> padded.shape, pad
        ((200, 180, 3), 50)
    """
    import cv2

    height, width = image.shape[:2]
    pad = round(max(height, width) * fraction)
    if pad < 1:
        return np.ascontiguousarray(image), 0
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    blurred = cv2.GaussianBlur(padded, (0, 0), pad / 4)
    blurred[pad : pad + height, pad : pad + width] = image
    return np.ascontiguousarray(blurred), pad


#: Eye distance (between the eye centres) over the face box's width of a real face, at
#: most this far from the middle of the range measured (see :func:`plausible_face`).
EYE_DISTANCE_RANGE = (0.25, 0.65)
#: Largest roll of a plausible face's eye line, in degrees.
MAX_ROLL_DEGREES = 35.0


def plausible_face(
    landmarks_xy: npt.NDArray[np.float64], box_trbl: npt.NDArray[np.int64], shape: tuple[int, ...]
) -> str:
    """Why landmarks do not look like a face; ``""`` when they do.

    dlib's landmark models always return points, even for a box around no face, so a
    face found only by a fallback search (padding, another upsampling) is checked: the
    eye centres and the nose lie inside the image, the eye distance is
    :data:`EYE_DISTANCE_RANGE` of the box width, the eye line's roll is at most
    :data:`MAX_ROLL_DEGREES`, and the nose lies below the eye line, between the eyes.

    Args:
        landmarks_xy: ``(5, 2)`` or ``(68, 2)`` float64 ``(x, y)`` points in the image.
        box_trbl: ``(4,)`` the face's ``(top, right, bottom, left)`` box.
        shape: the image's shape ``(h, w, ...)``.

    Example:
        >>> points = np.array([[70, 40], [60, 40], [30, 40], [40, 40], [50, 65]], float)
        >>> plausible_face(points, np.array([10, 90, 90, 10]), (100, 100, 3))
        ''
        >>> upside_down = points * [1, -1] + [0, 100]
        >>> plausible_face(upside_down, np.array([10, 90, 90, 10]), (100, 100, 3))
        'nose above the eyes'
    """
    points = np.asarray(landmarks_xy, dtype=np.float64)
    if len(points) == 68:
        eye_a, eye_b = points[36:42].mean(axis=0), points[42:48].mean(axis=0)
        nose = points[33]
    else:
        eye_a, eye_b = points[0:2].mean(axis=0), points[2:4].mean(axis=0)
        nose = points[4]
    height, width = shape[:2]
    for point in (eye_a, eye_b, nose):
        if not (0 <= point[0] < width and 0 <= point[1] < height):
            return "landmarks outside the image"
    box_width = max(1.0, float(box_trbl[1] - box_trbl[3]))
    axis = eye_b - eye_a
    eye_distance = float(np.hypot(*axis))
    ratio = eye_distance / box_width
    if not EYE_DISTANCE_RANGE[0] <= ratio <= EYE_DISTANCE_RANGE[1]:
        return f"eye distance {ratio:.2f} of the box width"
    if axis[0] < 0:  # measure from the eye on the left of the image
        eye_a, eye_b, axis = eye_b, eye_a, -axis
    roll = float(np.degrees(np.arctan2(axis[1], axis[0])))
    if abs(roll) > MAX_ROLL_DEGREES:
        return f"eye line turned {roll:.0f} degrees"
    unit = axis / eye_distance
    down = np.array([-unit[1], unit[0]])  # image y grows downwards
    along = float((nose - eye_a) @ unit) / eye_distance
    below = float((nose - eye_a) @ down) / eye_distance
    if below < 0.2:
        return "nose above the eyes"
    if not -0.25 <= along <= 1.25 or below > 1.5:
        return "nose away from the eyes"
    return ""
