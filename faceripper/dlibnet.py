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
CONVERTER_VERSION = 2


class DatReader:
    """Sequential reader of dlib's serialization; any problem raises ModelFormatError."""

    def __init__(self, data: bytes, path: Path, what: str) -> None:
        self.data = memoryview(data)
        self.path = path
        self.what = what
        self.pos = 0

    @classmethod
    def open(cls, path: Path, what: builtins.str, loss: builtins.str) -> DatReader:
        """A reader of the file ``path``, past its loss layer's name (``loss``).

        Raises:
            ModelFormatError: the file cannot be read, or its loss layer is another.
        """
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModelFormatError(f"{path}: cannot read the model file: {exc.strerror}") from exc
        reader = cls(data, path, what)
        reader.version("loss layer", 1)
        reader.expect("loss", reader.str(), loss)
        return reader

    def finish(self) -> None:
        """Check that the whole file was read."""
        if self.pos != len(self.data):
            self.fail(f"{len(self.data) - self.pos} unexpected bytes after the network")

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


def _read_details(reader: DatReader, spec: LayerSpec) -> Layer:
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
    name = reader.str()
    if spec.kind == "affine" and name == "bn_con2":
        return _read_batch_norm(reader, spec)
    reader.expect("layer", name, names[spec.kind])
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


def _read_batch_norm(reader: DatReader, spec: LayerSpec) -> Layer:
    """A batch norm layer (``bn_con2``) as the ``affine_`` dlib turns it into at test time.

    ``gamma / sqrt(running_variance + eps)`` and ``beta - gamma' * running_mean``, in
    float32 as dlib's ``affine_(const bn_&)`` computes them.
    """
    params = reader.tensor().reshape(-1)
    gamma, beta = reader.alias(), reader.alias()
    reader.expect("bn_con2 beta shape", beta, gamma)
    channels = int(np.prod(gamma))
    reader.expect("bn_con2 parameter count", params.size, 2 * channels)
    reader.tensor(), reader.tensor()  # means, invstds (training only)
    running_means, running_variances = reader.tensor().reshape(-1), reader.tensor().reshape(-1)
    reader.expect("bn_con2 running statistics", running_variances.size, channels)
    reader.int(), reader.int()  # num_updates, running_stats_window_size
    for _ in range(4):  # learning-rate and weight-decay multipliers
        reader.float()
    eps = np.float32(reader.float())
    scale = params[:channels] / np.sqrt(running_variances + eps)
    layer = Layer(spec)
    layer.weights["gamma"] = scale
    layer.weights["beta"] = params[channels:] - scale * running_means
    return layer


def _read_layer_state(reader: DatReader, innermost: bool) -> None:
    """Skip the training state a layer writes after its parameters."""
    for _ in range(3):  # this_layer_setup_called, gradient_input_is_stale, ...disabled
        reader.bool()
    for _ in range(3):  # x_grad, cached_output, then params_grad (grad_final innermost)
        reader.tensor()
    if innermost:
        reader.int()  # _sample_expansion_factor


def read_versions(reader: DatReader, layers: list[LayerSpec]) -> list[LayerSpec]:
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


def read_layers(reader: DatReader, computational: list[LayerSpec]) -> list[Layer]:
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
    reader = DatReader.open(path, FACE_RESNET_WHAT, "loss_metric_2")
    reader.float(), reader.float()  # margin and distance threshold (training only)
    specs = face_resnet_layers()
    computational = read_versions(reader, specs)
    reader.expect("input layer", reader.str(), "input_rgb_image_sized")
    mean = np.array([reader.float() for _ in range(3)], dtype=np.float32)
    reader.expect("input size", (reader.int(), reader.int()), (FACE_CHIP_PX, FACE_CHIP_PX))
    layers = read_layers(reader, computational)
    reader.finish()
    return FaceResNet(mean, layers, specs)


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
    normalized = graph.node("Mul", [graph.node("Sub", ["chips", mean]), scale])
    failure = f"{path}: not {FACE_RESNET_WHAT}"
    emit_layers(
        graph,
        normalized,
        (3, FACE_CHIP_PX, FACE_CHIP_PX),
        net.specs,
        net.layers,
        failure,
        "descriptors",
    )
    graph.output("descriptors", ("batch", DESCRIPTOR_DIM))
    return graph.to_bytes()


# ---------------------------------------------------------------------------- to ONNX

Shape = tuple[int, int, int]


