"""Tests of faceripper.references: encoding reference photos and the ``.npz`` cache.

Real models on real photos of the shared test data (read in place; anything derived
from them is written under pytest's tmp_path). The expensive encodings are shared:
face-api.js (40 photos) and the unusual-photo set are encoded once per module.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from faceripper import references
from faceripper._version import __version__
from faceripper.config import config_from_refs
from faceripper.errors import UsageError
from faceripper.images import load_rgb
from faceripper.references import (
    CACHE_FORMAT,
    EncodeSettings,
    default_cache_path,
    encode_references,
    load_cache,
)
from faceripper.refphoto import encode_reference_file
from faceripper.words import counted as n_of

from conftest import run_cli

FACE_API_PEOPLE = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]
REFERENCE_JSON = Path(__file__).resolve().parent / "data" / "face_recognition_reference.json"

ROW_KEYS = {"encodings", "person", "label", "group", "source", "box_trbl", "views"}
FILE_KEYS = {
    "file_path",
    "file_person",
    "file_status",
    "file_faces",
    "file_message",
    "file_size",
    "file_mtime_ns",
    "file_sha256",
    "file_engine",
    "file_found_by",
}
SETTING_KEYS = {
    "format",
    "format_version",
    "faceripper_version",
    "detector",
    "jitters",
    "landmarks",
    "upsample",
    "fallback",
    "tight",
    "view",
}


def text_lines(stream: str) -> list[str]:
    """Non-blank lines (the progress bar leaves an empty line on a non-terminal)."""
    return [line for line in stream.splitlines() if line.strip()]


def summary(cache: Path, n: int, people: int, encoded: int, unchanged: int, removed: int) -> str:
    return (
        f"{cache}: {n_of(n, 'encoding')} of {n_of(people, 'person', 'people')} "
        f"({n_of(encoded, 'photo')} encoded, {unchanged} unchanged, {removed} removed)\n"
    )


def read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ---------------------------------------------------------------------------- face-api.js


@pytest.fixture(scope="module")
def face_api(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """face-api.js's 8 people x 5 photos encoded once, through the CLI with one worker."""
    refs = testdata / "face-api.js"
    cache = tmp_path_factory.mktemp("faceapi") / "refs.npz"
    result = run_cli(["encode", "--refs", str(refs), "-o", str(cache), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    config, _ = config_from_refs(refs)
    return SimpleNamespace(refs=refs, cache=cache, result=result, config=config)


def test_face_api_js_gives_40_encodings_of_8_people(face_api):
    assert face_api.result.stdout == summary(face_api.cache, 40, 8, 40, 0, 0)
    assert text_lines(face_api.result.stderr) == []
    assert not (face_api.refs / ".faceripper-encodings.npz").exists()  # -o was honoured
    report = encode_references(face_api.config, face_api.cache)
    refs = report.references
    assert len(refs) == 40
    assert refs.person.tolist() == [p for p in FACE_API_PEOPLE for _ in range(5)]
    assert refs.label.tolist() == refs.person.tolist()
    assert [Path(s).name for s in refs.source] == [
        f"{p}{i}.png" for p in FACE_API_PEOPLE for i in range(1, 6)
    ]
    assert {f.status for f in refs.files} == {"ok"}
    assert all(f.faces == 1 and f.message == "" for f in refs.files)


def test_npz_is_plain_numpy_with_the_documented_keys(face_api):
    data = read_npz(face_api.cache)
    assert set(data) == ROW_KEYS | FILE_KEYS | SETTING_KEYS
    assert not [k for k, v in data.items() if v.dtype == object]
    assert data["encodings"].shape == (40, 128)
    assert data["encodings"].dtype == np.float64
    assert np.isfinite(data["encodings"]).all()
    assert len(np.unique(data["encodings"], axis=0)) == 40
    for key in ("person", "label", "group", "source"):
        assert data[key].shape == (40,), key
        assert data[key].dtype.kind == "U", key
    assert data["box_trbl"].shape == (40, 4)
    assert data["box_trbl"].dtype == np.int64
    assert data["views"].shape == (40, 128) and data["views"].dtype == np.float64
    # face-api.js's photos are tight crops: their second view is the other tight-crop
    # encoding (black beyond the photo), near the first but not the same.
    apart = np.linalg.norm(data["views"] - data["encodings"], axis=1)
    assert np.isfinite(data["views"]).all() and (apart > 0.01).all() and (apart < 0.4).all()
    for key in FILE_KEYS:
        assert data[key].shape == (40,), key
    assert data["file_status"].tolist() == ["ok"] * 40
    assert data["file_size"].tolist() == [Path(p).stat().st_size for p in data["file_path"]]
    assert all(len(h) == 64 for h in data["file_sha256"].tolist())
    assert data["source"].tolist() == [
        str((face_api.refs / p / f"{p}{i}.png").resolve())
        for p in FACE_API_PEOPLE
        for i in range(1, 6)
    ]
    settings = {key: data[key].item() for key in SETTING_KEYS}
    assert settings == {
        "format": CACHE_FORMAT,
        "format_version": 1,
        "faceripper_version": __version__,
        "detector": "hog",
        "jitters": 1,
        "landmarks": "5",
        "upsample": 1,
        "fallback": "pad 0 upsample 0; pad 0.5 upsample 1; pad 0.5 upsample 0; "
        "pad 0.25 upsample 1; pad 0.25 upsample 0",
        "tight": "chip beyond the photo: mirrored out 0.5, averaged with its mirror image",
        "view": "the face alone as a tight crop, mirrored out, averaged with its mirror image; "
        "a tight crop: the other tight-crop encoding",
    }
    assert data["file_found_by"].tolist() == [""] * 40  # face-api.js crops: HOG finds them


def test_rerun_encodes_and_hashes_nothing(face_api, tmp_path, monkeypatch):
    cache = tmp_path / "refs.npz"
    shutil.copy2(face_api.cache, cache)
    before = cache.stat().st_mtime_ns

    def no_hashing(path):
        raise AssertionError(f"{path} hashed although its size and mtime are unchanged")

    monkeypatch.setattr(references, "file_state", no_hashing)
    result = run_cli(["encode", "--refs", str(face_api.refs), "-o", str(cache), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(cache, 40, 8, 0, 40, 0)
    assert text_lines(result.stderr) == []
    assert cache.stat().st_mtime_ns == before  # not rewritten


def test_threads_2_gives_identical_encodings(face_api, tmp_path):
    """Three of the people (15 photos) with two workers equal their rows with one worker."""
    people = ["howard", "penny", "stuart"]
    config = tmp_path / "three.json"
    config.write_text(
        json.dumps({p: {"label": p, "faces_dir": str(face_api.refs / p)} for p in people}),
        encoding="utf-8",
    )
    cache = tmp_path / "two.npz"
    result = run_cli(["encode", "-c", str(config), "-o", str(cache), "--threads", "2"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(cache, 15, 3, 15, 0, 0)
    one, two = read_npz(face_api.cache), read_npz(cache)
    rows = np.isin(one["person"], people)
    for key in ROW_KEYS:
        assert np.array_equal(one[key][rows], two[key]), key
    files = np.isin(one["file_person"], people)
    for key in FILE_KEYS:
        assert np.array_equal(one[key][files], two[key]), key


# ---------------------------------------------------------------------------- a small copy


@pytest.fixture
def small(testdata: Path, tmp_path: Path) -> SimpleNamespace:
    """amy1, amy2 and raj1 copied into tmp_path/refs and encoded once."""
    refs = tmp_path / "refs"
    for person, numbers in (("amy", (1, 2)), ("raj", (1,))):
        (refs / person).mkdir(parents=True)
        for i in numbers:
            shutil.copy(testdata / "face-api.js" / person / f"{person}{i}.png", refs / person)
    cache = tmp_path / "cache.npz"
    config, _ = config_from_refs(refs)
    first = encode_references(config, cache)
    assert (first.encoded, first.reused, first.dropped) == (3, 0, 0)
    return SimpleNamespace(
        refs=refs, cache=cache, config=config, first=first, testdata=testdata, tmp=tmp_path
    )


def _run(small: SimpleNamespace, settings: EncodeSettings | None = None):
    config, _ = config_from_refs(small.refs)  # the folders may have changed
    return encode_references(config, small.cache, settings)


def _cli(small: SimpleNamespace, *args: str):
    return run_cli(["encode", "--refs", str(small.refs), "-o", str(small.cache), "-j", "1", *args])


def _by_name(report) -> dict[str, np.ndarray]:
    refs = report.references
    return {Path(s).name: e for s, e in zip(refs.source, refs.encodings, strict=True)}


@pytest.fixture
def counted(monkeypatch) -> dict[str, list[str]]:
    """Records which files are hashed and which are encoded."""
    calls: dict[str, list[str]] = {"hashed": [], "encoded": []}
    real_state, real_encode = references.file_state, references.encode_reference_file

    def file_state(path):
        calls["hashed"].append(Path(path).name)
        return real_state(path)

    def encode(path, *args, **kwargs):
        calls["encoded"].append(Path(path).name)
        return real_encode(path, *args, **kwargs)

    monkeypatch.setattr(references, "file_state", file_state)
    monkeypatch.setattr(references, "encode_reference_file", encode)
    return calls


def test_touched_file_is_rehashed_once_but_not_reencoded(small, counted):
    photo = small.refs / "amy" / "amy1.png"
    stat = photo.stat()
    os.utime(photo, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    report = _run(small)
    assert (report.encoded, report.reused, report.dropped) == (0, 3, 0)
    assert counted == {"hashed": ["amy1.png"], "encoded": []}
    assert np.array_equal(report.references.encodings, small.first.references.encodings)
    stored = read_npz(small.cache)
    row = stored["file_path"].tolist().index(str(photo))
    assert stored["file_mtime_ns"][row] == photo.stat().st_mtime_ns  # new mtime kept

    counted["hashed"].clear()
    again = _run(small)
    assert (again.encoded, again.reused) == (0, 3)
    assert counted == {"hashed": [], "encoded": []}  # the new mtime is remembered


def test_changed_content_reencodes_only_that_file(small, counted):
    photo = small.refs / "amy" / "amy1.png"
    with Image.open(photo) as image:
        # darker (a mirror image would not do: a tight crop such as amy1 is encoded
        # averaged with its mirror image, so its mirror image encodes the same)
        image.convert("RGB").point(lambda v: int(v * 0.8)).save(photo)
    report = _run(small)
    assert (report.encoded, report.reused, report.dropped) == (1, 2, 0)
    assert counted["encoded"] == ["amy1.png"]
    before, after = _by_name(small.first), _by_name(report)
    assert np.array_equal(after["amy2.png"], before["amy2.png"])
    assert np.array_equal(after["raj1.png"], before["raj1.png"])
    assert not np.array_equal(after["amy1.png"], before["amy1.png"])
    fresh = encode_reference_file(photo.resolve(), "amy", EncodeSettings())
    assert np.array_equal(after["amy1.png"], fresh.encoding)
    assert np.array_equal(read_npz(small.cache)["encodings"], report.references.encodings)


def test_added_photo_is_the_only_one_encoded(small, counted):
    shutil.copy(small.testdata / "face-api.js" / "raj" / "raj2.png", small.refs / "raj")
    shutil.copy(small.testdata / "face-api.js" / "amy" / "amy3.png", small.refs / "amy")
    result = _cli(small)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(small.cache, 5, 2, 2, 3, 0)
    assert sorted(counted["encoded"]) == ["amy3.png", "raj2.png"]
    stored = read_npz(small.cache)
    assert [Path(s).name for s in stored["source"]] == [
        "amy1.png",
        "amy2.png",
        "amy3.png",
        "raj1.png",
        "raj2.png",
    ]
    assert np.array_equal(stored["encodings"][[0, 1, 3]], small.first.references.encodings)


def test_removed_photo_is_dropped(small, counted):
    (small.refs / "amy" / "amy2.png").unlink()
    result = _cli(small)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(small.cache, 2, 2, 0, 2, 1)
    assert counted["encoded"] == []
    stored = read_npz(small.cache)
    assert [Path(s).name for s in stored["source"]] == ["amy1.png", "raj1.png"]
    assert [Path(s).name for s in stored["file_path"]] == ["amy1.png", "raj1.png"]
    assert np.array_equal(stored["encodings"], small.first.references.encodings[[0, 2]])


def test_another_engine_reuses_the_cache_and_dlib_reencodes(small, counted):
    onnx = small.first.references.encodings
    assert read_npz(small.cache)["file_engine"].tolist() == ["onnxruntime"] * 3
    report = _run(small, EncodeSettings(engine="opencv"))
    assert (report.encoded, report.reused) == (0, 3)
    assert np.array_equal(report.references.encodings, onnx)  # the reference hash stays

    dlib = _run(small, EncodeSettings(engine="dlib"))  # bit for bit: dlib's own numbers
    assert (dlib.encoded, dlib.reused) == (3, 0)
    assert read_npz(small.cache)["file_engine"].tolist() == ["dlib"] * 3
    assert 0 < np.abs(dlib.references.encodings - onnx).max() <= 1e-5

    counted["encoded"].clear()
    again = _run(small)  # auto (onnxruntime) keeps dlib's encodings
    assert (again.encoded, again.reused) == (0, 3)
    assert counted["encoded"] == []
    assert np.array_equal(again.references.encodings, dlib.references.encodings)
    assert read_npz(small.cache)["file_engine"].tolist() == ["dlib"] * 3


def test_a_cache_from_before_engines_holds_dlibs_encodings(small, counted):
    _run(small, EncodeSettings(engine="dlib"))
    stored = read_npz(small.cache)
    del stored["file_engine"]
    with small.cache.open("wb") as stream:
        np.savez(stream, **stored)
    for engine in ("dlib", "auto"):
        report = _run(small, EncodeSettings(engine=engine))
        assert (report.encoded, report.reused) == (0, 3)
    assert {r.engine for r in load_cache(small.cache, EncodeSettings()).values()} == {"dlib"}


def test_removed_person_is_dropped(small):
    shutil.rmtree(small.refs / "raj")
    report = _run(small)
    assert (report.encoded, report.reused, report.dropped) == (0, 2, 1)
    assert read_npz(small.cache)["person"].tolist() == ["amy", "amy"]


@pytest.mark.parametrize(
    ("args", "settings", "why", "back"),
    [
        (["--jitters", "2"], {"jitters": 2}, "jitters 1 -> 2", "jitters 2 -> 1"),
        (["--landmarks", "68"], {"landmarks": "68"}, "landmarks 5 -> 68", "landmarks 68 -> 5"),
    ],
)
def test_changed_settings_reencode_everything_and_say_why(
    small, counted, args, settings, why, back
):
    result = _cli(small, *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(small.cache, 3, 2, 3, 0, 0)
    assert text_lines(result.stderr) == [
        f"warning: rebuilt the encodings cache: settings changed ({why})"
    ]
    assert sorted(counted["encoded"]) == ["amy1.png", "amy2.png", "raj1.png"]
    stored = read_npz(small.cache)
    for key, value in settings.items():
        assert str(stored[key]) == str(value)
    assert not np.array_equal(stored["encodings"], small.first.references.encodings)
    # and back: the report of the library call says why too
    report = _run(small)
    assert report.rebuilt_reason == f"settings changed ({back})"
    assert report.encoded == 3
    assert np.array_equal(report.references.encodings, small.first.references.encodings)


def test_jitters_0_and_1_share_the_cache(small, counted):
    assert EncodeSettings(jitters=0) == EncodeSettings(jitters=1)
    report = _run(small, EncodeSettings(jitters=0))
    assert (report.encoded, report.reused, report.rebuilt_reason) == (0, 3, "")
    result = _cli(small, "--jitters", "0")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == summary(small.cache, 3, 2, 0, 3, 0)
    assert counted["encoded"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"jitters": -1}, "--jitters must be 0 or more, got -1"),
        ({"landmarks": "81"}, "unknown landmark model '81': use 5 or 68"),
        ({"detector": "mtcnn"}, "unknown detector model 'mtcnn': use hog or cnn"),
    ],
)
def test_bad_settings(kwargs, message):
    with pytest.raises(UsageError) as caught:
        EncodeSettings(**kwargs)
    assert str(caught.value) == message


class Trap:
    """Unpickling this creates a folder: proof that a cache was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _corrupt(kind: str, cache: Path, marker: Path) -> None:
    if kind == "random bytes":
        cache.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif kind == "foreign":
        np.savez(cache, weights=np.arange(10.0), names=np.array(["a", "b"]))
    elif kind == "object array":
        arrays = read_npz(cache)
        arrays["person"] = np.array([Trap(marker)] * len(arrays["person"]), dtype=object)
        with cache.open("wb") as stream:
            np.savez(stream, **arrays)  # pickles the object array
    elif kind == "wrong shape":
        arrays = read_npz(cache)
        arrays["encodings"] = arrays["encodings"][:, :64]
        with cache.open("wb") as stream:
            np.savez(stream, **arrays)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("random bytes", "not a .npz file"),
        ("truncated", "unreadable cache (BadZipFile: "),
        ("foreign", "not a valid faceripper encodings cache ('format')"),
        ("object array", "holds pickled arrays, never loaded"),
        ("wrong shape", "encodings have shape (3, 64)"),
    ],
)
def test_damaged_cache_is_reported_and_rebuilt_never_trusted(small, counted, kind, why):
    marker = small.tmp / "unpickled"
    _corrupt(kind, small.cache, marker)
    result = _cli(small)
    assert result.exit_code == 0, result.stderr
    assert not marker.exists(), "the cache was unpickled"
    assert result.stdout == summary(small.cache, 3, 2, 3, 0, 0)
    (line,) = text_lines(result.stderr)
    assert line.startswith(f"warning: rebuilt the encodings cache: {small.cache}: {why}")
    assert "allow_pickle" not in line
    assert sorted(counted["encoded"]) == ["amy1.png", "amy2.png", "raj1.png"]
    stored = read_npz(small.cache)
    assert str(stored["format"]) == CACHE_FORMAT
    assert np.array_equal(stored["encodings"], small.first.references.encodings)
    assert load_cache(small.cache, EncodeSettings()).keys() == {
        (str((small.refs / p).resolve()), p.split("/")[0])
        for p in ("amy/amy1.png", "amy/amy2.png", "raj/raj1.png")
    }


def test_default_cache_paths(tmp_path):
    from faceripper.config import Config

    assert default_cache_path(Config((), tmp_path / "people.json")) == (
        tmp_path / "people.encodings.npz"
    )
    assert default_cache_path(Config((), tmp_path)) == tmp_path / ".faceripper-encodings.npz"


# ---------------------------------------------------------------------------- unusual photos


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.fixture(scope="module")
def photos(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Unusual reference photos made from real ones, encoded once through the CLI."""
    base = tmp_path_factory.mktemp("photos")
    refs = base / "refs"
    lin = refs / "lin"
    lin.mkdir(parents=True)
    shutil.copy(testdata / "face_recognition" / "lin-manuel-miranda.png", lin / "rgba.png")
    with Image.open(lin / "rgba.png") as opened:
        assert opened.mode == "RGBA"
        rgb = opened.convert("RGB")
    rgb.save(lin / "rgb.png")
    # stored pixels turned, EXIF saying how to turn them upright: the upright view is rgb
    rgb.transpose(Image.Transpose.ROTATE_90).save(lin / "exif6.jpg", exif=_exif(6), quality=95)
    rgb.transpose(Image.Transpose.ROTATE_270).save(lin / "exif8.jpg", exif=_exif(8), quality=95)
    rgb.transpose(Image.Transpose.ROTATE_90).save(lin / "exif6.png", exif=_exif(6))
    rgb.transpose(Image.Transpose.ROTATE_90).save(lin / "turned.jpg", quality=95)  # no EXIF
    gray = rgb.convert("L")
    gray.save(lin / "gray.png")
    Image.fromarray(np.asarray(gray).astype(np.uint16) * 257).save(lin / "gray16.png")
    rgb.convert("P").save(lin / "palette.png")

    odd = refs / "odd"
    odd.mkdir()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(odd / "flat.png")
    several = testdata / "face_recognition" / "knn_examples" / "test" / "obama_and_biden.jpg"
    shutil.copy(several, odd / "several.jpg")
    jpeg = (testdata / "face_recognition" / "obama3.jpg").read_bytes()
    (odd / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (odd / "zero.jpg").write_bytes(b"")
    (odd / "text.jpg").write_text("not a photo\n", encoding="utf-8")
    (odd / "notes.txt").write_text("photos from the 2019 tour\n", encoding="utf-8")

    cache = base / "cache.npz"
    result = run_cli(["encode", "--refs", str(refs), "-o", str(cache), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    config, _ = config_from_refs(refs)
    report = encode_references(config, cache)
    assert report.encoded == 0
    files = {f.path.name: f for f in report.references.files}
    return SimpleNamespace(refs=refs, cache=cache, result=result, files=files)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def test_photo_set_summary(photos):
    # 8 usable photos of lin (turned.jpg has no face) + several.jpg; 15 files in all
    assert photos.result.stdout == summary(photos.cache, 9, 2, 15, 0, 0)


@pytest.mark.parametrize("name", ["exif6.jpg", "exif8.jpg", "exif6.png"])
def test_exif_orientation_is_honoured(photos, name):
    upright = photos.files["rgb.png"]
    turned = photos.files[name]
    assert turned.status == "ok", turned.message
    assert turned.box_trbl == upright.box_trbl  # in upright pixels
    assert _distance(turned.encoding, upright.encoding) < 0.1


def test_lossless_exif_rotation_gives_the_same_encoding(photos):
    assert np.array_equal(photos.files["exif6.png"].encoding, photos.files["rgb.png"].encoding)


def test_turned_photo_without_exif_shows_no_face(photos):
    # the control for the EXIF tests: turned pixels alone hide the face from HOG
    assert photos.files["turned.jpg"].status == "no_face"


@pytest.mark.parametrize("name", ["rgba.png", "gray.png", "gray16.png", "palette.png"])
def test_image_modes_encode(photos, name):
    result = photos.files[name]
    assert result.status == "ok", result.message
    assert result.faces == 1
    assert result.box_trbl == photos.files["rgb.png"].box_trbl


def test_alpha_is_dropped(photos):
    assert np.array_equal(photos.files["rgba.png"].encoding, photos.files["rgb.png"].encoding)


def test_16_bit_grayscale_is_scaled_not_clipped(photos):
    with Image.open(photos.refs / "lin" / "gray16.png") as image:
        assert image.mode == "I;16"
    assert np.array_equal(photos.files["gray16.png"].encoding, photos.files["gray.png"].encoding)


def test_palette_is_close_to_the_original(photos):
    assert _distance(photos.files["palette.png"].encoding, photos.files["rgb.png"].encoding) < 0.1


def test_several_faces_use_the_largest(photos):
    result = photos.files["several.jpg"]
    reference = next(
        p
        for p in json.loads(REFERENCE_JSON.read_text(encoding="utf-8"))["photos"]
        if p["file"].endswith("obama_and_biden.jpg")
    )
    boxes = np.array(reference["locations"])
    areas = (boxes[:, 1] - boxes[:, 3]) * (boxes[:, 2] - boxes[:, 0])
    largest = int(np.argmax(areas))
    assert sorted(areas.tolist())[-1] > sorted(areas.tolist())[-2]  # one clear largest
    assert result.status == "several_faces"
    assert result.usable
    assert result.faces == 3
    assert result.box_trbl == tuple(reference["locations"][largest])
    expected = np.array(reference["encodings_small"][largest])
    assert np.abs(result.encoding - expected).max() <= 1e-5  # the default engine's parity


@pytest.mark.parametrize(
    ("name", "status", "message"),
    [
        ("flat.png", "no_face", "no face found"),
        ("several.jpg", "several_faces", "3 faces, using the largest"),
        ("turned.jpg", "no_face", "no face found"),
        ("zero.jpg", "not_image", "not an image file"),
        ("text.jpg", "not_image", "not an image file"),
        ("notes.txt", "not_image", "not an image file"),
        ("truncated.jpg", "unreadable", "cannot decode image ("),
    ],
)
def test_problem_photos_are_reported(photos, name, status, message):
    folder = "lin" if name == "turned.jpg" else "odd"
    path = (photos.refs / folder / name).resolve()
    result = photos.files[name]
    assert result.status == status
    assert result.message.startswith(f"{path}: {message}")
    assert "\n" not in result.message
    assert result.usable == (status == "several_faces")
    warning = f"warning: {result.message}"
    assert warning in text_lines(photos.result.stderr)


def test_cli_reports_each_problem_once_on_stderr(photos):
    lines = text_lines(photos.result.stderr)
    assert all(line.startswith("warning: ") for line in lines)
    assert len(lines) == 7  # flat, several, turned, zero, text, notes, truncated
    assert "warning" not in photos.result.stdout


def test_unusable_photos_have_no_row_but_are_kept_as_files(photos):
    stored = read_npz(photos.cache)
    sources = {Path(s).name for s in stored["source"]}
    assert sources == {
        "rgba.png",
        "rgb.png",
        "exif6.jpg",
        "exif8.jpg",
        "exif6.png",
        "gray.png",
        "gray16.png",
        "palette.png",
        "several.jpg",
    }
    statuses = dict(
        zip((Path(p).name for p in stored["file_path"]), stored["file_status"], strict=True)
    )
    assert statuses["truncated.jpg"] == "unreadable"
    assert statuses["notes.txt"] == "not_image"
    assert len(statuses) == 15


# ---------------------------------------------------------------------------- tight crops

#: LFW photos whose face, cut to the box HOG finds in the whole photo, HOG at upsample 1
#: no longer finds; and the fallback search that does.
TIGHT = {
    "Abdullah_Gul/Abdullah_Gul_0003.jpg": "upsample 0",
    "Pierce_Brosnan/Pierce_Brosnan_0009.jpg": "padded 50%, upsample 1",
    "Richard_Gere/Richard_Gere_0001.jpg": "padded 50%, upsample 1",
    "Grady_Little/Grady_Little_0001.jpg": "padded 50%, upsample 0",
    "Michael_Jackson/Michael_Jackson_0003.jpg": "padded 25%, upsample 1",
}


@pytest.fixture(scope="module")
def tight(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Tight crops (the face box, no margin) of the :data:`TIGHT` photos, one person each,
    with the encodings of the whole photos; encoded through the CLI."""
    from faceripper.detector import detect_faces
    from faceripper.encoder import encode_faces

    base = tmp_path_factory.mktemp("tight")
    whole: dict[str, np.ndarray] = {}
    for name in TIGHT:
        image = load_rgb(testdata / "lfw_dev" / name)
        box = detect_faces(image, upsample=1)[:1]
        whole[Path(name).stem] = encode_faces(image, box).encodings[0]
        top, right, bottom, left = box[0]
        folder = base / "refs" / Path(name).parent.name
        folder.mkdir(parents=True)
        Image.fromarray(image[top:bottom, left:right]).save(folder / f"{Path(name).stem}.png")
    cache = base / "refs.npz"
    result = run_cli(["encode", "--refs", str(base / "refs"), "-o", str(cache), "--threads", "1"])
    return SimpleNamespace(refs=base / "refs", cache=cache, result=result, whole=whole)


def test_tight_crops_show_hog_no_face(tight):
    from faceripper.detector import detect_faces

    for photo in tight.refs.glob("*/*.png"):
        assert len(detect_faces(load_rgb(photo), upsample=1)) == 0, photo


def test_tight_crops_are_found_by_the_fallback_searches(tight):
    assert tight.result.exit_code == 0, tight.result.stderr
    assert tight.result.stdout.endswith(f"; {len(TIGHT)} found by a fallback search\n")
    data = read_npz(tight.cache)
    found = {Path(p).stem: f for p, f in zip(data["file_path"], data["file_found_by"], strict=True)}
    assert found == {Path(name).stem: step for name, step in TIGHT.items()}
    assert data["file_status"].tolist() == ["ok"] * len(TIGHT)
    for stem, step in found.items():
        assert f"{stem}.png: face found only by a fallback search ({step})" in tight.result.stderr


def test_a_tight_crop_encodes_as_its_whole_photo(tight):
    data = read_npz(tight.cache)
    for path, encoding in zip(data["source"], data["encodings"], strict=True):
        # the same face: far nearer than another person (0.6), near the whole photo's
        assert np.linalg.norm(encoding - tight.whole[Path(path).stem]) < 0.3, path


def test_tight_crops_in_check_refs(tight):
    result = run_cli(["check-refs", "--refs", str(tight.refs), "--output", str(tight.cache)])
    assert result.exit_code == 0, result.stderr
    assert "Faces found only by a fallback search" in result.stdout
    listed = result.stdout.split("Faces found only by a fallback search")[1].splitlines()
    for name, step in TIGHT.items():
        row = next(line for line in listed if Path(name).stem in line)
        assert step in row


@pytest.mark.parametrize(
    ("points", "why"),
    [
        ([[70, 40], [60, 40], [30, 40], [40, 40], [50, 65]], ""),  # a face
        ([[40, 40], [30, 40], [60, 40], [70, 40], [50, 65]], ""),  # eyes in the other order
        ([[56, 40], [54, 40], [44, 40], [46, 40], [50, 65]], "eye distance 0.12"),
        ([[70, 40], [60, 40], [30, 40], [40, 40], [50, 15]], "nose above the eyes"),
        ([[70, 40], [60, 40], [30, 40], [40, 40], [95, 65]], "nose away from the eyes"),
        ([[55, 80], [50, 70], [35, 40], [40, 50], [30, 70]], "eye line turned 63 degrees"),
        ([[70, 40], [60, 40], [30, 40], [40, 40], [50, 105]], "landmarks outside the image"),
    ],
)
def test_plausible_face(points, why):
    from faceripper.detector import plausible_face

    reason = plausible_face(np.array(points, float), np.array([10, 90, 90, 10]), (100, 100, 3))
    assert reason.startswith(why) if why else reason == ""


def test_a_photo_without_a_face_stays_no_face_after_the_fallbacks(testdata, tmp_path):
    from faceripper.refphoto import encode_reference_file

    image = load_rgb(testdata / "face_recognition" / "obama3.jpg")
    photo = tmp_path / "no_face.png"
    Image.fromarray(np.ascontiguousarray(image[::-1])).save(photo)  # upside down
    result = encode_reference_file(photo, "x", EncodeSettings())
    assert (result.status, result.found_by) == ("no_face", "")


def test_a_large_tight_crop_is_searched_and_encoded_on_a_small_copy(tight, tmp_path):
    import cv2

    from faceripper.references import FALLBACK_SIDE_PX
    from faceripper.refphoto import encode_reference_file

    crop = load_rgb(tight.refs / "Richard_Gere" / "Richard_Gere_0001.png")
    large = cv2.resize(crop, None, fx=8, fy=8, interpolation=cv2.INTER_CUBIC)  # 856 px
    assert max(large.shape[:2]) > 1.5 * FALLBACK_SIDE_PX
    photo = tmp_path / "large.png"
    Image.fromarray(large).save(photo)
    result = encode_reference_file(photo, "richard", EncodeSettings())
    assert result.status == "ok" and result.found_by != ""
    top, right, bottom, left = result.box_trbl
    assert 0 <= top < bottom <= large.shape[0] and 0 <= left < right <= large.shape[1]
    assert right - left > 0.5 * large.shape[1]  # the box is in the large photo's pixels
    assert np.linalg.norm(result.encoding - tight.whole["Richard_Gere_0001"]) < 0.3


# ------------------------------------------------------- tight crops found by HOG itself


@pytest.fixture(scope="module")
def lfw_tight(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The first 8 LFW people with 10 photos: their first photo's tight crop as the
    identity benchmarks make it (``write_tight_crop``: the HOG box at 200 px, JPEG),
    and the whole-photo encodings of all 10 photos."""
    from faceripper.detector import detect_faces
    from faceripper.encoder import encode_faces
    from faceripper.testing.footage import FaceSource, write_tight_crop

    base = tmp_path_factory.mktemp("lfw_tight")
    people = [
        p for p in sorted((testdata / "lfw_dev").iterdir()) if len(list(p.glob("*.jpg"))) >= 10
    ]
    crops, boxes, wholes = [], [], []
    for folder in people[:8]:
        encodings = []
        for i, photo in enumerate(sorted(folder.glob("*.jpg"))[:10]):
            image = load_rgb(photo)
            box = detect_faces(image, upsample=1)[:1]
            if i == 0:
                crop = base / f"{folder.name}.jpg"
                write_tight_crop(FaceSource(photo, folder.name, tuple(box[0].tolist())), crop)
                crops.append(crop)
                boxes.append(box)
            encodings.append(encode_faces(image, box).encodings[0] if len(box) else None)
        wholes.append(np.array([e for e in encodings if e is not None]))
    return SimpleNamespace(crops=crops, boxes=boxes, wholes=wholes)


def test_a_whole_photo_keeps_face_recognitions_encoding(testdata):
    from faceripper.detector import detect_faces
    from faceripper.encoder import chip_overhangs, encode_faces
    from faceripper.refphoto import encode_reference_face

    image = load_rgb(testdata / "lfw_dev" / "Hu_Jintao" / "Hu_Jintao_0001.jpg")
    box = detect_faces(image, upsample=1)[:1]
    assert chip_overhangs(image, box)[0] < 0  # its chip lies inside the photo
    expected = encode_faces(image, box).encodings[0]
    assert np.array_equal(encode_reference_face(image, box, EncodeSettings()), expected)


def test_a_tight_crop_is_encoded_mirrored_out_and_nearer_the_persons_other_photos(lfw_tight):
    from faceripper.detector import detect_faces
    from faceripper.encoder import chip_overhangs, encode_faces

    before, after = [], []
    for crop, others in zip(lfw_tight.crops, lfw_tight.wholes, strict=True):
        image = load_rgb(crop)
        box = detect_faces(image, upsample=1)[:1]
        assert len(box) == 1  # HOG finds these crops itself: no fallback
        assert chip_overhangs(image, box)[0] > 0  # dlib would fill part of the chip black
        result = encode_reference_file(crop, crop.stem, EncodeSettings())
        assert (result.status, result.found_by) == ("ok", "")
        plain = encode_faces(image, box).encodings[0]  # face_recognition's encoding
        before.append(np.linalg.norm(others[1:] - plain, axis=1).mean())
        after.append(np.linalg.norm(others[1:] - result.encoding, axis=1).mean())
    # Measured: mean distance to the person's other 9 photos 0.462 -> 0.452 (the whole
    # photo's: 0.459); on 22 people 0.438 -> 0.431 (0.429), benchmarks/tight_encoding.py.
    assert np.mean(after) < np.mean(before) - 0.005


def test_tight_crops_black_keeps_face_recognitions_encoding_and_its_own_cache(lfw_tight, tmp_path):
    from faceripper.detector import detect_faces
    from faceripper.encoder import encode_faces

    crop = lfw_tight.crops[0]
    image = load_rgb(crop)
    expected = encode_faces(image, detect_faces(image, upsample=1)[:1]).encodings[0]
    black = encode_reference_file(crop, "x", EncodeSettings(tight_crops="black"))
    assert np.array_equal(black.encoding, expected)
    mirrored = encode_reference_file(crop, "x", EncodeSettings())
    assert np.linalg.norm(mirrored.encoding - expected) > 0.01
    refs = tmp_path / "refs" / "x"
    refs.mkdir(parents=True)
    shutil.copy(crop, refs)
    cache = tmp_path / "refs.npz"
    args = ["encode", "--refs", str(refs.parent), "-o", str(cache), "-j", "1"]
    assert run_cli([*args, "--tight-crops", "black"]).exit_code == 0
    assert np.array_equal(read_npz(cache)["encodings"][0], expected)
    assert str(read_npz(cache)["tight"]) == "chip beyond the photo: black (face_recognition's)"
    result = run_cli(args)
    assert "settings changed (tight chip beyond the photo: black" in result.stderr
    assert np.array_equal(read_npz(cache)["encodings"][0], mirrored.encoding)
    with pytest.raises(UsageError, match="--tight-crops"):
        EncodeSettings(tight_crops="white")  # type: ignore[arg-type]


def test_a_broken_link_among_the_photos_is_named_by_its_own_path(testdata, tmp_path):
    # A photo linked from elsewhere that was since moved: the warning must name the link
    # the user sees in the references folder, not the missing target.
    person = tmp_path / "refs" / "obama"
    person.mkdir(parents=True)
    shutil.copy(testdata / "face_recognition" / "obama3.jpg", person / "obama3.jpg")
    (person / "moved.jpg").symlink_to(tmp_path / "elsewhere" / "moved.jpg")
    result = run_cli(["encode", "--refs", str(tmp_path / "refs"), "--threads", "1"])
    assert result.exit_code == 0, result.stderr
    link = Path(os.path.abspath(person / "moved.jpg"))  # noqa: PTH100
    assert f"warning: {link}: No such file or directory" in text_lines(result.stderr)
    assert "elsewhere" not in result.stderr
