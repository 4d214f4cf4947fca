"""Where the dlib model weights are, and loading them once per process.

The weights ship in the PyPI package ``face_recognition_models``. Its ``__init__``
imports ``pkg_resources``, which setuptools 81 removed, so importing it can fail or
quit; this module finds the package's folder with :func:`importlib.util.find_spec`,
which locates a package without executing it.

``FACERIPPER_MODELS_DIR`` overrides the folder (it must hold the ``.dat`` files).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from faceripper.errors import ModelsNotFoundError

LandmarkModel = Literal["5", "68"]
DetectorModel = Literal["hog", "cnn"]
#: Where encodings are computed (:mod:`faceripper.engines`).
EncoderEngine = Literal["auto", "onnxruntime", "opencv", "dlib"]
Device = Literal["cpu", "cuda"]

MODEL_FILES = {
    "landmarks_5": "shape_predictor_5_face_landmarks.dat",
    "landmarks_68": "shape_predictor_68_face_landmarks.dat",
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


def models_dir() -> Path:
    """Return the folder holding the dlib ``.dat`` weight files.

    Raises:
        ModelsNotFoundError: neither ``FACERIPPER_MODELS_DIR`` nor the installed
            ``face_recognition_models`` package provides the files.
    """
    override = os.environ.get("FACERIPPER_MODELS_DIR")
    if override:
        folder = Path(override)
        if not (folder / MODEL_FILES["encoder"]).is_file():
            raise ModelsNotFoundError(
                f"{folder}: FACERIPPER_MODELS_DIR holds no {MODEL_FILES['encoder']}"
            )
        return folder
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelsNotFoundError(
            "the package face_recognition_models is not installed: "
            "pip install face-recognition-models"
        )
    for location in spec.submodule_search_locations:
        folder = Path(location) / "models"
        if (folder / MODEL_FILES["encoder"]).is_file():
            return folder
    raise ModelsNotFoundError(
        f"{next(iter(spec.submodule_search_locations))}: face_recognition_models has no "
        f"models/{MODEL_FILES['encoder']}"
    )


def model_path(name: str) -> Path:
    """Return the path of one weight file, by its key in :data:`MODEL_FILES`."""
    path = models_dir() / MODEL_FILES[name]
    if not path.is_file():
        raise ModelsNotFoundError(f"{path}: model file missing")
    return path


@dataclass
class Models:
    """The dlib models of one process, each built on first use.

    dlib objects never leave :mod:`faceripper.detector` and :mod:`faceripper.encoder`,
    which are the only users of this class.
    """

    _cache: dict[str, Any]
    #: Where the CNN detector's network runs (:meth:`configure_cnn`).
    cnn_engine: str = "auto"
    cnn_device: str = "cpu"

    def configure_cnn(self, engine: str, device: str = "cpu") -> None:
        """Run the CNN detector of this process on ``engine`` / ``device`` from now on."""
        self.cnn_engine, self.cnn_device = engine, device

    def _get(self, key: str, build: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    @property
    def hog_detector(self) -> Any:
        import dlib

        return self._get("hog", dlib.get_frontal_face_detector)

    @property
    def cnn_detector(self) -> Any:
        import dlib

        return self._get(
            "cnn", lambda: dlib.cnn_face_detection_model_v1(str(model_path("cnn_detector")))
        )

    @property
    def cnn_network(self) -> Any:
        """The CNN detector on the configured engine (:mod:`faceripper.mmodnet`); None
        for dlib's own (``--engine dlib``). Built once per process and engine, one thread.
        """
        from faceripper.mmodnet import open_mmod_detector

        return self._converted("cnn_detector", open_mmod_detector, self.cnn_engine, self.cnn_device)

    def landmarks(self, model: LandmarkModel) -> Any:
        import dlib

        key = "landmarks_5" if model == "5" else "landmarks_68"
        return self._get(key, lambda: dlib.shape_predictor(str(model_path(key))))

    @property
    def encoder(self) -> Any:
        """dlib's own face recognition model (``--engine dlib``, and jitters above 1)."""
        import dlib

        return self._get(
            "encoder",
            lambda: dlib.face_recognition_model_v1(str(model_path("encoder"))),
        )

    def face_network(self, engine: str = "auto", device: str = "cpu") -> Any:
        """The face network on ``engine`` (:mod:`faceripper.engines`); None for dlib's own.

        Built once per process and ``(engine, device)``, with one thread.
        """
        from faceripper.engines import open_face_network

        return self._converted("encoder", open_face_network, engine, device)

    def _converted(self, name: str, open_network: Any, engine: str, device: str) -> Any:
        """The network of the weight file ``name`` opened on ``engine``, once per process;
        None where the engine is dlib's own."""

        def build() -> Any:
            from faceripper.engines import resolve_engine

            resolved = resolve_engine(engine, device)
            if resolved == "dlib":
                return None
            return open_network(model_path(name), resolved, device, threads=1)

        return self._get(f"{name}_network_{engine}_{device}", build)


@functools.cache
def get_models() -> Models:
    """Return this process's models (built lazily, once per process)."""
    return Models({})


def dlib_has_cuda() -> bool:
    """Whether the installed dlib was built with CUDA (``dlib.DLIB_USE_CUDA``)."""
    import dlib

    return bool(getattr(dlib, "DLIB_USE_CUDA", False))
