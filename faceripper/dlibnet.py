"""Reading dlib's serialized networks (``.dat``) and rebuilding them as ONNX graphs.

dlib writes a network with its own serialization (``dlib/serialize.h``,
``dlib/dnn/core.h``, ``dlib/dnn/layers.h``):

* an integer is a control byte (low 4 bits: how many bytes follow; ``0x80``: negative)
  and then its magnitude, little-endian; a string is its length, then its bytes; a
  ``bool`` is the character ``'0'`` or ``'1'``;
* a floating-point value is an integer mantissa and an integer exponent (value =
  mantissa * 2 ** exponent);
* a tensor is version 2, its four dimensions ``(num_samples, k, nr, nc)``, then the
  values as raw little-endian float32;
* the loss layer comes first. Every layer then writes its version number and its
  sub-network before its own parameters, so the version numbers run from the output to
  the input, and the parameters from the input to the output. Tag and skip layers write
  only their version (1); a computational layer writes version 2 (3 for the one holding
  the input layer), and after its parameters three bools and a few (empty) tensors of
  training state.

Tags and skips are not named in the file, so a network can only be read against the
architecture it is expected to have; :func:`read_face_resnet` checks every layer's
kind, shape and version, and any difference (another model file, a truncated one)
raises :class:`~faceripper.errors.ModelFormatError` naming the file, never giving
wrong numbers.

The face recognition network (``dlib_face_recognition_resnet_model_v1.dat``, from
dlib's ``dnn_face_recognition_ex.cpp``) is a 29-layer ResNet: a 7x7 stride-2 conv with
32 filters, max pool 3x3 stride 2, then residual blocks of two 3x3 convs (32, 64, 128,
256 and 256 filters; the first block of each size halves the resolution with a stride-2
conv, its shortcut an average pool 2x2 stride 2), global average pool and a 256x128
fully connected layer without bias. Batch normalisation is stored folded, as
``affine_`` layers (``gamma * x + beta`` per channel). Padding is 0 for stride-2 convs
and pools, 1 for the stride-1 3x3 convs. dlib's ``add_prev`` adds two tensors of
different shapes by zero-extending both to the larger one, top-left aligned (in one
block a 3x3x256 and a 4x4x128 tensor meet). The input is a 150x150 RGB chip, each
channel ``(pixel - mean) / 256``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from faceripper.errors import ModelFormatError
from faceripper.onnxgraph import Graph

#: What the expected file is, for error messages.
FACE_RESNET_WHAT = "dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1)"
#: Side of the face chips the ResNet takes, in pixels.
FACE_CHIP_PX = 150
#: The ResNet's descriptor length.
DESCRIPTOR_DIM = 128
#: Bumped whenever the ONNX graph built from a ``.dat`` changes (it keys the disk cache).
CONVERTER_VERSION = 1


class _Reader:
    """Sequential reader of dlib's serialization; any problem raises ModelFormatError."""

    def __init__(self, data: bytes, path: Path, what: str) -> None:
        self.data = memoryview(data)
        self.path = path
        self.what = what
        self.pos = 0

    def fail(self, problem: str) -> NoReturn:
        raise ModelFormatError(f"{self.path}: not {self.what}: {problem} (at byte {self.pos})")

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            self.fail("the file ends too early (truncated?)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            self.fail(f"bad integer control byte 0x{control:02x}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def str(self) -> str:
        size = self.int()
        if not 0 <= size <= 1000:
            self.fail(f"bad string length {size}")
        return bytes(self._take(size)).decode("latin-1")

    def float(self) -> float:
        mantissa, exponent = self.int(), self.int()
        if abs(exponent) > 2000:
            self.fail(f"bad floating-point exponent {exponent}")
        return float(mantissa * 2.0**exponent)

    def bool(self) -> bool:
        char = bytes(self._take(1))
        if char not in (b"0", b"1"):
            self.fail(f"bad bool {char!r}")
        return char == b"1"

    def dims(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        dims = (self.int(), self.int(), self.int(), self.int())
        if min(dims) < 0 or max(dims) > 1 << 31:
            self.fail(f"bad tensor dimensions {dims}")
        return dims

    def tensor(self) -> npt.NDArray[np.float32]:
        self.version("tensor", 2)
        dims = self.dims()
        count = dims[0] * dims[1] * dims[2] * dims[3]
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[builtins.int, builtins.int, builtins.int, builtins.int]:
        self.version("alias_tensor", 1)
        return self.dims()

    def version(self, what: builtins.str, wanted: builtins.int) -> None:
        got = self.int()
        if got != wanted:
            self.fail(f"{what} has version {got}, expected {wanted}")

    def expect(self, what: builtins.str, got: Any, wanted: Any) -> None:
        if got != wanted:
            self.fail(f"{what} is {got!r}, expected {wanted!r}")


@dataclass(frozen=True)
class LayerSpec:
    """One layer of an expected architecture.

    ``kind`` is one of ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``fc``,
    ``add_prev``, ``tag``, ``skip``; ``size`` is a conv's filters or an fc's outputs,
    ``kernel``/``stride``/``pad`` a conv's or pool's window (``kernel`` 0: the whole
    input), ``tag`` the tag number of ``tag``, ``skip`` and ``add_prev`` layers.
    """

    kind: str
    size: int = 0
    kernel: int = 0
    stride: int = 1
    pad: int = 0
    tag: int = 0


@dataclass
class Layer:
    """A layer read from the file: its spec and its parameters (float32 arrays)."""

    spec: LayerSpec
    weights: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


def _read_details(reader: _Reader, spec: LayerSpec) -> Layer:
    """Read one computational layer's own part (name, parameters, settings)."""
    names = {
        "con": "con_4",
        "affine": "affine_",
        "relu": "relu_",
        "max_pool": "max_pool_2",
        "avg_pool": "avg_pool_2",
        "fc": "fc_2",
        "add_prev": "add_prev_",
    }
    reader.expect("layer", reader.str(), names[spec.kind])
    layer = Layer(spec)
    if spec.kind == "con":
        params = reader.tensor()
        settings = [reader.int() for _ in range(7)]
        wanted = [spec.size, spec.kernel, spec.kernel, spec.stride, spec.stride, spec.pad, spec.pad]
        reader.expect("con_ (filters, rows, cols, strides, paddings)", settings, wanted)
        filters = reader.alias()
        reader.expect("con_ bias shape", reader.alias(), (1, spec.size, 1, 1))
        for _ in range(4):  # learning-rate and weight-decay multipliers
            reader.float()
        n = int(np.prod(filters))
        reader.expect("con_ parameter count", params.size, n + spec.size)
        flat = params.reshape(-1)
        layer.weights["w"] = flat[:n].reshape(filters)
        layer.weights["b"] = flat[n:]
    elif spec.kind == "affine":
        params = reader.tensor().reshape(-1)
        gamma, beta = reader.alias(), reader.alias()
        reader.expect("affine_ beta shape", beta, gamma)
        reader.expect("affine_ mode", reader.int(), 0)  # CONV_MODE: one value per channel
        channels = int(np.prod(gamma))
        reader.expect("affine_ parameter count", params.size, 2 * channels)
        layer.weights["gamma"], layer.weights["beta"] = params[:channels], params[channels:]
    elif spec.kind in ("max_pool", "avg_pool"):
        settings = [reader.int() for _ in range(6)]
        wanted = [spec.kernel, spec.kernel, spec.stride, spec.stride, spec.pad, spec.pad]
        reader.expect(f"{spec.kind} (rows, cols, strides, paddings)", settings, wanted)
    elif spec.kind == "fc":
        reader.expect("fc_ outputs", reader.int(), spec.size)
        inputs = reader.int()
        params = reader.tensor()
        reader.expect("fc_ weight shape", reader.alias(), (inputs, spec.size, 1, 1))
        reader.expect("fc_ bias shape", reader.alias(), (0, 0, 0, 0))
        reader.expect("fc_ bias mode", reader.int(), 1)  # FC_NO_BIAS
        for _ in range(4):
            reader.float()
        reader.expect("fc_ parameter shape", params.shape, (inputs, spec.size, 1, 1))
        layer.weights["w"] = params.reshape(inputs, spec.size)
    return layer


def _read_layer_state(reader: _Reader, innermost: bool) -> None:
    """Skip the training state a layer writes after its parameters."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ...disabled
        reader.bool()
    for _ in range(3):  # x_grad, cached_output, then params_grad (grad_final innermost)
        reader.tensor()
    if innermost:
        reader.int()  # _sample_expansion_factor


def read_versions(reader: _Reader, layers: list[LayerSpec]) -> list[LayerSpec]:
    """Check the layers' version numbers, written outermost first.

    Args:
        reader: positioned after the loss layer's own part.
        layers: the expected architecture, innermost (next to the input) first.

    Returns:
        The computational layers' specs (no tags, no skips), innermost first: the order
        of their parameters after the input layer (:func:`read_layers`).
    """
    for i, spec in enumerate(reversed(layers)):
        if spec.kind in ("tag", "skip"):
            reader.version(f"{spec.kind}{spec.tag} layer", 1)
        else:
            reader.version(f"{spec.kind} layer", 3 if i == len(layers) - 1 else 2)
    return [s for s in layers if s.kind not in ("tag", "skip")]


def read_layers(reader: _Reader, computational: list[LayerSpec]) -> list[Layer]:
    """Read every computational layer's parameters, innermost first."""
    out = []
    for i, spec in enumerate(computational):
        out.append(_read_details(reader, spec))
        _read_layer_state(reader, innermost=i == 0)
    return out


# ---------------------------------------------------------------------------- face ResNet


def face_resnet_layers() -> list[LayerSpec]:
    """The face recognition ResNet's layers, innermost (next to the input) first."""

    def block(n: int, stride: int) -> list[LayerSpec]:
        pad = 0 if stride == 2 else 1
        return [
            LayerSpec("con", n, 3, stride, pad),
            LayerSpec("affine"),
            LayerSpec("relu"),
            LayerSpec("con", n, 3, 1, 1),
            LayerSpec("affine"),
        ]

    def ares(n: int) -> list[LayerSpec]:  # relu<add_prev1<block<n,1,tag1<...>>>>
        return [
            LayerSpec("tag", tag=1),
            *block(n, 1),
            LayerSpec("add_prev", tag=1),
            LayerSpec("relu"),
        ]

    def ares_down(n: int) -> list[LayerSpec]:
        # relu<add_prev2<avg_pool<2,2,2,2,skip1<tag2<block<n,2,tag1<...>>>>>>>
        return [
            LayerSpec("tag", tag=1),
            *block(n, 2),
            LayerSpec("tag", tag=2),
            LayerSpec("skip", tag=1),
            LayerSpec("avg_pool", kernel=2, stride=2),
            LayerSpec("add_prev", tag=2),
            LayerSpec("relu"),
        ]

    layers = [
        LayerSpec("con", 32, 7, 2, 0),
        LayerSpec("affine"),
        LayerSpec("relu"),
        LayerSpec("max_pool", kernel=3, stride=2),
    ]
    layers += ares(32) * 3  # alevel4
    layers += ares_down(64) + ares(64) * 3  # alevel3
    layers += ares_down(128) + ares(128) * 2  # alevel2
    layers += ares_down(256) + ares(256) * 2  # alevel1
    layers += ares_down(256)  # alevel0
    layers += [LayerSpec("avg_pool", kernel=0, stride=1), LayerSpec("fc", DESCRIPTOR_DIM)]
    return layers


@dataclass
class FaceResNet:
    """The face recognition network read from its ``.dat``.

    Attributes:
        mean_rgb: ``(3,)`` float32 per-channel means subtracted from the chip's pixels.
        layers: the computational layers with their weights, innermost first.
        specs: every layer (tags and skips included), innermost first.
    """

    mean_rgb: npt.NDArray[np.float32]
    layers: list[Layer]
    specs: list[LayerSpec]


def read_face_resnet(path: Path) -> FaceResNet:
    """Read ``dlib_face_recognition_resnet_model_v1.dat``.

    Raises:
        ModelFormatError: the file cannot be read or is not that network.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFormatError(f"{path}: cannot read the model file: {exc.strerror}") from exc
    reader = _Reader(data, path, FACE_RESNET_WHAT)
    reader.version("loss layer", 1)
    reader.expect("loss", reader.str(), "loss_metric_2")
    reader.float(), reader.float()  # margin and distance threshold (training only)
    specs = face_resnet_layers()
    computational = read_versions(reader, specs)
    reader.expect("input layer", reader.str(), "input_rgb_image_sized")
    mean = np.array([reader.float() for _ in range(3)], dtype=np.float32)
    reader.expect("input size", (reader.int(), reader.int()), (FACE_CHIP_PX, FACE_CHIP_PX))
    layers = read_layers(reader, computational)
    if reader.pos != len(reader.data):
        reader.fail(f"{len(reader.data) - reader.pos} unexpected bytes after the network")
    return FaceResNet(mean, layers, specs)


def _conv_input_channels(reader_path: Path, layer: Layer, channels: int) -> None:
    got = layer.weights["w"].shape[1]
    if got != channels:
        raise ModelFormatError(
            f"{reader_path}: not {FACE_RESNET_WHAT}: a conv takes {got} channels, "
            f"its input has {channels}"
        )


def face_resnet_onnx(path: Path) -> bytes:
    """The face recognition network of ``path`` as an ONNX model (bytes).

    The model's input ``chips`` is ``(batch, 3, 150, 150)`` float32 RGB pixel values
    (0 to 255, channels first; the graph subtracts the means and divides by 256); its
    output ``descriptors`` is ``(batch, 128)`` float32. Each ``affine_`` layer is folded
    into the conv before it.

    Raises:
        ModelFormatError: the file is not that network.
    """
    net = read_face_resnet(path)
    graph = Graph("dlib_face_recognition_resnet_model_v1", opset=13)
    graph.input("chips", ("batch", 3, FACE_CHIP_PX, FACE_CHIP_PX))
    mean = graph.initializer("mean", net.mean_rgb.reshape(1, 3, 1, 1))
    scale = graph.initializer("scale", np.array(1 / 256, dtype=np.float32))
    current = graph.node("Mul", [graph.node("Sub", ["chips", mean]), scale])
    shape = (3, FACE_CHIP_PX, FACE_CHIP_PX)  # (channels, rows, cols) of `current`
    tags: dict[int, tuple[str, tuple[int, int, int]]] = {}
    weights = iter(net.layers)
    pending: Layer | None = None  # a conv waiting for the affine that follows it

    def emit_conv(conv: Layer, gamma: npt.NDArray | None, beta: npt.NDArray | None) -> None:
        nonlocal current
        w = conv.weights["w"].astype(np.float64)
        b = conv.weights["b"].astype(np.float64)
        if gamma is not None and beta is not None:
            w = w * gamma.astype(np.float64)[:, None, None, None]
            b = b * gamma + beta
        spec = conv.spec
        current = graph.node(
            "Conv",
            [
                current,
                graph.initializer("w", w.astype(np.float32)),
                graph.initializer("b", b.astype(np.float32)),
            ],
            kernel_shape=[spec.kernel, spec.kernel],
            strides=[spec.stride, spec.stride],
            pads=[spec.pad] * 4,
        )

    for spec in net.specs:
        if spec.kind == "tag":
            tags[spec.tag] = (current, shape)
            continue
        if spec.kind == "skip":
            current, shape = tags[spec.tag]
            continue
        layer = next(weights)
        if pending is not None and spec.kind != "affine":
            emit_conv(pending, None, None)
            pending = None
        if spec.kind == "con":
            _conv_input_channels(path, layer, shape[0])
            pending = layer
            rows = (shape[1] + 2 * spec.pad - spec.kernel) // spec.stride + 1
            cols = (shape[2] + 2 * spec.pad - spec.kernel) // spec.stride + 1
            shape = (spec.size, rows, cols)
        elif spec.kind == "affine":
            if pending is None or len(layer.weights["gamma"]) != shape[0]:
                raise ModelFormatError(
                    f"{path}: not {FACE_RESNET_WHAT}: an affine_ layer not after a conv"
                )
            emit_conv(pending, layer.weights["gamma"], layer.weights["beta"])
            pending = None
        elif spec.kind == "relu":
            current = graph.node("Relu", [current])
        elif spec.kind in ("max_pool", "avg_pool") and spec.kernel == 0:
            current = graph.node("GlobalAveragePool", [current])
            shape = (shape[0], 1, 1)
        elif spec.kind in ("max_pool", "avg_pool"):
            op = "MaxPool" if spec.kind == "max_pool" else "AveragePool"
            current = graph.node(
                op,
                [current],
                kernel_shape=[spec.kernel, spec.kernel],
                strides=[spec.stride, spec.stride],
                pads=[spec.pad] * 4,
            )
            rows = (shape[1] + 2 * spec.pad - spec.kernel) // spec.stride + 1
            cols = (shape[2] + 2 * spec.pad - spec.kernel) // spec.stride + 1
            shape = (shape[0], rows, cols)
        elif spec.kind == "add_prev":
            other, other_shape = tags[spec.tag]
            target = (
                max(shape[0], other_shape[0]),
                max(shape[1], other_shape[1]),
                max(shape[2], other_shape[2]),
            )
            current = graph.node(
                "Add",
                [
                    _zero_extend(graph, current, shape, target),
                    _zero_extend(graph, other, other_shape, target),
                ],
            )
            shape = target
        elif spec.kind == "fc":
            w = layer.weights["w"]
            if w.shape[0] != shape[0] * shape[1] * shape[2]:
                raise ModelFormatError(
                    f"{path}: not {FACE_RESNET_WHAT}: the fc layer takes {w.shape[0]} "
                    f"values, its input has {shape[0] * shape[1] * shape[2]}"
                )
            flat = graph.node("Flatten", [current], axis=1)
            current = graph.node(
                "MatMul", [flat, graph.initializer("fc", np.ascontiguousarray(w))], ["descriptors"]
            )
            shape = (spec.size, 1, 1)
    graph.output("descriptors", ("batch", DESCRIPTOR_DIM))
    return graph.to_bytes()


def _zero_extend(
    graph: Graph, name: str, shape: tuple[int, int, int], target: tuple[int, int, int]
) -> str:
    """``name`` padded with zeros after its channels, rows and columns up to ``target``."""
    if shape == target:
        return name
    ends = [0] + [t - s for s, t in zip(shape, target, strict=True)]
    pads = graph.initializer("pads", np.array([0, 0, 0, 0, *ends], dtype=np.int64))
    return graph.node("Pad", [name, pads])
