"""Video-adaptive identity in ``rip``: adopted tracks, --no-adapt, resume, threads.

One reference photo of Hu Jintao (his most typical, ``Hu_Jintao_0005``). At ``--tolerance
0.3`` his photo ``_0008`` (0.22 from it) is matched with confidence, while ``_0010`` and
``_0001`` (0.32 to 0.34 from it, but 0.32 to 0.34 from ``_0008``) are left undecided by
the references alone: the video-adaptive step gives them to him. Julie Gerberding, who
has no reference, stands beside him in the first shot and is never saved.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceripper.testing import (
    PlacedFace,
    Shot,
    evaluate,
    load_face_sources,
    load_truth,
    render_video,
    truth_path,
)
from faceripper.writer import ADAPT_PREFIX, JOURNAL_NAME, Dataset, read_manifest

from conftest import clip_rip_args, run_cli, tree_digest

pytestmark = pytest.mark.slow

PERSON = "Hu_Jintao"
STRANGER = "Julie_Gerberding"


@pytest.fixture(scope="module")
def clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("adaptclip")
    (base / "refs" / "hu").mkdir(parents=True)
    shutil.copy(lfw / PERSON / f"{PERSON}_0005.jpg", base / "refs" / "hu")
    hu = {
        n: load_face_sources([lfw / PERSON / f"{PERSON}_{n}.jpg"])[0]
        for n in ("0008", "0010", "0001")
    }
    julie = load_face_sources([lfw / STRANGER / f"{STRANGER}_0003.jpg"])[0]
    shots = [
        Shot(
            12,
            (
                PlacedFace(hu["0008"], (170, 180), (180, 176), 100, 100),
                PlacedFace(julie, (470, 180), (462, 184), 100, 100, is_target=False),
            ),
            (90, 110, 140),
            texture_seed=1,
        ),
        Shot(12, (PlacedFace(hu["0010"], (320, 170), (326, 174), 100, 100),), (170, 150, 120), 2),
        Shot(12, (PlacedFace(hu["0001"], (300, 190), (290, 186), 100, 100),), (60, 140, 90), 3),
    ]
    return _render_clip(base, shots)


def _render_clip(base: Path, shots: list[Shot]) -> dict[str, Path]:
    """``shots`` rendered as ``base/videos/clip.avi`` (its truth beside), with the paths
    the tests use (the references are in ``base/refs``)."""
    (base / "videos").mkdir()
    render_video(base / "videos" / "clip.avi", shots, (640, 360), fps=30.0)
    truth_path(base / "videos" / "clip.avi").rename(base / "clip.truth.csv")
    return {
        "base": base,
        "refs": base / "refs",
        "videos": base / "videos",
        "truth": base / "clip.truth.csv",
    }


def args(clip: dict[str, Path], target: Path, *extra: str) -> list[str]:
    return clip_rip_args(
        clip, target, "--tolerance", "0.3", "--min-size", "60", "--segment-frames", "12", *extra
    )


def score(clip: dict[str, Path], target: Path):
    rows = read_manifest(target / "manifest.csv")
    return evaluate(rows, load_truth(clip["truth"]), {"hu": PERSON}, min_size_px=60)


@pytest.fixture(scope="module")
def adapted(clip, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("adapted") / "faces"
    result = run_cli(args(clip, target, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    assert re.search(r"\b[1-9]\d* of \d+ borderline tracks? adopted", result.stdout), result.stdout
    return target


def test_adopted_tracks_are_saved_and_the_stranger_is_not(clip, adapted, tmp_path):
    target = tmp_path / "plain"
    result = run_cli(args(clip, target, "--threads", "2", "--no-adapt"))
    assert result.exit_code == 0, result.stderr
    assert "0 of 0 borderline tracks adopted" in result.stdout
    without, with_ = score(clip, target), score(clip, adapted)
    print(without.as_dict(), with_.as_dict())
    assert without.precision == 1.0 and with_.precision == 1.0
    assert with_.on_distractor == 0 and without.on_distractor == 0
    assert without.appearances_found == 1
    assert with_.appearances_found >= 2
    assert with_.correct > without.correct
    rows = read_manifest(adapted / "manifest.csv")
    assert {r["path"] for r in rows} == {
        p.relative_to(adapted).as_posix() for p in adapted.glob("*/*.jpg")
    }
    assert not list(adapted.glob(ADAPT_PREFIX + "*"))  # spools are gone once adapted
    journal = (adapted / JOURNAL_NAME).read_text(encoding="utf-8")
    assert '"adapted"' in journal


def test_one_thread_gives_the_same_dataset(clip, adapted, tmp_path):
    target = tmp_path / "faces"
    result = run_cli(args(clip, target, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(target) == tree_digest(adapted)


def test_a_kill_inside_the_adaptive_step_resumes_to_the_same_dataset(
    clip, adapted, tmp_path, monkeypatch
):
    """Crops of adopted tracks are written, then the run dies before the journal line."""
    target = tmp_path / "faces"

    def die(self, *args, **kwargs):  # kill -9 leaves crops and rows, no journal line
        raise KeyboardInterrupt

    monkeypatch.setattr(Dataset, "finish_adapt", die)
    try:
        interrupted = run_cli(args(clip, target, "--threads", "2"))
        assert interrupted.exit_code != 0  # the CLI turns Ctrl-C into an exit code
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    assert list(target.glob(ADAPT_PREFIX + "*"))  # the spools survived
    resumed = subprocess.run(
        [sys.executable, "-m", "faceripper", *args(clip, target, "--threads", "2")],
        capture_output=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(target) == tree_digest(adapted)
    rows = read_manifest(target / "manifest.csv")
    assert len({r["path"] for r in rows}) == len(rows)  # no duplicated rows


def test_resume_after_kill_9_equals_uninterrupted_run(clip, adapted, tmp_path):
    target = tmp_path / "faces"
    command = [sys.executable, "-m", "faceripper", *args(clip, target, "--threads", "2")]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if (target / JOURNAL_NAME).exists() and len(
            (target / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
        ) >= 2:
            break
        time.sleep(0.02)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    resumed = subprocess.run(command, capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(target) == tree_digest(adapted)
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(list(target.glob("*/*.jpg")))


LOOKALIKE = "Kim_Hong-up"  # 0.42 from Hu_Jintao_0005: just outside the default tolerance


@pytest.fixture(scope="module")
def lookalike_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hu Jintao in two shots, his look-alike alone in one and beside him in another."""
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("lookalike")
    (base / "refs" / "hu").mkdir(parents=True)
    shutil.copy(lfw / PERSON / f"{PERSON}_0005.jpg", base / "refs" / "hu")
    hu = {n: load_face_sources([lfw / PERSON / f"{PERSON}_{n}.jpg"])[0] for n in ("0008", "0004")}
    kim = load_face_sources(lfw / LOOKALIKE)[0]
    shots = [
        Shot(10, (PlacedFace(hu["0008"], (320, 180), (326, 176), 100, 100),), (90, 110, 140), 1),
        Shot(
            10,
            (PlacedFace(kim, (300, 180), (296, 184), 100, 100, is_target=False),),
            (170, 150, 120),
            2,
        ),
        Shot(
            10,
            (
                PlacedFace(hu["0004"], (170, 180), (176, 176), 100, 100),
                PlacedFace(kim, (470, 180), (464, 184), 100, 100, is_target=False),
            ),
            (60, 140, 90),
            3,
        ),
    ]
    return _render_clip(base, shots)


