"""Running dlib's face recognition network on a fast engine: onnxruntime or OpenCV.

dlib-bin computes a descriptor in about 80 ms on one core (no BLAS). The same network
with the same weights, rebuilt as an ONNX graph from the user's own
``dlib_face_recognition_resnet_model_v1.dat`` (:mod:`faceripper.dlibnet`), runs in
about 5-7 ms a face on onnxruntime and about 10 ms on OpenCV's ``cv2.dnn``; its
descriptors differ from dlib's by about 1e-6 (docs/performance.md).

Engines (``--engine``):

* ``auto``: onnxruntime when installed, else OpenCV (always installed);
* ``onnxruntime``, ``opencv``: that one;
* ``dlib``: dlib's own ``face_recognition_model_v1``, bit for bit.

``--device cuda`` runs the network through onnxruntime's ``CUDAExecutionProvider``
(package ``onnxruntime-gpu``). Whatever the engine, the 150x150 chips come from dlib's
landmarks and ``dlib.get_face_chips``, and jitters above 1 use dlib's own path.

The conversion (about half a second) runs once: the ONNX bytes are cached in
:func:`cache_dir`, keyed by the ``.dat``'s path, size and modification time and by
:data:`~faceripper.dlibnet.CONVERTER_VERSION`; where that folder cannot be written, each
process converts in memory.

A network runs one thread (one intra-op thread, one inter-op thread, threads never
spinning): faceripper's parallelism is its worker processes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from faceripper.dlibnet import CONVERTER_VERSION, DESCRIPTOR_DIM, FACE_CHIP_PX, face_resnet_onnx
from faceripper.errors import EngineUnavailableError, UsageError
from faceripper.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from faceripper.models import EncoderEngine

log = logging.getLogger(__name__)

ENGINES: tuple[str, ...] = ("auto", "onnxruntime", "opencv", "dlib")
DEVICES: tuple[str, ...] = ("cpu", "cuda")

ChipBatch = npt.NDArray[np.uint8]


def onnxruntime_installed() -> bool:
    """Whether onnxruntime can be imported (checked without importing it)."""
    return importlib.util.find_spec("onnxruntime") is not None


def resolve_engine(engine: str, device: str = "cpu") -> EncoderEngine:
    """The concrete engine ``auto`` stands for here, after checking it can run.

    Returns:
        ``"onnxruntime"``, ``"opencv"`` or ``"dlib"``.

    Raises:
        UsageError: an unknown engine or device, or a device the engine cannot use.
        EngineUnavailableError: onnxruntime, or its CUDA provider, is not installed.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}: use cpu or cuda")
    if engine == "auto":
        engine = "onnxruntime" if onnxruntime_installed() or device == "cuda" else "opencv"
    if device == "cuda":
        if engine == "opencv":
            raise UsageError("--device cuda needs --engine onnxruntime (or auto), not opencv")
        if engine == "dlib":
            from faceripper.models import dlib_has_cuda

            if not dlib_has_cuda():
                raise EngineUnavailableError(
                    "--engine dlib --device cuda: this dlib was built without CUDA"
                )
        else:
            check_cuda_provider()
    if engine == "onnxruntime" and not onnxruntime_installed():
        raise EngineUnavailableError(
            "--engine onnxruntime: onnxruntime is not installed (pip install onnxruntime)"
        )
    return cast("EncoderEngine", engine)


def check_cuda_provider() -> None:
    """Raise unless onnxruntime offers its CUDA execution provider."""
    if not onnxruntime_installed():
        raise EngineUnavailableError(
            "--device cuda needs onnxruntime-gpu: pip install onnxruntime-gpu"
        )
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" not in available:
        raise EngineUnavailableError(
            "--device cuda: onnxruntime has no CUDAExecutionProvider (install "
            f"onnxruntime-gpu instead of onnxruntime; available: {', '.join(available)})"
        )


# ---------------------------------------------------------------------------- ONNX cache


