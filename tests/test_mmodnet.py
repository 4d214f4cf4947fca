"""Tests of faceripper.mmodnet: dlib's CNN face detector rebuilt on the engines.

The parity tests run dlib's own ``cnn_face_detection_model_v1`` (about 1.4 s a
640x360 image on one core) on a few small real photos, once per module, and compare
every box and score.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from faceripper.detector import detect_cnn_scored, detect_faces
from faceripper.errors import EngineUnavailableError, ModelFormatError
from faceripper.images import load_rgb
from faceripper.mmodnet import (
    MMOD_WHAT,
    mmod_layers,
    open_mmod_detector,
    pyramid_rects,
    pyramid_up,
    read_mmod,
    rect_down,
)
from faceripper.models import get_models, model_path

#: Float rounding: the engines sum the convolutions in another order than dlib.
SCORE_TOLERANCE = 1e-5


def _photo(testdata: Path, name: str, crop: tuple[slice, slice] | None = None) -> np.ndarray:
    image = load_rgb(testdata / name)
    return np.ascontiguousarray(image[crop] if crop else image)


#: (photo, crop, upsample): faces found without and with upsampling, 1 to 4 a photo.
CASES = [
    ("openface/longoria-cooper.jpg", None, 0),
    ("face-api.js/bbt4.jpg", (slice(0, 370), slice(0, 360)), 0),
    ("openface/longoria-cooper.jpg", (slice(30, 220), slice(30, 250)), 1),
]


@pytest.fixture(scope="module")
def dlib_found(testdata: Path) -> list[tuple[np.ndarray, int, list[tuple[tuple[int, ...], float]]]]:
    """Each case's image, upsample, and dlib's own detections (top, right, bottom, left)."""
    import dlib

    reference = dlib.cnn_face_detection_model_v1(str(model_path("cnn_detector")))
    out = []
    for name, crop, upsample in CASES:
        image = _photo(testdata, name, crop)
        found = [
            ((d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()), d.confidence)
            for d in reference(image, upsample)
        ]
        out.append((image, upsample, found))
    return out


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
def test_the_engines_find_dlibs_boxes_with_dlibs_scores(dlib_found, engine):
    detector = open_mmod_detector(model_path("cnn_detector"), engine)
    total = 0
    for image, upsample, expected in dlib_found:
        boxes, scores = detector.detect(image, upsample)
        assert [tuple(b) for b in boxes.tolist()] == [box for box, _ in expected]
        assert scores.dtype == np.float32
        assert np.abs(scores - [s for _, s in expected]).max(initial=0) < SCORE_TOLERANCE
        total += len(expected)
    assert total >= 7  # the comparison is of real detections


def test_detect_cnn_scored_is_the_configured_engines(dlib_found):
    models = get_models()
    image, upsample, expected = dlib_found[0]
    for engine in ("onnxruntime", "dlib"):
        models.configure_cnn(engine)
        try:
            boxes, scores = detect_cnn_scored(image, upsample)
        finally:
            models.configure_cnn("auto")
        assert [tuple(b) for b in boxes.tolist()] == [box for box, _ in expected]
        assert boxes.dtype == np.int64 and scores.dtype == np.float32
        assert np.abs(scores - [s for _, s in expected]).max() < SCORE_TOLERANCE
        assert np.array_equal(detect_faces(image, model="cnn", upsample=upsample), boxes)


def test_a_batch_finds_what_single_images_find(dlib_found):
    detector = open_mmod_detector(model_path("cnn_detector"), "onnxruntime")
    image = dlib_found[0][0]
    flipped = np.ascontiguousarray(image[:, ::-1])
    single = [detector.detect(i) for i in (image, flipped)]
    batch = detector.detect_batch([image, flipped])
    for (b1, s1), (b2, s2) in zip(single, batch, strict=True):
        assert np.array_equal(b1, b2)
        assert np.allclose(s1, s2, atol=SCORE_TOLERANCE)
    assert len(batch[1][0]) == 2


def test_pyramid_up_is_dlibs_resize_bit_for_bit(testdata):
    import dlib

    photo = _photo(testdata, "openface/longoria-cooper.jpg")
    for crop in (photo, photo[10:200, 5:301], photo[:37, :41], photo[3:4, :9]):
        crop = np.ascontiguousarray(crop)
        rows, cols = crop.shape[:2]
        assert np.array_equal(pyramid_up(crop), dlib.resize_image(crop, 2 * rows + 1, 2 * cols + 2))


@pytest.mark.parametrize(
    ("boxes", "levels", "expected"),
    [
        ([[10, 20, 89, 99]], 0, [[10, 20, 89, 99]]),
        ([[10, 20, 89, 99]], 1, [[4, 9, 43, 49]]),  # x / 2 - 1.25, y / 2 - 0.75, rounded
        ([[100, 100, 259, 259]], 2, [[23, 24, 63, 64]]),
    ],
)
def test_rect_down_maps_boxes_as_dlibs_pyramid_down_2(boxes, levels, expected):
    assert rect_down(np.array(boxes), levels).tolist() == expected


@pytest.mark.parametrize(("rows", "cols"), [(360, 640), (720, 1280), (1080, 1920), (200, 200)])
def test_pyramid_levels_shrink_by_five_sixths_and_never_overlap(rows, cols):
    rects, tiled_rows, tiled_cols = pyramid_rects(rows, cols, 10, 11)
    sizes = [(bottom - top + 1, right - left + 1) for left, top, right, bottom in rects]
    assert sizes[0] == (rows, cols) and rects[0][:2] == (11, 11)
    for (h0, w0), (h1, w1) in itertools.pairwise(sizes):
        assert (h1, w1) == (int(h0 * 5 / 6), int(w0 * 5 / 6))
    assert min(h for h, _ in sizes) >= 5
    for i, a in enumerate(rects):
        assert a[0] >= 0 and a[1] >= 0 and a[2] < tiled_cols and a[3] < tiled_rows
        for b in rects[i + 1 :]:
            assert a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]


def test_read_mmod_finds_the_documented_network():
    net = read_mmod(model_path("cnn_detector"))
    assert net.options.window_px == (80, 80)
    assert net.options.nms_iou == pytest.approx(0.338276, abs=1e-6)
    assert net.options.nms_covered == 1.0
    assert net.mean_rgb.tolist() == pytest.approx([122.782, 117.001, 104.298], abs=1e-4)
    assert (net.padding, net.outer_padding) == (10, 11)
    filters = [layer.weights["w"].shape for layer in net.layers if layer.spec.kind == "con"]
    assert filters == [
        (16, 3, 5, 5),
        (32, 16, 5, 5),
        (32, 32, 5, 5),
        (45, 32, 5, 5),
        (45, 45, 5, 5),
        (45, 45, 5, 5),
        (1, 45, 9, 9),
    ]
    assert len(net.specs) == len(mmod_layers()) == 19


def _refused(path: Path) -> str:
    with pytest.raises(ModelFormatError) as caught:
        read_mmod(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def test_another_networks_file_is_refused_in_one_line():
    assert f"not {MMOD_WHAT}: loss is 'loss_metric_2'" in _refused(model_path("encoder"))


@pytest.mark.parametrize("keep", [0, 100, 5000, 700_000])
def test_a_truncated_file_is_refused(tmp_path, keep):
    path = tmp_path / "mmod_human_face_detector.dat"
    path.write_bytes(model_path("cnn_detector").read_bytes()[:keep])
    assert "the file ends too early (truncated?)" in _refused(path)


def test_a_missing_file_is_refused(tmp_path):
    assert "cannot read the model file" in _refused(tmp_path / "nothing.dat")


def test_device_cuda_without_onnxruntime_gpu_stops_with_one_line():
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    models = get_models()
    models.configure_cnn("auto", "cuda")
    try:
        with pytest.raises(EngineUnavailableError) as caught:
            detect_cnn_scored(np.zeros((100, 100, 3), np.uint8))
    finally:
        models.configure_cnn("auto")
    assert "\n" not in str(caught.value) and "onnxruntime-gpu" in str(caught.value)
