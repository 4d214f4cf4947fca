"""Tests of faceripper.engines: the converted face network against dlib's own, on real faces.

Parity: on 60 real faces (Labeled Faces in the Wild, 24 people, test data ``lfw_dev``)
the encodings of onnxruntime and OpenCV are within 1e-5 of dlib's, per component, and
no match decision between two of those faces changes at the tolerances used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceripper import engines
from faceripper.detector import detect_faces
from faceripper.encoder import encode_faces, face_chips, face_distances
from faceripper.engines import (
    cache_dir,
    cached_onnx_path,
    convert_cached,
    open_face_network,
    resolve_engine,
)
from faceripper.errors import EngineUnavailableError, ModelFormatError, UsageError
from faceripper.images import load_rgb
from faceripper.models import MODEL_FILES, Models, model_path, models_dir

from conftest import run_cli

#: Largest difference of a component to dlib's own encoding.
PARITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def lfw_faces(testdata: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """60 faces: (person, image, box) for 2-3 photos of each of lfw_dev's 24 people."""
    faces = []
    people = sorted(p for p in (testdata / "lfw_dev").iterdir() if len(list(p.iterdir())) > 1)
    for folder in people:
        for photo in sorted(folder.iterdir())[:3]:
            image = load_rgb(photo)
            boxes = detect_faces(image, upsample=1)
            if len(boxes):
                faces.append((folder.name, image, boxes[:1]))
            if len(faces) >= 60:
                return faces
    return faces


@pytest.fixture(scope="module")
def dlib_encodings(lfw_faces) -> np.ndarray:
    return np.concatenate(
        [encode_faces(image, box, engine="dlib").encodings for _, image, box in lfw_faces]
    )


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv"])
def test_engine_equals_dlib_on_real_faces(lfw_faces, dlib_encodings, engine):
    assert len(lfw_faces) >= 50
    assert len({person for person, _, _ in lfw_faces}) >= 20
    ours = np.concatenate(
        [encode_faces(image, box, engine=engine).encodings for _, image, box in lfw_faces]
    )
    assert ours.shape == dlib_encodings.shape
    assert np.abs(ours - dlib_encodings).max() <= PARITY_TOLERANCE
    # No match decision changes: every pair's distance on the same side of a tolerance.
    theirs = face_distances(dlib_encodings, dlib_encodings)
    mine = face_distances(ours, ours)
    assert np.abs(mine - theirs).max() <= PARITY_TOLERANCE
    for tolerance in (0.325, 0.4, 0.5, 0.6):
        assert np.array_equal(mine <= tolerance, theirs <= tolerance)
    # ... and the tests can fail: different people are far apart, the same one near.
    person = np.array([p for p, _, _ in lfw_faces])
    same = person[:, None] == person[None, :]
    assert np.median(mine[~same]) > 0.6 > np.median(mine[same & ~np.eye(len(person), dtype=bool)])


def test_a_batch_equals_faces_one_at_a_time(testdata: Path):
    image = load_rgb(testdata / "face-api.js" / "bbt4.jpg")
    boxes = detect_faces(image, upsample=1)
    assert len(boxes) == 6
    batch = encode_faces(image, boxes, engine="onnxruntime").encodings
    alone = np.concatenate(
        [encode_faces(image, boxes[i : i + 1], engine="onnxruntime").encodings for i in range(6)]
    )
    assert np.abs(batch - alone).max() <= 1e-6
    dlib = encode_faces(image, boxes, engine="dlib").encodings
    assert np.abs(batch - dlib).max() <= PARITY_TOLERANCE


def test_only_the_faces_asked_for_are_encoded(testdata: Path):
    image = load_rgb(testdata / "face-api.js" / "bbt4.jpg")
    boxes = detect_faces(image, upsample=1)
    wanted = np.array([True, False, True, False, False, True])
    faces = encode_faces(image, boxes, encode=wanted, engine="onnxruntime")
    assert np.isnan(faces.encodings[~wanted]).all()
    everything = encode_faces(image, boxes, engine="onnxruntime")
    assert np.abs(faces.encodings[wanted] - everything.encodings[wanted]).max() <= 1e-6
    none = encode_faces(image, boxes, encode=np.zeros(6, bool), engine="onnxruntime")
    assert np.isnan(none.encodings).all()
    assert np.array_equal(none.landmarks_xy, everything.landmarks_xy)


