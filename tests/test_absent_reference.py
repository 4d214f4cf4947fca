"""The near rule at rip's defaults: a person never matched with confidence in a video.

Real faces (``lfw_dev``), real rendered videos, real ``rip`` runs at the default tolerance:

- Hu Jintao's photo ``_0005`` is the only reference; the video shows only Kim Hong-up,
  his look-alike, as footage shows a face (130 px, JPEG 30, darker, noisy): his faces
  come 0.39-0.40 from the photo, so the references decide his track for Hu, and none is
  within 0.35. They lie 0.49 from the photo's face alone (its second view), so the near
  rule refuses him; ``--trust-references`` saves him as Hu.
- Hu's reference is a tight crop of ``_0005`` (the face box alone, encoded as rip encodes
  a tight crop); the video shows his photo ``_0001``, 0.39 from it: never matched with
  confidence, but near the reference and its second view (the crop encoded black beyond
  it, as face_recognition does): kept.
"""

from __future__ import annotations

import re
import shutil
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
from faceripper.testing.footage import write_tight_crop
from faceripper.writer import read_manifest

from conftest import clip_rip_args, run_cli

PERSON = "Hu_Jintao"
LOOKALIKE = "Kim_Hong-up"
ROOMS = (((170, 150, 120), 2), ((60, 140, 90), 3))


def _clip(base: Path, faces: list[PlacedFace]) -> dict[str, Path]:
    """One 10-frame shot per face in ``base/videos/clip.avi``, its truth beside."""
    shots = [Shot(10, (face,), *room) for face, room in zip(faces, ROOMS, strict=True)]
    (base / "videos").mkdir()
    render_video(base / "videos" / "clip.avi", shots, (640, 360), fps=30.0)
    truth_path(base / "videos" / "clip.avi").rename(base / "clip.truth.csv")
    return {"base": base, "refs": base / "refs", "videos": base / "videos"}


def _rip(clip: dict[str, Path], target: Path, *extra: str) -> tuple[object, str]:
    result = run_cli(clip_rip_args(clip, target, "--min-size", "60", *extra))
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    truth = load_truth(clip["base"] / "clip.truth.csv")
    return evaluate(rows, truth, {"hu": PERSON}, min_size_px=60), result.stdout


@pytest.fixture(scope="module")
def lookalike_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("lookalike")
    (base / "refs" / "hu").mkdir(parents=True)
    shutil.copy(lfw / PERSON / f"{PERSON}_0005.jpg", base / "refs" / "hu")
    kim = load_face_sources(lfw / LOOKALIKE)[0]
    look = {"is_target": False, "jpeg_quality": 30, "gain": 0.7, "noise": 2.0}
    faces = [
        PlacedFace(kim, (300, 180), (304, 178), 130, 130, **look),  # type: ignore[arg-type]
        PlacedFace(kim, (330, 170), (326, 174), 130, 130, **look),  # type: ignore[arg-type]
    ]
    return _clip(base, faces)


def test_a_lookalike_of_an_absent_person_is_refused_at_the_defaults(lookalike_clip, tmp_path):
    trusted, _ = _rip(lookalike_clip, tmp_path / "trusted", "--trust-references")
    assert trusted.on_distractor > 0  # the references alone take Kim for Hu
    default, stdout = _rip(lookalike_clip, tmp_path / "default")
    assert default.saved == 0 and default.on_distractor == 0
    assert re.search(r"\b[1-9]\d* tracks refused for want of a face near the reference", stdout)


@pytest.fixture(scope="module")
def tight_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("tightref")
    reference = load_face_sources([lfw / PERSON / f"{PERSON}_0005.jpg"])[0]
    write_tight_crop(reference, base / "refs" / "hu" / "hu.jpg")
    shown = load_face_sources([lfw / PERSON / f"{PERSON}_0001.jpg"])[0]
    faces = [
        PlacedFace(shown, (300, 180), (304, 178), 110, 110),
        PlacedFace(shown, (330, 170), (326, 174), 110, 110, mirror=True),
    ]
    return _clip(base, faces)


def test_a_present_person_with_a_tight_crop_reference_is_kept(tight_clip, tmp_path):
    metrics, stdout = _rip(tight_clip, tmp_path / "default")
    assert metrics.saved > 0 and metrics.precision == 1.0
    assert metrics.appearances_found == 2
    assert re.search(r"\b0 tracks refused for want of a face near the reference", stdout)
