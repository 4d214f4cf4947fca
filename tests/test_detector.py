"""Detection around tracked faces (detect_around) against detection over the whole frame,
on frames composited from real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.detector import (
    detect_around,
    detect_faces,
    detect_faces_scaled,
    detection_scale,
)
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
    found = detect_around(frame, corner)
    height, width = frame.shape[:2]
    assert found.dtype == np.int64
    assert (found[:, [0, 3]] >= 0).all() and (found[:, 2] <= height).all()
    assert (found[:, 1] <= width).all()
    # a tracked face's box pushed half off the frame's edge still finds that face
    top, right, bottom, left = (int(v) for v in whole[0])
    off = np.array([[top, right - left - 1, bottom, -1]])  # same size, hanging off the left
    shifted = frame[:, left:]
    again = detect_around(np.ascontiguousarray(shifted), off)
    assert len(again) == 1 and iou(again, whole[:1] - np.array([0, left, 0, left])).max() > 0.5


def test_scaled_whole_frame_search_matches_full_resolution(frame, whole):
    found = detect_faces_scaled(frame, 0.68)
    assert len(found) == 2
    assert iou(found, whole).max(axis=1).min() > 0.6


def test_at_rips_scale_a_region_gives_the_whole_frame_searchs_box(testdata):
    """Regions are cut on HOG's cell grid of the resized frame and shrunk by whole
    pyramid steps, so on real footage a tracked face keeps the box a whole-frame search
    gives it."""
    from faceripper.video import iter_frames, scan_video

    video = testdata / "face_recognition" / "short_hamilton_clip.mp4"
    scan = scan_video(video)
    scale = detection_scale(100)
    pairs = []
    for decoded in iter_frames(video, scan, 0, scan.frame_count):
        if decoded.index % 5:
            continue
        image = decoded.rgb()
        for box in detect_faces_scaled(image, scale):
            found = detect_around(image, box[None], scale)
            assert len(found) == 1
            pairs.append((box, found[0]))
    assert len(pairs) >= 10
    assert all(box_sizes(b[None])[0] == box_sizes(f[None])[0] for b, f in pairs)
    assert sum(bool((b == f).all()) for b, f in pairs) >= 0.8 * len(pairs)


def test_a_shrunk_region_gives_the_same_box_size_or_one_pyramid_step(frame):
    """Large faces are searched in regions shrunk by whole pyramid steps, whose grid
    is not exactly the whole frame's: the box is the same size or one step (a fifth)
    off."""
    scale = detection_scale(100)
    whole_scaled = detect_faces_scaled(frame, scale)
    assert len(whole_scaled) == 2
    for box in whole_scaled:
        found = detect_around(frame, box[None], scale)
        assert len(found) == 1
        assert iou(found, box[None])[0, 0] > 0.6
        ratio = box_sizes(box[None])[0] / box_sizes(found)[0]
        assert min(abs(ratio - 1), abs(ratio - 1.2), abs(ratio - 1 / 1.2)) < 0.03