def test_face_chips_are_the_chips_dlib_encodes(testdata: Path):
    import dlib

    from faceripper.models import get_models

    image = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "test" / "obama_and_biden.jpg"
    )
    boxes = detect_faces(image, upsample=1)
    predictor = get_models().landmarks("5")
    shapes = [
        predictor(image, dlib.rectangle(int(x0), int(y0), int(x1), int(y1)))
        for y0, x1, y1, x0 in boxes
    ]
    chips = face_chips(image, shapes)
    assert chips.shape == (len(boxes), 150, 150, 3)
    assert chips.dtype == np.uint8
    for chip, shape in zip(chips, shapes, strict=True):
        assert np.array_equal(chip, dlib.get_face_chip(image, shape, 150, 0.25))


def test_jitters_above_one_use_dlibs_own_path():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import numpy as np\n"
            "from faceripper.images import load_rgb\n"
            "from faceripper.detector import detect_faces\n"
            "from faceripper.encoder import encode_faces\n"
            "from faceripper.models import get_models\n"
            f"image = load_rgb({str(_photo())!r})\n"
            "encode_faces(image, detect_faces(image), jitters=2, engine='onnxruntime')\n"
            "print(sorted(get_models()._cache))\n",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == "['encoder', 'hog', 'landmarks_5']"


def _photo() -> Path:
    folder = Path(
        os.environ.get("FACERIPPER_TESTDATA") or Path(__file__).parents[2] / "shared" / "testdata"
    )
    return folder / "face_recognition" / "lin-manuel-miranda.png"


# ---------------------------------------------------------------------------- engine choice


def test_resolve_engine_auto_prefers_onnxruntime(monkeypatch):
    pytest.importorskip("onnxruntime")
    assert resolve_engine("auto") == "onnxruntime"
    monkeypatch.setattr(engines, "onnxruntime_installed", lambda: False)
    assert resolve_engine("auto") == "opencv"
    with pytest.raises(EngineUnavailableError, match="onnxruntime is not installed"):
        resolve_engine("onnxruntime")
    with pytest.raises(EngineUnavailableError, match="needs onnxruntime-gpu"):
        resolve_engine("auto", "cuda")


@pytest.mark.parametrize("engine", ["onnxruntime", "opencv", "dlib"])
def test_resolve_engine_keeps_an_explicit_choice(engine):
    assert resolve_engine(engine) == engine


@pytest.mark.parametrize(
    ("engine", "device", "message"),
    [
        (
            "tensorrt",
            "cpu",
            "unknown engine 'tensorrt': use one of auto, onnxruntime, opencv, dlib",
        ),
        ("auto", "tpu", "unknown device 'tpu': use cpu or cuda"),
        ("opencv", "cuda", "--device cuda needs --engine onnxruntime (or auto), not opencv"),
    ],
)
def test_resolve_engine_refuses_what_cannot_work(engine, device, message):
    with pytest.raises(UsageError) as caught:
        resolve_engine(engine, device)
    assert str(caught.value) == message


def test_cuda_without_the_cuda_provider_is_a_clear_error():
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    with pytest.raises(EngineUnavailableError) as caught:
        resolve_engine("auto", "cuda")
    assert str(caught.value).startswith(
        "--device cuda: onnxruntime has no CUDAExecutionProvider (install onnxruntime-gpu"
    )
    with pytest.raises(EngineUnavailableError):
        Models({}).face_network("onnxruntime", "cuda")


# ---------------------------------------------------------------------------- cache


