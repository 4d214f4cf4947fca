"""Tests of faceripper.dlibnet and faceripper.onnxgraph: reading dlib's .dat, writing ONNX.

The real weight files are read; the converted network's numbers are checked against
dlib's in tests/test_engines.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceripper.dlibnet import (
    DESCRIPTOR_DIM,
    FACE_CHIP_PX,
    face_resnet_layers,
    face_resnet_onnx,
    read_face_resnet,
)
from faceripper.errors import ModelFormatError
from faceripper.models import model_path
from faceripper.onnxgraph import Graph, _varint


@pytest.fixture(scope="module")
def resnet_bytes() -> bytes:
    return model_path("encoder").read_bytes()


def test_read_face_resnet_finds_the_documented_network():
    net = read_face_resnet(model_path("encoder"))
    assert net.mean_rgb.tolist() == pytest.approx([122.782, 117.001, 104.298], abs=1e-4)
    kinds = [layer.spec.kind for layer in net.layers]
    assert kinds.count("con") == 29  # 1 + 2 per residual block (14 blocks)
    assert kinds.count("affine") == 29
    assert kinds.count("add_prev") == 14
    first, last = net.layers[0], net.layers[-1]
    assert first.weights["w"].shape == (32, 3, 7, 7)
    assert first.weights["b"].shape == (32,)
    assert last.spec.kind == "fc"
    assert last.weights["w"].shape == (256, DESCRIPTOR_DIM)
    for layer in net.layers:
        for array in layer.weights.values():
            assert array.dtype == np.float32
            assert np.isfinite(array).all()
    assert len(net.specs) == len(face_resnet_layers()) == 130


def test_face_resnet_onnx_runs_on_onnxruntime():
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(
        face_resnet_onnx(model_path("encoder")), providers=["CPUExecutionProvider"]
    )
    (chips,) = session.get_inputs()
    assert chips.name == "chips"
    assert chips.shape[1:] == [3, FACE_CHIP_PX, FACE_CHIP_PX]
    gray = np.full((2, 3, FACE_CHIP_PX, FACE_CHIP_PX), 128, dtype=np.float32)
    out = session.run(None, {"chips": gray})[0]
    assert out.shape == (2, DESCRIPTOR_DIM)
    assert np.array_equal(out[0], out[1])


def _message(path: Path) -> str:
    with pytest.raises(ModelFormatError) as caught:
        read_face_resnet(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert caught.value.exit_code == 2
    return message


@pytest.mark.parametrize("keep", [0, 10, 5000, 20_000_000])
def test_a_truncated_file_is_refused(tmp_path: Path, resnet_bytes: bytes, keep: int):
    path = tmp_path / "dlib_face_recognition_resnet_model_v1.dat"
    path.write_bytes(resnet_bytes[:keep])
    assert "the file ends too early (truncated?)" in _message(path)


def test_trailing_bytes_are_refused(tmp_path: Path, resnet_bytes: bytes):
    path = tmp_path / "model.dat"
    path.write_bytes(resnet_bytes + b"\x01\x02")
    assert "2 unexpected bytes after the network" in _message(path)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("landmarks_5", "not dlib's face recognition ResNet"),
        ("landmarks_68", "not dlib's face recognition ResNet"),
        ("cnn_detector", "loss is 'loss_mmod_'"),
    ],
)
def test_another_dlib_model_is_refused(name: str, problem: str):
    assert problem in _message(model_path(name))


def test_a_changed_layer_is_refused(tmp_path: Path, resnet_bytes: bytes):
    # The first conv's 7x7 kernel rows (``con_4`` settings: 32 filters, 7 rows...).
    at = resnet_bytes.index(b"con_4") + 5
    at = resnet_bytes.index(b"\x01\x20\x01\x07\x01\x07", at)
    changed = resnet_bytes[:at] + b"\x01\x20\x01\x05\x01\x07" + resnet_bytes[at + 6 :]
    path = tmp_path / "model.dat"
    path.write_bytes(changed)
    assert "con_ (filters, rows, cols, strides, paddings) is [32, 5, 7, 2, 2, 0, 0]" in (
        _message(path)
    )


def test_an_unreadable_file_is_refused(tmp_path: Path):
    with pytest.raises(ModelFormatError, match="cannot read the model file"):
        read_face_resnet(tmp_path / "missing.dat")


# ---------------------------------------------------------------------------- onnxgraph


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"), (128, b"\x80\x01"), (300, b"\xac\x02")],
)
def test_varint(value: int, encoded: bytes):
    assert _varint(value) == encoded


def test_negative_varint_takes_ten_bytes():
    assert _varint(-1) == b"\xff" * 9 + b"\x01"


def test_a_small_graph_runs_on_onnxruntime_and_opencv():
    onnxruntime = pytest.importorskip("onnxruntime")
    import cv2

    graph = Graph("small")
    graph.input("x", ("batch", 2, 3, 3))
    pads = graph.initializer("pads", np.array([0, 0, 0, 0, 0, 1, 1, 0], dtype=np.int64))
    scale = graph.initializer("s", np.array(0.5, dtype=np.float32))
    padded = graph.node("Pad", ["x", pads])
    graph.node("Mul", [graph.node("Relu", [padded]), scale], ["y"])
    graph.output("y", ("batch", 3, 4, 3))
    model = graph.to_bytes()
    x = np.arange(-9, 9, dtype=np.float32).reshape(1, 2, 3, 3)
    expected = np.zeros((1, 3, 4, 3), dtype=np.float32)
    expected[:, :2, :3, :] = np.maximum(x, 0) * 0.5
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert np.array_equal(session.run(None, {"x": x})[0], expected)
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model, dtype=np.uint8))
    net.setInput(x)
    assert np.array_equal(net.forward(), expected)