@dataclass
class _Emitter:
    """Appends a network's layers to an ONNX graph, tracking the current value's shape.

    ``shape`` is ``(channels, rows, cols)`` (0 where a size is not fixed); ``failure``
    starts every error message (``"<file>: not <network>"``).
    """

    graph: Graph
    current: str
    shape: Shape
    failure: str
    pending: Layer | None = None  # a conv waiting for the affine that follows it
    tags: dict[int, tuple[str, Shape]] = field(default_factory=dict)

    def fail(self, problem: str) -> NoReturn:
        raise ModelFormatError(f"{self.failure}: {problem}")

    def flush(self, gamma: npt.NDArray | None = None, beta: npt.NDArray | None = None) -> None:
        """Emit the pending conv, with the affine ``gamma``/``beta`` folded into it."""
        if self.pending is None:
            return
        conv, self.pending = self.pending, None
        w = conv.weights["w"].astype(np.float64)
        b = conv.weights["b"].astype(np.float64)
        if gamma is not None and beta is not None:
            w = w * gamma.astype(np.float64)[:, None, None, None]
            b = b * gamma + beta
        spec = conv.spec
        inputs = [self.graph.initializer(n, a.astype(np.float32)) for n, a in (("w", w), ("b", b))]
        self.current = self.graph.node(
            "Conv",
            [self.current, *inputs],
            kernel_shape=[spec.kernel, spec.kernel],
            strides=[spec.stride, spec.stride],
            pads=[spec.pad] * 4,
        )

    def window(self, spec: LayerSpec, channels: int) -> None:
        """The shape after a conv or pool window of ``spec``."""
        rows, cols = (
            (n + 2 * spec.pad - spec.kernel) // spec.stride + 1 if n else 0 for n in self.shape[1:]
        )
        self.shape = (channels, rows, cols)

    def layer(self, spec: LayerSpec, layer: Layer) -> None:
        """Append one computational layer."""
        if spec.kind != "affine":
            self.flush()
        if spec.kind == "con":
            if layer.weights["w"].shape[1] != self.shape[0]:
                self.fail(
                    f"a conv takes {layer.weights['w'].shape[1]} channels, its input has "
                    f"{self.shape[0]}"
                )
            self.pending = layer
            self.window(spec, spec.size)
        elif spec.kind == "affine":
            if self.pending is None or len(layer.weights["gamma"]) != self.shape[0]:
                self.fail("an affine_ layer not after a conv")
            self.flush(layer.weights["gamma"], layer.weights["beta"])
        elif spec.kind == "relu":
            self.current = self.graph.node("Relu", [self.current])
        elif spec.kind in ("max_pool", "avg_pool") and spec.kernel == 0:
            self.current = self.graph.node("GlobalAveragePool", [self.current])
            self.shape = (self.shape[0], 1, 1)
        elif spec.kind in ("max_pool", "avg_pool"):
            self.current = self.graph.node(
                "MaxPool" if spec.kind == "max_pool" else "AveragePool",
                [self.current],
                kernel_shape=[spec.kernel, spec.kernel],
                strides=[spec.stride, spec.stride],
                pads=[spec.pad] * 4,
            )
            self.window(spec, self.shape[0])
        elif spec.kind == "add_prev":
            other, other_shape = self.tags[spec.tag]
            target = tuple(max(a, b) for a, b in zip(self.shape, other_shape, strict=True))
            extended = [
                _zero_extend(self.graph, name, shape, target)  # type: ignore[arg-type]
                for name, shape in ((self.current, self.shape), (other, other_shape))
            ]
            self.current = self.graph.node("Add", extended)
            self.shape = target  # type: ignore[assignment]
        elif spec.kind == "fc":
            w = layer.weights["w"]
            size = self.shape[0] * self.shape[1] * self.shape[2]
            if w.shape[0] != size:
                self.fail(f"the fc layer takes {w.shape[0]} values, its input has {size}")
            flat = self.graph.node("Flatten", [self.current], axis=1)
            fc = self.graph.initializer("fc", np.ascontiguousarray(w))
            self.current = self.graph.node("MatMul", [flat, fc])
            self.shape = (spec.size, 1, 1)


def emit_layers(
    graph: Graph,
    current: str,
    shape: Shape,
    specs: list[LayerSpec],
    layers: list[Layer],
    failure: str,
    output: str,
) -> Shape:
    """Append a network read from a ``.dat`` to ``graph``; its result is named ``output``.

    Args:
        graph: the graph being built.
        current: the name of the network's input value (already normalised).
        shape: its ``(channels, rows, cols)``; 0 for a size not fixed.
        specs: every layer, tags and skips included, innermost first.
        layers: the computational layers with their weights, innermost first.
        failure: the start of error messages, ``"<file>: not <network>"``.
        output: the name given to the last value.

    Returns:
        The output's ``(channels, rows, cols)``.

    Raises:
        ModelFormatError: a layer's weights do not fit its input.
    """
    emitter = _Emitter(graph, current, shape, failure)
    weights = iter(layers)
    for spec in specs:
        if spec.kind == "tag":
            emitter.flush()
            emitter.tags[spec.tag] = (emitter.current, emitter.shape)
        elif spec.kind == "skip":
            emitter.flush()
            emitter.current, emitter.shape = emitter.tags[spec.tag]
        else:
            emitter.layer(spec, next(weights))
    emitter.flush()
    graph.node("Identity", [emitter.current], [output])
    return emitter.shape


def _zero_extend(graph: Graph, name: str, shape: Shape, target: Shape) -> str:
    """``name`` padded with zeros after its channels, rows and columns up to ``target``."""
    if shape == target:
        return name
    ends = [0] + [t - s for s, t in zip(shape, target, strict=True)]
    pads = graph.initializer("pads", np.array([0, 0, 0, 0, *ends], dtype=np.int64))
    return graph.node("Pad", [name, pads])