def test_conversion_is_cached_on_disk(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FACERIPPER_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
    dat = model_path("encoder")
    path = cached_onnx_path(dat)
    assert path.parent == tmp_path / "cache" and not path.exists()
    first = convert_cached(dat)
    assert path.read_bytes() == first
    stamp = path.stat().st_mtime_ns
    assert convert_cached(dat) == first
    assert path.stat().st_mtime_ns == stamp  # read, not converted again


def test_a_damaged_cache_file_is_converted_again(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("FACERIPPER_CACHE_DIR", str(tmp_path))
    dat = model_path("encoder")
    cached_onnx_path(dat).write_bytes(b"\x08\x07garbage")
    network = open_face_network(dat, "onnxruntime")
    assert network.descriptors(np.zeros((1, 150, 150, 3), np.uint8)).shape == (1, 128)
    assert cached_onnx_path(dat).stat().st_size > 20_000_000


def test_an_unwritable_cache_converts_in_memory(monkeypatch, tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("FACERIPPER_CACHE_DIR", str(blocker / "cache"))
    network = open_face_network(model_path("encoder"), "opencv")
    assert network.descriptors(np.zeros((2, 150, 150, 3), np.uint8)).shape == (2, 128)


def test_a_wrong_model_file_fails_clearly_and_caches_nothing(monkeypatch, tmp_path: Path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for key, name in MODEL_FILES.items():
        if key != "encoder":
            (weights / name).symlink_to(models_dir() / name)
    (weights / MODEL_FILES["encoder"]).symlink_to(models_dir() / MODEL_FILES["landmarks_5"])
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(weights))
    monkeypatch.setenv("FACERIPPER_CACHE_DIR", str(tmp_path / "cache"))
    for engine in ("onnxruntime", "opencv"):
        with pytest.raises(ModelFormatError) as caught:
            Models({}).face_network(engine)
        assert str(caught.value).startswith(
            f"{weights / MODEL_FILES['encoder']}: not dlib's face recognition ResNet"
        )
    assert not (tmp_path / "cache").exists()


# ---------------------------------------------------------------------------- command line


@pytest.fixture
def two_refs(testdata: Path, tmp_path: Path) -> Path:
    refs = tmp_path / "refs"
    for person in ("amy", "raj"):
        (refs / person).mkdir(parents=True)
        (refs / person / f"{person}1.png").symlink_to(
            testdata / "face-api.js" / person / f"{person}1.png"
        )
    return refs


@pytest.mark.parametrize("command", ["encode", "check-refs"])
def test_engine_option_reaches_the_encodings(two_refs: Path, tmp_path: Path, command: str):
    cache = tmp_path / "refs.npz"
    result = run_cli(
        [command, "--refs", str(two_refs), "-o", str(cache), "-j", "1", "--engine", "dlib"]
    )
    assert result.exit_code == 0, result.stderr
    with np.load(cache, allow_pickle=False) as data:
        assert data["file_engine"].tolist() == ["dlib", "dlib"]


def test_device_cuda_without_onnxruntime_gpu_is_one_line(two_refs: Path, tmp_path: Path):
    onnxruntime = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime-gpu is installed here")
    cache = tmp_path / "refs.npz"
    result = run_cli(["encode", "--refs", str(two_refs), "-o", str(cache), "--device", "cuda"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --device cuda: onnxruntime has no CUDAExecutionProvider"
    )
    assert len(result.stderr.splitlines()) == 1
    assert not cache.exists()


def test_a_truncated_model_file_stops_the_command(two_refs: Path, tmp_path: Path, monkeypatch):
    weights = tmp_path / "weights"
    weights.mkdir()
    for key, name in MODEL_FILES.items():
        if key != "encoder":
            (weights / name).symlink_to(models_dir() / name)
    bad = weights / MODEL_FILES["encoder"]
    bad.write_bytes(model_path("encoder").read_bytes()[:1_000_000])
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(weights))
    monkeypatch.setenv("FACERIPPER_CACHE_DIR", str(tmp_path / "cache"))
    cache = tmp_path / "refs.npz"
    result = run_cli(["encode", "--refs", str(two_refs), "-o", str(cache)])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {bad}: not dlib's face recognition ResNet "
        "(dlib_face_recognition_resnet_model_v1): the file ends too early (truncated?)"
    )
    assert len(result.stderr.splitlines()) == 1
    assert not cache.exists()
