"""One reference photo: its face found and encoded (the encoding and its second view).

A photo's face is the one ``face_recognition.face_locations(image)`` finds (HOG,
upsampled once), the largest if several; its encoding equals
``face_recognition.face_encodings(image, [box])``. When that finds no face (a tight
face crop with no margin, which HOG's window needs), the searches of
:data:`FALLBACK_STEPS` are tried in turn; a face one of them finds is used only if its
landmarks look like a face (:func:`faceripper.detector.plausible_face`), and the photo
records which search found it (``found_by``).

A face whose chip reaches beyond the photo (a tight face crop) is encoded in its
surroundings mirrored outward (:func:`encode_reference_face`); every photo's face also
gets a second view, encoded the other way (:func:`encode_reference_view`). Which photos
are encoded, in which processes, and the cache that keeps the results are
:mod:`faceripper.references`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.engines import resolve_engine
from faceripper.errors import ImageReadError, NotAnImageError
from faceripper.geometry import BoxArray, box_areas, clip_boxes, scale_boxes
from faceripper.images import ImageRGB, load_rgb
from faceripper.refcache import (
    FALLBACK_SIDE_PX,
    FALLBACK_STEPS,
    TIGHT_MAX_SIDE_PX,
    TIGHT_PAD,
    EncodeSettings,
    FileResult,
    FileState,
    FileStatus,
    TightCrops,
)

#: Reference photos are searched for faces on a copy at most this many pixels on its
#: long side (then upsampled as usual); the face found is mapped back and encoded from
#: the full photo. A photo up to this size is searched as it is, so its encoding is
#: face_recognition's. An 8000x8000 photo searched whole took 32 s and 3.1 GB.
MAX_DETECTION_SIDE_PX = 2000


def detect_reference_faces(image: ImageRGB, settings: EncodeSettings) -> BoxArray:
    """The face boxes of a reference photo ``(h, w, 3)`` RGB uint8, in its pixels.

    A photo larger than :data:`MAX_DETECTION_SIDE_PX` is searched on a shrunk copy and
    the boxes mapped back, so time and memory stay bounded whatever its size.
    """
    from faceripper.detector import detect_faces, detect_faces_scaled
    from faceripper.models import get_models

    get_models().configure_cnn(settings.engine, settings.device)  # --model cnn's engine
    side = max(image.shape[:2])
    if side <= MAX_DETECTION_SIDE_PX:
        return detect_faces(image, model=settings.detector, upsample=settings.upsample)
    return detect_faces_scaled(
        image, MAX_DETECTION_SIDE_PX / side, model=settings.detector, upsample=settings.upsample
    )


def find_reference_face(
    image: ImageRGB, settings: EncodeSettings
) -> tuple[ImageRGB, BoxArray, int, float, str]:
    """The face of a reference photo: the detector's own search, then the fallbacks.

    Returns:
        ``(searched, boxes, pad_px, scale, found_by)``: the image the faces were found
        in (the photo; for a fallback, a copy resized by ``scale`` and padded by
        ``pad_px`` on every side), its ``(n, 4)`` boxes (none found: empty; a box in
        the photo's pixels is ``(box - pad_px) / scale``), and the :class:`FindStep`
        name that found them (``""``: the detector's own search, as
        ``face_recognition.face_locations`` does it). A fallback's largest face counts
        only when its landmarks look like a face.
    """
    from faceripper.detector import (
        detect_faces,
        pad_for_detection,
        plausible_face,
        resize_for_detection,
    )
    from faceripper.encoder import face_landmarks

    boxes = detect_reference_faces(image, settings)
    if len(boxes):
        return image, boxes, 0, 1.0, ""
    # A face filling a large photo is large: search (and encode: dlib encodes a 150 px
    # chip of the face) a copy at most FALLBACK_SIDE_PX long, so time and memory stay small.
    scale = min(1.0, FALLBACK_SIDE_PX / max(image.shape[:2]))
    small = resize_for_detection(image, scale)
    scale = small.shape[0] / image.shape[0]
    for step in FALLBACK_STEPS:
        searched, pad = pad_for_detection(small, step.pad) if step.pad else (small, 0)
        boxes = detect_faces(searched, model=settings.detector, upsample=step.upsample)
        if len(boxes) == 0:
            continue
        largest = boxes[int(np.argmax(box_areas(boxes)))]
        points = face_landmarks(searched, largest[None], settings.landmarks)[0]
        inside = points - pad  # the landmarks must lie on the photo, not on the padding
        if plausible_face(inside, largest - pad, small.shape) == "":
            return searched, boxes, pad, scale, step.name
    return image, np.zeros((0, 4), dtype=np.int64), 0, 1.0, ""


def encode_reference_file(
    path: Path, person: str, settings: EncodeSettings, state: FileState | None = None
) -> FileResult:
    """Detect and encode the face of one reference photo (the largest, if several).

    The face is searched as :func:`find_reference_face` does and encoded as
    :func:`encode_reference_face` does; a face a fallback found is encoded in the copy
    it was found in, without the search's padding (its box is stored in the photo's
    pixels, clipped to the photo).
    """
    try:
        image = load_rgb(path)
    except ImageReadError as exc:
        status: FileStatus = "not_image" if isinstance(exc, NotAnImageError) else "unreadable"
        return FileResult(path, person, status, message=str(exc), state=state)
    searched, boxes, pad, scale, found_by = find_reference_face(image, settings)
    if len(boxes) == 0:
        return FileResult(path, person, "no_face", message=f"{path}: no face found", state=state)
    largest = int(np.argmax(box_areas(boxes)))
    box = boxes[largest : largest + 1]
    # A fallback's face is encoded in the copy it was searched in, less the search's padding.
    unpadded = searched[pad : searched.shape[0] - pad, pad : searched.shape[1] - pad]
    unpadded = np.ascontiguousarray(unpadded)
    encoding = encode_reference_face(unpadded, box - pad, settings)
    view = encode_reference_view(unpadded, box - pad, settings)
    several = len(boxes) > 1
    return FileResult(
        path,
        person,
        "several_faces" if several else "ok",
        faces=len(boxes),
        message=f"{path}: {len(boxes)} faces, using the largest" if several else "",
        encoding=encoding,
        box_trbl=tuple(int(v) for v in _photo_box(box - pad, scale, image.shape)),  # type: ignore[arg-type]
        state=state,
        engine="dlib" if settings.jitters > 1 else resolve_engine(settings.engine, settings.device),
        found_by=found_by,
        view=view,
    )


def encode_reference_face(
    image: ImageRGB, box: BoxArray, settings: EncodeSettings
) -> npt.NDArray[np.float64]:
    """The ``(128,)`` float64 encoding of the face ``box`` ``(1, 4)`` of a photo ``(h, w, 3)``.

    When the face's chip (the 150 px square around its landmarks that the network sees)
    lies inside the photo, this is ``face_recognition.face_encodings(image, box)``: every
    ordinary photo. When it reaches beyond the photo (a tight face crop), dlib would fill
    the part outside with black; instead the face is encoded in a copy of its
    surroundings mirrored outward at the photo's edges by :data:`TIGHT_PAD` of the
    copy's side (landmarks found again there), and that encoding is averaged with the
    mirror image's. Measured on tight crops of 238 LFW photos
    (``benchmarks/tight_encoding.py``, docs/encode.md): pairs with the person's other
    photos within 0.4 went from 0.32 to 0.38 of them (the whole photos: 0.36), pairs
    with other people within 0.6 from 0.0047 to 0.0051 (whole photos: 0.0045).
    ``settings.tight_crops == "black"`` (``--tight-crops black``) encodes it as dlib's
    chip is, as face_recognition does.
    """
    from faceripper.encoder import chip_overhangs, encode_faces

    def encode(pixels: ImageRGB, where: BoxArray) -> npt.NDArray[np.float64]:
        return encode_faces(
            pixels,
            where,
            landmark_model=settings.landmarks,
            jitters=settings.jitters,
            engine=settings.engine,
            device=settings.device,
        ).encodings[0]

    overhang = float(chip_overhangs(image, box, settings.landmarks)[0])
    if overhang <= 0 or settings.tight_crops == "black":
        return encode(image, box)
    canvas, where = _mirrored_surroundings(image, box[0], overhang)
    flipped = np.ascontiguousarray(canvas[:, ::-1])
    top, right, bottom, left = where
    width = canvas.shape[1]
    mirrored = np.array([[top, width - 1 - left, bottom, width - 1 - right]])
    return (encode(canvas, where[None]) + encode(flipped, mirrored)) / 2


def encode_reference_view(
    image: ImageRGB, box: BoxArray, settings: EncodeSettings
) -> npt.NDArray[np.float64]:
    """The ``(128,)`` float64 second view of a reference face ``box`` ``(1, 4)`` of a
    photo ``(h, w, 3)``: the same face encoded the other way. A face whose chip lies
    inside the photo is cut out to its box and encoded as a tight crop is
    (:func:`encode_reference_face`, ``--tight-crops mirrored``); a face whose chip reaches
    beyond the photo (a tight crop) with the other ``--tight-crops`` method.

    Not a reference: without an anchor of a person in a video, the near rule
    (:data:`faceripper.adaptive.VIEW_DISTANCE`) asks a track's face to lie near both a
    photo's encoding and its view; a look-alike whom one encoding puts near the photo
    (by its surroundings, or a tight crop's fill) rarely stays near the other
    (docs/quality.md, "Two views of the reference").
    """
    from faceripper.encoder import chip_overhangs

    if float(chip_overhangs(image, box, settings.landmarks)[0]) > 0:
        other: TightCrops = "black" if settings.tight_crops == "mirrored" else "mirrored"
        return encode_reference_face(image, box, replace(settings, tight_crops=other))
    top, right, bottom, left = (int(v) for v in clip_boxes(box, image.shape)[0])
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    inside = np.array([[0, right - left, bottom - top, 0]], dtype=np.int64)
    return encode_reference_face(crop, inside, replace(settings, tight_crops="mirrored"))


def _mirrored_surroundings(
    image: ImageRGB, box: npt.NDArray[np.int64], overhang: float
) -> tuple[ImageRGB, npt.NDArray[np.int64]]:
    """The face's surroundings (the box enlarged by its side each way, within the photo),
    mirrored outward by :data:`TIGHT_PAD` of their side (at least ``overhang`` px), and
    the ``(4,)`` box in that copy."""
    import math

    from faceripper.detector import resize_for_detection

    top, right, bottom, left = (int(v) for v in box)
    side = max(bottom - top, right - left, 1)
    height, width = image.shape[:2]
    y0, x0 = max(top - side, 0), max(left - side, 0)
    region = image[y0 : min(bottom + side, height), x0 : min(right + side, width)]
    where = np.array([top - y0, right - x0, bottom - y0, left - x0], dtype=np.float64)
    scale = min(1.0, TIGHT_MAX_SIDE_PX / max(region.shape[:2]))
    if scale < 1.0:
        region = resize_for_detection(np.ascontiguousarray(region), scale)
        where *= region.shape[0] / (min(bottom + side, height) - y0)
        overhang *= scale
    pad = max(round(TIGHT_PAD * max(region.shape[:2])), math.ceil(overhang) + 1)
    canvas = np.pad(region, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    return np.ascontiguousarray(canvas), np.round(where + pad).astype(np.int64)


def _photo_box(box: BoxArray, scale: float, shape: tuple[int, ...]) -> npt.NDArray[np.int64]:
    """A ``(1, 4)`` box of a copy resized by ``scale``, as ``(4,)`` in the photo's pixels."""
    if scale != 1.0:
        box = scale_boxes(box, 1 / scale, 1 / scale)
    return clip_boxes(box, shape)[0]
