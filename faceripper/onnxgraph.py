"""A minimal ONNX model writer: a graph of nodes and float32 weights, as protobuf bytes.

Only what faceripper's converted networks need (see :mod:`faceripper.dlibnet`): float32
and int64 initializers, nodes with int, ints and float attributes, one float32 input
and output whose first dimension is the batch. The bytes follow ``onnx.proto`` (proto2,
repeated fields unpacked) and load in ``onnxruntime.InferenceSession(bytes)`` and
``cv2.dnn.readNetFromONNX``; the ``onnx`` package is not needed.

Example:
    >>> graph = Graph("identity", opset=13)
    >>> graph.input("x", (3,))
    >>> graph.node("Relu", ["x"], ["y"])
    'y'
    >>> graph.output("y", (3,))
    >>> graph.to_bytes()[:2]
    b'\\x08\\x07'
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

#: ``TensorProto.DataType`` values used here.
FLOAT, INT64 = 1, 7
#: ``AttributeProto.AttributeType`` values used here.
_ATTR_FLOAT, _ATTR_INT, _ATTR_INTS = 1, 2, 7
#: ONNX IR version matching opset 13.
IR_VERSION = 7

AttributeValue = int | float | Sequence[int]


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field_number: int, wire_type: int) -> bytes:
    return _varint(field_number << 3 | wire_type)


def _int_field(field_number: int, value: int) -> bytes:
    return _key(field_number, 0) + _varint(value)


def _bytes_field(field_number: int, value: bytes) -> bytes:
    return _key(field_number, 2) + _varint(len(value)) + value


def _str_field(field_number: int, value: str) -> bytes:
    return _bytes_field(field_number, value.encode("utf-8"))


def _float_field(field_number: int, value: float) -> bytes:
    return _key(field_number, 5) + struct.pack("<f", value)


def tensor_proto(name: str, array: npt.NDArray) -> bytes:
    """``TensorProto`` bytes of a float32 or int64 array (raw little-endian data)."""
    if array.dtype == np.float32:
        data_type = FLOAT
    elif array.dtype == np.int64:
        data_type = INT64
    else:
        raise TypeError(f"{name}: unsupported dtype {array.dtype}")
    out = b"".join(_int_field(1, d) for d in array.shape)
    out += _int_field(2, data_type)
    out += _str_field(8, name)
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return out + _bytes_field(9, raw)


def _attribute(name: str, value: AttributeValue) -> bytes:
    out = _str_field(1, name)
    if isinstance(value, bool | int):
        return out + _int_field(3, int(value)) + _int_field(20, _ATTR_INT)
    if isinstance(value, float):
        return out + _float_field(2, value) + _int_field(20, _ATTR_FLOAT)
    return out + b"".join(_int_field(8, int(v)) for v in value) + _int_field(20, _ATTR_INTS)


def _value_info(name: str, shape: Sequence[int | str]) -> bytes:
    dims = b"".join(
        _bytes_field(1, _str_field(2, d) if isinstance(d, str) else _int_field(1, d)) for d in shape
    )
    tensor_type = _int_field(1, FLOAT) + _bytes_field(2, dims)
    return _str_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


@dataclass
class Graph:
    """An ONNX graph being built; :meth:`to_bytes` gives the whole ``ModelProto``."""

    name: str
    opset: int = 13
    _nodes: list[bytes] = field(default_factory=list)
    _initializers: list[bytes] = field(default_factory=list)
    _inputs: list[bytes] = field(default_factory=list)
    _outputs: list[bytes] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def unique(self, stem: str) -> str:
        """A value name not used yet, starting with ``stem``."""
        name, n = stem, 0
        while name in self._names:
            n += 1
            name = f"{stem}_{n}"
        self._names.add(name)
        return name

    def input(self, name: str, shape: Sequence[int | str]) -> None:
        """Declare a float32 graph input (a ``str`` dimension is symbolic, e.g. batch)."""
        self._names.add(name)
        self._inputs.append(_value_info(name, shape))

    def output(self, name: str, shape: Sequence[int | str]) -> None:
        """Declare a float32 graph output."""
        self._outputs.append(_value_info(name, shape))

    def initializer(self, stem: str, array: npt.NDArray) -> str:
        """Add a constant (float32 or int64) and return its name."""
        name = self.unique(stem)
        self._initializers.append(tensor_proto(name, array))
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: Sequence[str] | None = None,
        **attributes: AttributeValue,
    ) -> str:
        """Add a node and return its (first) output's name (a new one unless given)."""
        outputs = list(outputs) if outputs else [self.unique(op_type.lower())]
        self._names.update(outputs)
        body = b"".join(_str_field(1, i) for i in inputs)
        body += b"".join(_str_field(2, o) for o in outputs)
        body += _str_field(3, f"{op_type}_{len(self._nodes)}") + _str_field(4, op_type)
        body += b"".join(_bytes_field(5, _attribute(k, v)) for k, v in attributes.items())
        self._nodes.append(body)
        return outputs[0]

    def to_bytes(self) -> bytes:
        """The serialized ``ModelProto``."""
        graph = b"".join(_bytes_field(1, n) for n in self._nodes)
        graph += _str_field(2, self.name)
        graph += b"".join(_bytes_field(5, t) for t in self._initializers)
        graph += b"".join(_bytes_field(11, i) for i in self._inputs)
        graph += b"".join(_bytes_field(12, o) for o in self._outputs)
        opset = _str_field(1, "") + _int_field(2, self.opset)
        return (
            _int_field(1, IR_VERSION)
            + _str_field(2, "faceripper")
            + _bytes_field(7, graph)
            + _bytes_field(8, opset)
        )
