"""Shot cuts (:mod:`faceripper.shots`): frame thumbnails and cuts, on synthetic frames
and on real ones (LFW close-ups, the Hamilton clip's three cuts)."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.shots import CUT_THRESHOLD, THUMBNAIL_LENGTH, frame_thumbnail, is_cut

# ------------------------------------------------------------------------------ is_cut


def image(rgb: tuple[int, int, int], size=(360, 640)) -> np.ndarray:
    return np.full((*size, 3), rgb, dtype=np.uint8)


GREY = image((100, 100, 100))
HALVES = GREY.copy()
HALVES[:, 320:] = (220, 220, 220)


@pytest.mark.parametrize(
    ("previous", "current", "cut"),
    [
        (None, GREY, False),
        (GREY, GREY, False),
        (GREY, image((120, 120, 120)), False),  # a fade or a flash of 20 levels
        (GREY, image((130, 130, 130)), True),  # 30 levels
        (GREY, HALVES, True),  # half the frame changed by 120 levels: 60 on average
        (image((150, 80, 80)), image((150, 82, 82)), False),  # the same red
        (image((150, 80, 80)), image((80, 110, 150)), True),  # red to blue, alike in grey
        (GREY, image((100, 100, 100), size=(100, 100)), False),  # another size: same
    ],
)
def test_is_cut(previous, current, cut):
    before = None if previous is None else frame_thumbnail(previous)
    assert is_cut(before, frame_thumbnail(current)) is cut


def test_red_to_blue_is_a_cut_only_by_colour():
    red, blue = frame_thumbnail(image((150, 80, 80))), frame_thumbnail(image((80, 110, 150)))
    gray = 32 * 18
    assert np.abs(red[:gray] - blue[:gray]).mean() < CUT_THRESHOLD
    assert is_cut(red, blue)


def test_frame_thumbnail_shape_and_histogram():
    thumb = frame_thumbnail(HALVES)
    assert thumb.shape == (THUMBNAIL_LENGTH,) and thumb.dtype == np.float32
    assert np.isclose(thumb[32 * 18 :].sum(), 1.0)
    assert frame_thumbnail(HALVES[:, :, 0].copy()).shape == (THUMBNAIL_LENGTH,)


def test_is_cut_rejects_a_foreign_array():
    with pytest.raises(ValueError, match="thumbnail has shape"):
        is_cut(np.zeros((18, 32), np.float32), np.zeros((18, 32), np.float32))


# ----------------------------------------------------------------- cuts in real frames


def close_up(photo) -> np.ndarray:
    """An LFW photo (face centred) as a 640x360 close-up."""
    import cv2

    from faceripper.images import load_rgb

    return np.ascontiguousarray(
        cv2.resize(load_rgb(photo)[40:210], (640, 360), interpolation=cv2.INTER_LINEAR)
    )


def test_a_cut_between_two_close_ups_of_alike_brightness_is_caught(testdata):
    lfw = testdata / "lfw_dev"
    a = frame_thumbnail(close_up(lfw / "Halle_Berry" / "Halle_Berry_0002.jpg"))
    b = frame_thumbnail(close_up(lfw / "Spencer_Abraham" / "Spencer_Abraham_0007.jpg"))
    assert np.abs(a[: 32 * 18] - b[: 32 * 18]).mean() < CUT_THRESHOLD  # missed by grey
    assert is_cut(a, b) and is_cut(b, a)


def test_the_hamilton_clip_has_its_three_cuts_and_no_other(testdata):
    import cv2

    capture = cv2.VideoCapture(str(testdata / "face_recognition" / "short_hamilton_clip.mp4"))
    cuts, previous, index = [], None, 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        thumbnail = frame_thumbnail(np.ascontiguousarray(bgr[:, :, ::-1]))
        if is_cut(previous, thumbnail):
            cuts.append(index)
        previous, index = thumbnail, index + 1
    assert index == 275
    assert cuts == [20, 82, 211]