def cache_dir() -> Path:
    """Where converted networks are kept: ``FACERIPPER_CACHE_DIR``, else the user's cache.

    (``~/.cache/faceripper`` or ``$XDG_CACHE_HOME/faceripper`` on Linux,
    ``~/Library/Caches/faceripper`` on macOS, ``%LOCALAPPDATA%\\faceripper\\Cache`` on
    Windows.)
    """
    override = os.environ.get("FACERIPPER_CACHE_DIR")
    if override:
        return Path(override)
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return (
            (Path(local) if local else Path.home() / "AppData" / "Local") / "faceripper" / "Cache"
        )
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "faceripper"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "faceripper"


@dataclass(frozen=True)
class Converter:
    """How a dlib ``.dat`` becomes ONNX: the function, and its version (keys the cache)."""

    convert: Callable[[Path], bytes]
    version: int


#: dlib's face recognition ResNet (:func:`faceripper.dlibnet.face_resnet_onnx`).
FACE_RESNET = Converter(face_resnet_onnx, CONVERTER_VERSION)


def cached_onnx_path(dat: Path, converter: Converter = FACE_RESNET) -> Path:
    """The cache file of ``dat``'s converted network (it may not exist yet)."""
    stat = dat.stat()
    key = f"{converter.version}|{dat.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return cache_dir() / f"{dat.stem}-{digest}.onnx"


def _write_cache(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data, fsync=False)
    except OSError as exc:
        log.info("%s: cannot cache the converted network (%s); converting in memory", path, exc)


def convert_cached(dat: Path, converter: Converter = FACE_RESNET) -> bytes:
    """The ONNX bytes of the network in ``dat``, from the cache or converted now.

    Raises:
        ModelFormatError: ``dat`` is not the network ``converter`` expects.
    """
    path = cached_onnx_path(dat, converter)
    try:
        return path.read_bytes()
    except OSError:
        pass
    data = converter.convert(dat)
    _write_cache(path, data)
    return data


def ensure_converted(dat: Path, converter: Converter = FACE_RESNET) -> None:
    """Check ``dat`` and fill the cache, so that worker processes only read it.

    Raises:
        ModelFormatError: ``dat`` is not the network ``converter`` expects.
    """
    if not cached_onnx_path(dat, converter).is_file():
        _write_cache(cached_onnx_path(dat, converter), converter.convert(dat))


# ---------------------------------------------------------------------------- networks


class FaceNetwork(Protocol):
    """A face descriptor network: chips in, 128-d descriptors out."""

    name: str

    def descriptors(self, chips: ChipBatch) -> npt.NDArray[np.float64]:
        """Descriptors ``(n, 128)`` float64 of chips ``(n, 150, 150, 3)`` uint8 RGB."""
        ...


def _as_input(chips: ChipBatch) -> npt.NDArray[np.float32]:
    """Chips ``(n, 150, 150, 3)`` uint8 as the graph's ``(n, 3, 150, 150)`` float32."""
    if chips.ndim != 4 or chips.shape[1:] != (FACE_CHIP_PX, FACE_CHIP_PX, 3):
        raise ValueError(f"chips must be (n, 150, 150, 3), got {chips.shape}")
    return np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)


