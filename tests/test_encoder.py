"""Tests of faceripper.detector, faceripper.encoder and faceripper.models.

The detector and encoder must give exactly face_recognition's numbers. face_recognition
is not installed here; its results for a few photos are stored in
``tests/data/face_recognition_reference.json`` by ``tests/data/make_reference_encodings.py``
(see that script for how to regenerate them).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceripper.detector import detect_faces
from faceripper.encoder import encode_faces, face_distances
from faceripper.errors import ModelsNotFoundError
from faceripper.images import load_rgb
from faceripper.models import MODEL_FILES, get_models, model_path, models_dir

REFERENCE = Path(__file__).resolve().parent / "data" / "face_recognition_reference.json"


def _fresh_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a new interpreter (nothing imported yet) and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------- face_recognition


def _reference_photos() -> list[dict]:
    return json.loads(REFERENCE.read_text(encoding="utf-8"))["photos"]


@pytest.fixture(scope="module", params=_reference_photos(), ids=lambda p: p["file"])
def reference_photo(request, testdata: Path) -> tuple[dict, np.ndarray]:
    """One photo recorded by face_recognition, and faceripper's view of its pixels."""
    photo = request.param
    path = testdata / photo["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == photo["sha256"], (
        f"{path} differs from the photo the reference was recorded from"
    )
    image = load_rgb(path)
    assert image.shape == tuple(photo["shape"])
    return photo, image


def test_detect_faces_equals_face_locations(reference_photo):
    photo, image = reference_photo
    boxes = detect_faces(image, upsample=1)
    assert boxes.dtype == np.int64
    assert boxes.tolist() == photo["locations"]


#: Largest difference to face_recognition's stored numbers, per engine: dlib's own path
#: is bit for bit; the converted network (float32, another summation order) is within
#: 1e-5 per component (measured: under 1e-6).
ENGINE_TOLERANCE = {"dlib": 1e-12, "onnxruntime": 1e-5, "opencv": 1e-5}


@pytest.mark.parametrize("engine", list(ENGINE_TOLERANCE))
@pytest.mark.parametrize(
    ("landmarks", "key"), [("5", "encodings_small"), ("68", "encodings_large")]
)
def test_encode_faces_equals_face_encodings(reference_photo, landmarks, key, engine):
    photo, image = reference_photo
    boxes = np.array(photo["locations"], dtype=np.int64)
    faces = encode_faces(image, boxes, landmark_model=landmarks, jitters=1, engine=engine)
    expected = np.array(photo[key], dtype=np.float64)
    assert faces.encodings.shape == expected.shape == (len(boxes), 128)
    assert faces.encodings.dtype == np.float64
    assert np.abs(faces.encodings - expected).max() <= ENGINE_TOLERANCE[engine]
    assert faces.landmarks_xy.shape == (len(boxes), int(landmarks), 2)
    assert faces.box_trbl.tolist() == photo["locations"]


def test_strided_view_gives_the_same_boxes_and_encodings(testdata: Path):
    rgb = load_rgb(testdata / "face_recognition" / "lin-manuel-miranda.png")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    view = bgr[:, :, ::-1]  # RGB again, but a negative-stride view
    assert not view.flags["C_CONTIGUOUS"]
    boxes = detect_faces(view)
    assert boxes.tolist() == detect_faces(rgb).tolist()
    assert len(boxes) == 1
    from_view = encode_faces(view, boxes)
    from_copy = encode_faces(rgb, boxes)
    assert np.array_equal(from_view.encodings, from_copy.encodings)
    assert np.array_equal(from_view.landmarks_xy, from_copy.landmarks_xy)


def test_encode_faces_without_boxes_gives_empty_arrays(testdata: Path):
    image = load_rgb(testdata / "face-api.js" / "amy" / "amy1.png")
    faces = encode_faces(image, np.zeros((0, 4), dtype=np.int64), landmark_model="68")
    assert len(faces) == 0
    assert faces.encodings.shape == (0, 128)
    assert faces.landmarks_xy.shape == (0, 68, 2)


