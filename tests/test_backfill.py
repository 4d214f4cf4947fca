"""A face replaced at one place with no cut a frame test sees, found in the frame it happens.

Two close-ups of *The Big Bang Theory* (``face-api.js``, tight crops made ready as the
sitcom ground truth makes them): Amy's for 25 frames, then Raj's at the same place and
size, on the same background. Amy's track is settled (encoded every 10th frame) when
Raj's face replaces hers, and his face's thumbnail jumps less there than where his head
wobbles in its box a frame later. Before, the frames between Amy's last encoding and
the next were placed by that thumbnail: Raj's first 7 frames were saved as Amy, and when
his close-up lasted 1 or 3 frames (the end of the video) all of them were
(:mod:`faceripper.worker.backfill`).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from faceripper.testing import PlacedFace, Shot, render_video
from faceripper.testing.sitcom import prepare_crop
from faceripper.testing.truth import truth_path

from conftest import clip_rip_args, run_cli

CUT = 25  # Raj's first frame
RAJ_FRAMES = {"long": 12, "three": 3, "one": 1}


@pytest.fixture(scope="module")
def replaced(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    cast = testdata / "face-api.js"
    base = tmp_path_factory.mktemp("replaced")
    for name, photo in (("amy", "amy1.png"), ("raj", "raj2.png")):
        (base / "refs" / name).mkdir(parents=True)
        shutil.copy(cast / name / photo, base / "refs" / name)
    amy = prepare_crop(cast / "amy" / "amy5.png", base / "sources" / "amy5.png", "amy")
    raj = prepare_crop(cast / "raj" / "raj4.png", base / "sources" / "raj4.png", "raj")
    place = dict(start_xy=(320, 180), end_xy=(322, 181), start_size=150, end_size=150)
    videos = base / "videos"
    videos.mkdir()
    for name, frames in RAJ_FRAMES.items():
        shots = [
            Shot(CUT, (PlacedFace(amy, **place, wobble=0.04),), (120, 110, 100), texture_seed=5),
            Shot(frames, (PlacedFace(raj, **place, wobble=0.04),), (120, 110, 100), texture_seed=5),
        ]
        render_video(videos / f"{name}.avi", shots, (640, 360), fps=25)
        truth_path(videos / f"{name}.avi").unlink()
    return {"refs": base / "refs", "videos": videos, "base": base}


def saved(target: Path) -> list[tuple[str, int, str]]:
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "saved"]
    return sorted((Path(r["video"]).stem, int(r["frame"]), r["label"]) for r in rows)


def test_a_face_replaced_unseen_is_never_saved_as_the_face_before(replaced, tmp_path):
    target = tmp_path / "faces"
    result = run_cli(clip_rip_args(replaced, target, "--no-dedupe", "--min-size", "80"))
    assert result.exit_code == 0, result.stderr
    rows = saved(target)
    wrong = [(video, frame) for video, frame, label in rows if (label == "amy") != (frame < CUT)]
    assert wrong == []  # Raj's frames, even one at the end, never under Amy
    for video in RAJ_FRAMES:  # and Amy's close-up is kept
        amy = [frame for v, frame, label in rows if v == video and label == "amy"]
        assert len(amy) >= CUT - 2, (video, amy)
    # The same crops whatever the workers and segments.
    again = tmp_path / "again"
    args = ["--no-dedupe", "--min-size", "80", "--threads", "2", "--segment-frames", "10"]
    result = run_cli(clip_rip_args(replaced, again, *args))
    assert result.exit_code == 0, result.stderr
    assert saved(again) == rows