class OnnxRuntimeNetwork:
    """The network on an onnxruntime session (CPU, or CUDA with onnxruntime-gpu)."""

    name = "onnxruntime"

    def __init__(self, model: bytes, device: str = "cpu", threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        options.log_severity_level = 3
        if device == "cuda":
            check_cuda_provider()
            providers: list[Any] = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self.session = onnxruntime.InferenceSession(model, options, providers=providers)
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise EngineUnavailableError(
                "--device cuda: onnxruntime could not start its CUDA provider (CUDA or "
                "cuDNN libraries missing?); it would run on the CPU"
            )
        self.device = device
        self.input_name = self.session.get_inputs()[0].name

    def run(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The graph's (first) output for its one input, both float32."""
        return np.asarray(self.session.run(None, {self.input_name: inputs})[0])

    def descriptors(self, chips: ChipBatch) -> npt.NDArray[np.float64]:
        """Descriptors ``(n, 128)`` float64 of chips ``(n, 150, 150, 3)`` uint8 RGB."""
        if len(chips) == 0:
            return np.zeros((0, DESCRIPTOR_DIM))
        return np.asarray(self.run(_as_input(chips)), dtype=np.float64)


class OpenCVNetwork:
    """The network on OpenCV's ``cv2.dnn`` (CPU)."""

    name = "opencv"

    def __init__(self, model: bytes, threads: int | None = 1) -> None:
        import cv2

        if threads is not None:
            cv2.setNumThreads(threads)
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(model, dtype=np.uint8))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    def run(self, inputs: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The graph's output for its one input, both float32."""
        self.net.setInput(inputs)
        return np.asarray(self.net.forward())

    def descriptors(self, chips: ChipBatch) -> npt.NDArray[np.float64]:
        """Descriptors ``(n, 128)`` float64 of chips ``(n, 150, 150, 3)`` uint8 RGB."""
        if len(chips) == 0:
            return np.zeros((0, DESCRIPTOR_DIM))
        return np.asarray(self.run(_as_input(chips)), dtype=np.float64).reshape(len(chips), -1)


def open_network(
    dat: Path,
    engine: str,
    device: str = "cpu",
    threads: int = 1,
    converter: Converter = FACE_RESNET,
) -> OnnxRuntimeNetwork | OpenCVNetwork:
    """Load the network of ``dat`` on ``engine`` (``onnxruntime`` or ``opencv``).

    Raises:
        ModelFormatError: ``dat`` is not the network ``converter`` expects.
        EngineUnavailableError: the engine or device cannot run here.
    """
    model = convert_cached(dat, converter)
    for attempt in (0, 1):
        try:
            if engine == "onnxruntime":
                return OnnxRuntimeNetwork(model, device, threads)
            if engine == "opencv":
                return OpenCVNetwork(model, threads)
            raise UsageError(f"engine {engine!r} does not run converted networks")
        except (UsageError, EngineUnavailableError):
            raise
        except Exception as exc:  # a damaged cache file: convert again, once
            if attempt:
                raise
            log.info("%s: cached network unusable (%s); converting again", dat, exc)
            model = converter.convert(dat)
            _write_cache(cached_onnx_path(dat, converter), model)
    raise AssertionError("unreachable")


def open_face_network(dat: Path, engine: str, device: str = "cpu", threads: int = 1) -> FaceNetwork:
    """Load the face network of ``dat`` on ``engine`` (``onnxruntime`` or ``opencv``).

    Raises:
        ModelFormatError: ``dat`` is not dlib's face recognition network.
        EngineUnavailableError: the engine or device cannot run here.
    """
    return open_network(dat, engine, device, threads)


def prepare_engine(engine: str, device: str = "cpu", cnn: bool = False) -> EncoderEngine:
    """Resolve ``engine`` and check the model files before any work starts.

    For a converted engine the ``.dat`` files are read and converted once here (then
    cached), so that a wrong model file fails at once with one clear error rather than
    in every worker: the face encoder's, and with ``cnn`` the CNN detector's.

    Returns:
        The concrete engine: ``"onnxruntime"``, ``"opencv"`` or ``"dlib"``.

    Raises:
        UsageError, EngineUnavailableError: as :func:`resolve_engine`.
        ModelFormatError: a model file is not the network it should be.
    """
    resolved = resolve_engine(engine, device)
    if resolved != "dlib":
        from faceripper.models import model_path

        ensure_converted(model_path("encoder"))
        if cnn:
            from faceripper.mmodnet import MMOD_CONVERTER

            ensure_converted(model_path("cnn_detector"), MMOD_CONVERTER)
    return resolved