def test_detect_faces_rejects_an_unknown_model():
    with pytest.raises(ValueError, match="unknown detector model 'mtcnn'"):
        detect_faces(np.zeros((10, 10, 3), dtype=np.uint8), model="mtcnn")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("encodings", "references", "expected"),
    [
        ([[0.0] * 128], [[0.0] * 128], [[0.0]]),
        ([[3.0, 4.0] + [0.0] * 126], [[0.0] * 128, [3.0, 0.0] + [0.0] * 126], [[5.0, 4.0]]),
        (np.zeros((0, 128)), [[0.0] * 128], np.zeros((0, 1))),
        ([[0.0] * 128], np.zeros((0, 128)), np.zeros((1, 0))),
    ],
)
def test_face_distances(encodings, references, expected):
    result = face_distances(np.asarray(encodings, float), np.asarray(references, float))
    assert result.shape == np.asarray(expected).shape
    assert np.allclose(result, expected)


# ---------------------------------------------------------------------------- models


def test_import_faceripper_is_fast_and_loads_no_heavy_module():
    out = _fresh_python(
        "import sys, time\n"
        "t = time.process_time()\n"  # CPU seconds: other jobs on the machine do not count
        "import faceripper\n"
        "print(time.process_time() - t)\n"
        "print(sorted(m for m in ('dlib', 'cv2', 'av', 'onnxruntime') if m in sys.modules))\n"
    )
    seconds, heavy = out.splitlines()
    assert float(seconds) < 1.0
    assert heavy == "[]"


@pytest.mark.parametrize(
    "module",
    [
        "faceripper.cli",
        "faceripper.config",
        "faceripper.references",
        "faceripper.encoder",
        "faceripper.engines",
        "faceripper.dlibnet",
    ],
)
def test_importing_a_module_does_not_import_dlib(module):
    out = _fresh_python(
        f"import sys, {module}\n"
        "print(sorted(m for m in ('dlib', 'cv2', 'av', 'onnxruntime') if m in sys.modules))\n"
    )
    assert out.strip() == "[]"


def test_models_load_lazily_in_a_fresh_process():
    out = _fresh_python(
        "import sys\n"
        "from faceripper.models import get_models\n"
        "models = get_models()\n"
        "print('dlib' in sys.modules, sorted(models._cache))\n"
        "models.hog_detector\n"
        "print('dlib' in sys.modules, sorted(models._cache))\n"
        "models.landmarks('5')\n"
        "print(sorted(models._cache))\n"
    )
    assert out.splitlines() == [
        "False []",
        "True ['hog']",
        "['hog', 'landmarks_5']",
    ]


def test_models_are_built_once_per_process():
    models = get_models()
    assert get_models() is models
    assert models.hog_detector is get_models().hog_detector
    assert models.landmarks("5") is get_models().landmarks("5")
    assert models.landmarks("68") is get_models().landmarks("68")
    assert models.landmarks("5") is not models.landmarks("68")
    assert models.encoder is get_models().encoder
    network = models.face_network("onnxruntime", "cpu")
    assert network is get_models().face_network("onnxruntime", "cpu")
    assert network.name == "onnxruntime"
    assert models.face_network("dlib", "cpu") is None


def test_models_dir_does_not_import_face_recognition_models():
    out = _fresh_python(
        "import sys\n"
        "from faceripper.models import models_dir\n"
        "folder = models_dir()\n"
        "print(folder)\n"
        "print('face_recognition_models' in sys.modules, 'pkg_resources' in sys.modules)\n",
        env={"FACERIPPER_MODELS_DIR": ""},
    )
    folder, imported = out.splitlines()
    assert imported == "False False"
    for name in MODEL_FILES.values():
        assert (Path(folder) / name).is_file()


def test_models_dir_override_with_the_weights(monkeypatch, tmp_path: Path):
    real = models_dir()
    link = tmp_path / "weights"
    link.symlink_to(real, target_is_directory=True)
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(link))
    assert models_dir() == link
    assert model_path("landmarks_68") == link / MODEL_FILES["landmarks_68"]


def test_models_dir_override_pointing_to_an_empty_folder(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelsNotFoundError) as caught:
        models_dir()
    assert str(caught.value) == (
        f"{tmp_path}: FACERIPPER_MODELS_DIR holds no dlib_face_recognition_resnet_model_v1.dat"
    )
    assert caught.value.exit_code == 2


def test_model_path_names_a_missing_weight_file(monkeypatch, tmp_path: Path):
    (tmp_path / MODEL_FILES["encoder"]).write_bytes(b"")
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelsNotFoundError) as caught:
        model_path("cnn_detector")
    assert str(caught.value) == f"{tmp_path / 'mmod_human_face_detector.dat'}: model file missing"
