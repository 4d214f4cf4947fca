"""Head pose from dlib's landmarks of real faces (:mod:`faceripper.pose`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.detector import detect_faces
from faceripper.encoder import encode_faces
from faceripper.images import load_rgb
from faceripper.pose import FRONTAL_YAW, HeadPose, head_pose, is_frontal


def _poses(image: np.ndarray, boxes: np.ndarray, landmarks: str = "5") -> list[HeadPose | None]:
    faces = encode_faces(
        image, boxes, landmark_model=landmarks, encode=np.zeros(len(boxes), dtype=bool)
    )
    return [head_pose(points) for points in faces.landmarks_xy]


def _mirrored(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    width = image.shape[1]
    flipped = boxes.copy()
    flipped[:, 1], flipped[:, 3] = width - boxes[:, 3], width - boxes[:, 1]
    return np.ascontiguousarray(image[:, ::-1]), flipped


@pytest.mark.parametrize("landmarks", ["5", "68"])
def test_a_mirrored_face_turns_the_other_way(testdata: Path, landmarks: str) -> None:
    """obama2.jpg looks to one side (measured: -14 degrees; mirrored +15): the mirror
    image's yaw and roll change sign, within a few degrees of landmark noise."""
    image = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "train" / "obama" / "obama2.jpg"
    )
    boxes = detect_faces(image, upsample=1)[:1]
    (pose,) = _poses(image, boxes, landmarks)
    (mirror,) = _poses(*_mirrored(image, boxes), landmarks)
    assert pose is not None and mirror is not None
    assert pose.yaw < -10 and mirror.yaw > 10
    assert abs(pose.yaw + mirror.yaw) < 4
    assert abs(pose.roll + mirror.roll) < 2


def test_a_tilted_frontal_face_keeps_its_yaw_and_rolls_by_the_tilt(testdata: Path) -> None:
    image = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "train" / "obama" / "obama.jpg"
    )
    (box,) = detect_faces(image, upsample=1)[:1]
    (upright,) = _poses(image, box[None, :])
    assert upright is not None and is_frontal(upright) and abs(upright.yaw) < 5
    top, right, bottom, left = (int(v) for v in box)
    centre = ((left + right) / 2, (top + bottom) / 2)
    matrix = cv2.getRotationMatrix2D(centre, -30, 1.0)  # 30 degrees clockwise on screen
    tilted = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT_101)
    (pose,) = _poses(np.ascontiguousarray(tilted), box[None, :])
    assert pose is not None
    assert abs(pose.roll - upright.roll - 30) < 4
    assert abs(pose.yaw - upright.yaw) < 5


def test_the_hamilton_audience_three_quarter_face_is_turned(testdata: Path) -> None:
    """Barack Obama in the audience (frame 215, a box labelled by hand) is turned, Lin-Manuel
    Miranda's close-up (frame 150) is frontal."""
    capture = cv2.VideoCapture(str(testdata / "face_recognition" / "short_hamilton_clip.mp4"))
    frames = {}
    for index in range(216):
        ok, bgr = capture.read()
        assert ok
        if index in (150, 215):
            frames[index] = np.ascontiguousarray(bgr[:, :, ::-1])
    capture.release()
    (obama,) = _poses(frames[215], np.array([[52, 387, 131, 308]]))
    assert obama is not None and abs(obama.yaw) > FRONTAL_YAW + 10
    boxes = detect_faces(frames[150], upsample=1)
    assert len(boxes)
    lin = _poses(frames[150], boxes)
    assert all(p is not None and is_frontal(p) for p in lin)


def test_no_landmarks_no_pose() -> None:
    assert head_pose(np.zeros((0, 2))) is None
    assert head_pose(np.zeros((5, 2))) is None
    assert not is_frontal(None)