def test_a_lookalike_stranger_is_held_back_and_never_saved(lookalike_clip, tmp_path):
    target = tmp_path / "faces"
    extra = ["--threads", "2"]
    command = args(lookalike_clip, target, *extra)
    command[command.index("--tolerance") + 1] = "0.4"  # the default
    result = run_cli(command)
    assert result.exit_code == 0, result.stderr
    metrics = score(lookalike_clip, target)
    print(metrics.as_dict())
    assert metrics.on_distractor == 0 and metrics.precision == 1.0
    assert metrics.appearances_found == 2  # Hu, in both his shots
    records = [json.loads(line) for line in (target / JOURNAL_NAME).read_text().splitlines()]
    pending = sum(r.get("counts", {}).get("tracks_pending", 0) for r in records[1:])
    assert pending >= 1  # the look-alike was a borderline track, and was refused
    (adapted,) = [r for r in records if "adapted" in r]
    assert "adapted_crops" not in adapted["counts"]


def test_a_lookalike_within_a_raised_tolerance_is_refused_by_the_video(lookalike_clip, tmp_path):
    """At --tolerance 0.45 the references alone take Kim Hong-up (0.42 from Hu's photo)
    for Hu where he is alone; none of his faces is matched with confidence, and Hu's
    confident faces in the same video are 0.44 from him: the video refuses him."""
    target = tmp_path / "faces"
    command = args(lookalike_clip, target)
    command[command.index("--tolerance") + 1] = "0.45"
    result = run_cli(command)
    assert result.exit_code == 0, result.stderr
    metrics = score(lookalike_clip, target)
    assert metrics.on_distractor == 0 and metrics.precision == 1.0
    assert metrics.appearances_found == 2  # Hu, in both his shots
    records = [json.loads(line) for line in (target / JOURNAL_NAME).read_text().splitlines()]
    (adapted,) = [r for r in records if "adapted" in r]
    assert adapted["counts"].get("adapt_unlike_the_video", 0) >= 1


@pytest.fixture(scope="module")
def absent_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hu Jintao's reference, but only his look-alike Kim Hong-up is shown, in two shots."""
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("absent")
    (base / "refs" / "hu").mkdir(parents=True)
    shutil.copy(lfw / PERSON / f"{PERSON}_0005.jpg", base / "refs" / "hu")
    kim = load_face_sources(lfw / LOOKALIKE)[0]
    shots = [
        Shot(10, (PlacedFace(kim, (300, 180), (296, 184), 100, 100, is_target=False),), *room)
        for room in (((170, 150, 120), 2), ((60, 140, 90), 3))
    ]
    return _render_clip(base, shots)


def test_a_lookalike_of_a_person_absent_from_the_video_is_not_saved(absent_clip, tmp_path):
    """At --tolerance 0.45 the references decide Kim Hong-up (0.42 from Hu's photo) for
    Hu, and the video has no face of Hu matched with confidence to refuse him by: none of
    Kim's faces is within 0.4 of the photo (adaptive.NEAR_DISTANCE, whatever the
    tolerance), so the near rule (the default) refuses him; with --trust-references he
    is kept on the references' word."""
    runs = {}
    for name, extra in (("default", ()), ("trusted", ("--trust-references",))):
        target = tmp_path / name
        command = args(absent_clip, target, *extra)
        command[command.index("--tolerance") + 1] = "0.45"
        result = run_cli(command)
        assert result.exit_code == 0, result.stderr
        runs[name] = score(absent_clip, target), result.stdout
    (trusted, _), (default, stdout) = runs["trusted"], runs["default"]
    assert trusted.on_distractor > 0  # the references alone take him for Hu
    assert default.saved == 0 and default.on_distractor == 0
    assert re.search(r"\b[1-9]\d* tracks refused for want of a face near the reference", stdout)
