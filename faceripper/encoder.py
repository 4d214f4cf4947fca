"""Face landmarks and 128-d encodings with dlib's ResNet face recognition model.

The numbers are exactly those of ``face_recognition.face_encodings(image,
known_face_locations=boxes, num_jitters=jitters, model=...)``: the same landmark model
(5-point by default, face_recognition's ``"small"``; 68-point for ``"large"``), the same
box-to-rectangle conversion and the same face chips (``dlib.get_face_chips(image,
shapes, 150, 0.25)``). The network runs on onnxruntime by default (:mod:`faceripper.engines`;
within about 1e-6 of dlib's numbers, 8 to 15 times faster); ``engine="dlib"`` is dlib's
own call per face, bit for bit, as is every call with ``jitters`` above 1. Encodings
compare by euclidean distance; face_recognition's usual threshold is 0.6.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.faces import Faces
from faceripper.geometry import BoxArray
from faceripper.images import ImageRGB
from faceripper.models import Device, EncoderEngine, LandmarkModel, get_models

ENCODING_DIM = 128
#: Side of the face chips the network takes, and the padding around the face in them.
FACE_CHIP_PX = 150
CHIP_PADDING = 0.25


def _full_object_detections(
    image: ImageRGB, boxes: BoxArray, landmark_model: LandmarkModel
) -> list[Any]:
    import dlib

    predictor = get_models().landmarks(landmark_model)
    return [
        predictor(image, dlib.rectangle(int(left), int(top), int(right), int(bottom)))
        for top, right, bottom, left in boxes
    ]


def _points(shape: Any) -> npt.NDArray[np.float64]:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def face_landmarks(
    image: ImageRGB, boxes: BoxArray, landmark_model: LandmarkModel = "5"
) -> npt.NDArray[np.float64]:
    """Landmark points of each box: ``(n, k, 2)`` float64 ``(x, y)``, ``k`` = 5 or 68."""
    shapes = _full_object_detections(np.ascontiguousarray(image), boxes, landmark_model)
    k = 5 if landmark_model == "5" else 68
    if not shapes:
        return np.zeros((0, k, 2), dtype=np.float64)
    return np.stack([_points(s) for s in shapes])


def encode_faces(
    image: ImageRGB,
    boxes: BoxArray,
    landmark_model: LandmarkModel = "5",
    jitters: int = 1,
    encode: npt.NDArray[np.bool_] | None = None,
    engine: EncoderEngine = "auto",
    device: Device = "cpu",
) -> Faces:
    """Compute landmarks and encodings of the given faces of one image.

    Args:
        image: RGB uint8 ``(h, w, 3)``: the image the boxes refer to.
        boxes: ``(n, 4)`` int64 ``(top, right, bottom, left)``.
        landmark_model: ``"5"`` (default, face_recognition's ``model="small"``) or ``"68"``.
        jitters: times to re-sample each face with small random shifts and average; 0 and
            1 both mean once. Higher is slightly more accurate and proportionally slower
            (and always computed by dlib's own path).
        encode: ``(n,)`` bool, which faces to encode (default all); the others get
            landmarks only (0.6 ms a face) and NaN encodings.
        engine: where the network runs (:mod:`faceripper.engines`): ``"auto"``
            (onnxruntime, else OpenCV), ``"onnxruntime"``, ``"opencv"`` (about 1e-6 from
            dlib's numbers, 8 to 15 times faster), or ``"dlib"`` (dlib's own, bit for
            bit). The faces of one call run as one batch.
        device: ``"cpu"`` or ``"cuda"`` (onnxruntime's CUDA provider).

    Returns:
        :class:`Faces` with ``box_trbl``, ``landmarks_xy`` ``(n, k, 2)`` and ``encodings``
        ``(n, 128)`` float64 filled in.

    Raises:
        ModelFormatError: the model file is not dlib's face recognition network.
        EngineUnavailableError: the engine or device is not installed.
    """
    image = np.ascontiguousarray(image)  # dlib rejects strided views (see INSTALLING_DLIB.md)
    shapes = _full_object_detections(image, boxes, landmark_model)
    k = 5 if landmark_model == "5" else 68
    if not shapes:
        return Faces(
            boxes,
            landmarks_xy=np.zeros((0, k, 2)),
            encodings=np.zeros((0, ENCODING_DIM)),
        )
    wanted = np.ones(len(shapes), dtype=bool) if encode is None else np.asarray(encode, bool)
    encodings = np.full((len(shapes), ENCODING_DIM), np.nan)
    rows = np.flatnonzero(wanted)
    if len(rows):
        network = None if jitters > 1 else get_models().face_network(engine, device)
        if network is None:
            encoder = get_models().encoder
            for i in rows:
                encodings[i] = np.array(encoder.compute_face_descriptor(image, shapes[i], jitters))
        else:
            encodings[rows] = network.descriptors(face_chips(image, [shapes[i] for i in rows]))
    landmarks = np.stack([_points(s) for s in shapes])
    return Faces(boxes, landmarks_xy=landmarks, encodings=encodings)


def face_chips(image: ImageRGB, shapes: list[Any]) -> npt.NDArray[np.uint8]:
    """The network's input: ``(n, 150, 150, 3)`` uint8 RGB chips of dlib landmark shapes.

    ``dlib.get_face_chips(image, shapes, 150, 0.25)``: the chip dlib's
    ``compute_face_descriptor`` extracts itself.
    """
    import dlib

    detections = dlib.full_object_detections()
    for shape in shapes:
        detections.append(shape)
    chips = dlib.get_face_chips(image, detections, size=FACE_CHIP_PX, padding=CHIP_PADDING)
    return np.stack([np.asarray(c, dtype=np.uint8) for c in chips])


def chip_overhangs(
    image: ImageRGB, boxes: BoxArray, landmark_model: LandmarkModel = "5"
) -> npt.NDArray[np.float64]:
    """How far each face's chip reaches beyond the image's edge, in pixels of the image.

    The chip (:func:`face_chips`) is a square around the landmarks' face with
    :data:`CHIP_PADDING` on every side, turned by the face's roll; dlib fills what of it
    lies outside the image with black (a tight face crop: about 15% of the chip's side).

    Returns:
        ``(n,)`` float64: the largest distance of a chip corner outside the image;
        ``<= 0`` when the whole chip lies inside it.
    """
    import dlib

    shapes = _full_object_detections(np.ascontiguousarray(image), boxes, landmark_model)
    height, width = image.shape[:2]
    out = np.zeros(len(shapes), dtype=np.float64)
    for i, shape in enumerate(shapes):
        details = dlib.get_face_chip_details(shape, size=FACE_CHIP_PX, padding=CHIP_PADDING)
        rect, angle = details.rect, details.angle
        centre = np.array([(rect.left() + rect.right()) / 2, (rect.top() + rect.bottom()) / 2])
        half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [rect.width(), rect.height()] / 2
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        corners = half @ turn.T + centre
        beyond = np.concatenate(
            [-corners.min(axis=0), corners.max(axis=0) - [width - 1, height - 1]]
        )
        out[i] = float(beyond.max())
    return out


def face_distances(
    encodings: npt.NDArray[np.float64], references: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Euclidean distance of every encoding ``(n, 128)`` to every reference ``(m, 128)``.

    Returns an ``(n, m)`` float64 array.
    """
    if len(encodings) == 0 or len(references) == 0:
        return np.zeros((len(encodings), len(references)))
    diff = encodings[:, None, :] - references[None, :, :]
    return np.sqrt(np.einsum("nmk,nmk->nm", diff, diff))
