"""Shared fixtures."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faceripper.testing import PlacedFace, Shot, load_face_sources, render_video, truth_path
from faceripper.testing.sitcom import Sitcom, build_sitcom

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared test data folder (photos and videos of real people; see its README.md).

    ``FACERIPPER_TESTDATA`` names it; by default ``<project root>/../shared/testdata``.
    Tests using it are skipped when it is missing, except under ``CI=true``, where they
    fail.
    """
    folder = Path(
        os.environ.get("FACERIPPER_TESTDATA") or PROJECT_ROOT.parent / "shared" / "testdata"
    )
    if not folder.is_dir():
        reason = f"test data folder {folder} not found: set FACERIPPER_TESTDATA to it"
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder


def run_cli(args: list[str], cwd: Path | None = None) -> Any:
    """Invoke the faceripper CLI in-process with typer's CliRunner (stdout/stderr apart)."""
    from typer.testing import CliRunner

    from faceripper.cli import app, v1_argv

    runner = CliRunner()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        return runner.invoke(app, v1_argv(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture(scope="session")
def hamilton(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Hamilton clip and a refs folder holding its two reference photos (one each)."""
    base = tmp_path_factory.mktemp("hamilton")
    refs = base / "refs"
    for person, photo in (
        ("lin_manuel_miranda", "lin-manuel-miranda.png"),
        ("alex_lacamoire", "alex-lacamoire.png"),
    ):
        (refs / person).mkdir(parents=True)
        shutil.copy(testdata / "face_recognition" / photo, refs / person / photo)
    return {"video": testdata / "face_recognition" / "short_hamilton_clip.mp4", "refs": refs}


def tree_digest(folder: Path, skip: tuple[str, ...] = (".faceripper",)) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``folder`` (run-state files skipped)."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith(skip):
            result[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return result


TARGETS = {"halle": "Halle_Berry", "hu": "Hu_Jintao"}
DISTRACTOR = "Chance_Mock"


@pytest.fixture(scope="session")
def lfw_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 60-frame 640x360 clip of two target people and a distractor, with references."""
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("lfwclip")
    refs = base / "refs"
    shown = {}
    for label, name in TARGETS.items():
        photos = sorted((lfw / name).glob("*.jpg"))
        (refs / label).mkdir(parents=True)
        for photo in photos[4:8]:
            shutil.copy(photo, refs / label / photo.name)
        shown[label] = load_face_sources(photos[:2])
    distractor = load_face_sources(lfw / DISTRACTOR)[0]
    shots = [
        Shot(
            30,
            (
                PlacedFace(shown["halle"][0], (160, 180), (190, 170), 104, 98),
                PlacedFace(shown["hu"][0], (470, 180), (450, 190), 100, 106),
            ),
            (90, 110, 140),
            texture_seed=1,
        ),
        Shot(
            30,
            (
                PlacedFace(shown["hu"][1], (130, 170), (140, 180), 102, 102),
                PlacedFace(shown["halle"][1], (330, 180), (330, 180), 100, 100, blur=0.06),
                PlacedFace(distractor, (530, 180), (520, 170), 100, 100, is_target=False),
            ),
            (170, 150, 120),
            texture_seed=2,
        ),
    ]
    videos = base / "videos"
    videos.mkdir()
    render_video(videos / "clip.avi", shots, (640, 360), fps=30.0)
    truth = truth_path(videos / "clip.avi")
    moved = base / "clip.truth.csv"
    truth.rename(moved)  # keep the video folder to videos only
    return {"videos": videos, "refs": refs, "truth": moved, "base": base}


# The clips' people are 0.3-0.5 from their references and some (Halle Berry's shown
# photos, 0.42-0.51) are never matched with confidence: at this loose tolerance the tests
# decide them on the references' word (--trust-references), as the tests were made for.
RIP_ARGS = [
    "--tolerance",
    "0.6",
    "--min-size",
    "60",
    "--segment-frames",
    "20",
    "--trust-references",
]


def clip_rip_args(
    clip: dict[str, Path], target: Path, *extra: str, cache: Path | None = None
) -> list[str]:
    """``rip`` on a rendered clip's ``refs`` and ``videos`` into ``target``, then
    ``extra``; the reference cache is ``cache``, by default in ``clip["base"]``."""
    return [
        "rip",
        "--refs",
        str(clip["refs"]),
        "--video-dir",
        str(clip["videos"]),
        "--target-dir",
        str(target),
        "--cache",
        str(cache or clip["base"] / "refs.npz"),
        *extra,
    ]


def rip_args(clip: dict[str, Path], target: Path, *extra: str) -> list[str]:
    return clip_rip_args(clip, target, *RIP_ARGS, *extra, cache=target.parent / "refs.npz")


@pytest.fixture(scope="session")
def reference_run(lfw_clip, tmp_path_factory) -> Path:
    """An uninterrupted run with two workers: the output every other run must equal."""
    target = tmp_path_factory.mktemp("reference") / "faces"
    result = run_cli(rip_args(lfw_clip, target, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    return target


@pytest.fixture
def cached(reference_run: Path, tmp_path: Path) -> Path:
    """A target path beside a copy of the reference run's encodings cache (``rip_args``
    reads it there): a run that is not about encoding the references skips it."""
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    return tmp_path / "faces"


@pytest.fixture(scope="session")
def raj_sitcom(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Sitcom:
    """A sitcom clip (face-api.js crops) where Raj is never matched with confidence: draw 6
    gives Raj raj3.png and Sheldon sheldon2.png as references; Stuart is a stranger."""
    return build_sitcom(
        testdata / "face-api.js",
        tmp_path_factory.mktemp("raj_sitcom"),
        seed=3,
        draw=6,
        characters=("raj", "sheldon", "stuart"),
        strangers=("stuart",),
        n_shots=4,
        invisible_cuts=0,
        frames_per_shot=(10, 12),
        people_per_shot=(2, 2),
        blur_probability=0.0,
        frame_size=(640, 360),
    )


IN_CI = os.environ.get("CI", "").strip().lower() == "true"
DISTRIBUTED_REASON = 'needs the distributed extra: pip install -e ".[distributed]"'


def distributed_package() -> Any:
    """The ``distributed`` package: the test is skipped without it, except in CI."""
    if IN_CI:
        import distributed

        return distributed
    return pytest.importorskip("distributed", reason=DISTRIBUTED_REASON)


@contextlib.contextmanager
def local_cluster(**options: Any) -> Iterator[Any]:
    """A Dask cluster on this machine: two single-threaded worker processes (``options``
    change that). Without a dashboard a scheduler still serves HTTP (health checks), by
    default on port 8787 of every interface, where a second cluster or any other program
    moves it with a warning: a free port of 127.0.0.1 instead."""
    settings: dict[str, Any] = {
        "n_workers": 2,
        "threads_per_worker": 1,
        "processes": True,
        "host": "127.0.0.1",
        "dashboard_address": None,
        "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"},
    }
    with distributed_package().LocalCluster(**(settings | options)) as cluster:
        yield cluster
