"""Detection around tracked faces (detect_around) against detection over the whole frame,
on frames composited from real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.detector import detect_around, detect_faces, detect_faces_scaled
from faceripper.geometry import box_sizes, iou
from faceripper.images import load_rgb


def paste(canvas: np.ndarray, photo: np.ndarray, top: int, left: int, height: int) -> None:
    width = round(photo.shape[1] * height / photo.shape[0])
    canvas[top : top + height, left : left + width] = cv2.resize(
        photo, (width, height), interpolation=cv2.INTER_AREA
    )


@pytest.fixture(scope="module")
def frame(testdata: Path) -> np.ndarray:
    """A 1280x720 frame: Amy Adams left (face about 220 px), Tom Cruise right (180 px)."""
    canvas = np.full((720, 1280, 3), 110, dtype=np.uint8)
    paste(canvas, load_rgb(testdata / "openface" / "adams.jpg"), 60, 40, 600)
    paste(canvas, load_rgb(testdata / "dlib" / "Tom_Cruise_avp_2014_4.jpg"), 300, 800, 380)
    return np.ascontiguousarray(canvas)


@pytest.fixture(scope="module")
def whole(frame: np.ndarray) -> np.ndarray:
    boxes = detect_faces(frame, upsample=0)
    assert len(boxes) == 2, boxes
    return boxes[np.argsort(boxes[:, 3])]  # left face first


def test_finds_the_tracked_face_where_the_whole_frame_search_does(frame, whole):
    for box in whole:
        found = detect_around(frame, box[None])
        assert len(found) == 1
        assert iou(found, box[None])[0, 0] > 0.6
        assert 0.75 < box_sizes(found)[0] / box_sizes(box[None])[0] < 1.33


def test_finds_a_face_that_moved_and_grew(frame, whole):
    # The last box of the track: the face as it was a frame earlier, smaller and offset.
    box = whole[0]
    side = box[1] - box[3]
    earlier = np.array(
        [[box[0] + side // 8, box[1] - side // 6, box[2] - side // 10, box[3] + side // 12]]
    )
    found = detect_around(frame, earlier)
    assert len(found) == 1 and iou(found, box[None])[0, 0] > 0.6


def test_a_face_away_from_every_tracked_face_is_not_searched(frame, whole):
    found = detect_around(frame, whole[:1])
    assert iou(found, whole[1:]).max(initial=0.0) == 0.0


def test_a_face_in_two_overlapping_regions_is_reported_once(frame, whole):
    box = whole[0]
    shifted = box + np.array([10, 10, 10, 10])
    found = detect_around(frame, np.stack([box, shifted]))
    assert len(found) == 1


def test_regions_at_the_frame_edge_and_no_boxes(frame, whole):
    assert detect_around(frame, np.zeros((0, 4), dtype=np.int64)).shape == (0, 4)
    corner = np.array([[-50, 30, 30, -50]])  # a box hanging off the top-left corner
    assert detect_around(frame, corner).shape[1] == 4


def test_scaled_whole_frame_search_matches_full_resolution(frame, whole):
    found = detect_faces_scaled(frame, 0.68)
    assert len(found) == 2
    assert iou(found, whole).max(axis=1).min() > 0.6
