"""Footage-like ground truth: one reference each, a look-alike stranger, invisible cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceripper.geometry import as_boxes, iou
from faceripper.images import load_rgb
from faceripper.testing import render_frames
from faceripper.testing.footage import Footage, build_footage
from faceripper.tracks import LINK_IOU, frame_thumbnail, is_cut
from faceripper.video import iter_frames, scan_video

TARGETS = ("Hu_Jintao", "Julie_Gerberding")
STRANGER = "Kim_Hong-up"  # 0.42 from Hu Jintao's most typical photo


@pytest.fixture(scope="module")
def footage(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Footage:
    return build_footage(
        testdata / "lfw_dev",
        tmp_path_factory.mktemp("footage"),
        seed=2,
        targets=TARGETS,
        stranger=STRANGER,
        shots_per_person=2,
        stranger_shots=2,
        invisible_cuts=1,
        frames_per_shot=(8, 10),
        video_name="footage.avi",
    )


def test_one_reference_each_never_shown_and_a_tight_crop_of_it(footage):
    for name in TARGETS:
        (photo,) = (footage.refs / name).iterdir()
        (tight,) = (footage.refs_tight / name).iterdir()
        assert photo.name == tight.name
        assert load_rgb(tight).shape == (200, 200, 3)
        shown = {r.identity for r in footage.truth}
        assert name in shown
    assert footage.label_to_identity == {n: n for n in TARGETS}


def test_the_stranger_appears_beside_the_lookalike_and_alone(footage):
    assert footage.stranger == STRANGER and footage.lookalike == "Hu_Jintao"
    rows = [r for r in footage.truth if r.identity == STRANGER]
    assert rows and not any(r.is_target for r in rows)
    shots = {r.shot for r in rows}
    assert len(shots) == 2
    first = [r for r in footage.truth if r.shot == min(shots)]
    assert {r.identity for r in first} == {STRANGER, "Hu_Jintao"}
    targets = [r for r in footage.truth if r.is_target]
    appearances = {(r.identity, r.appearance) for r in targets}
    assert len(appearances) == 2 * len(TARGETS)


def test_an_invisible_cut_escapes_the_frame_difference(footage):
    (cut,) = footage.invisible_cuts
    before = [r for r in footage.truth if r.frame == cut - 1]
    after = [r for r in footage.truth if r.frame == cut]
    assert len(before) == len(after) == 1 and before[0].identity != after[0].identity
    overlap = iou(as_boxes([before[0].box]), as_boxes([after[0].box]))[0, 0]
    assert overlap >= LINK_IOU + 0.3  # the tracker would take them for one face
    scan = scan_video(footage.video)
    frames = {f.index: f.rgb() for f in iter_frames(footage.video, scan, cut - 1, cut + 1)}
    previous, current = (frame_thumbnail(frames[i]) for i in (cut - 1, cut))
    assert not is_cut(previous, current)


def test_camera_settings_change_the_pixels_deterministically(footage):
    from faceripper.testing import PlacedFace, Shot, load_face_sources

    source = load_face_sources(sorted((footage.refs / "Hu_Jintao").iterdir()))[0]
    plain = PlacedFace(source, (200, 180), (200, 180), 100, 100)
    worked = PlacedFace(
        source,
        (200, 180),
        (200, 180),
        100,
        100,
        gain=0.6,
        noise=5,
        soften_px=1,
        jpeg_quality=20,
        mirror=True,
    )
    frames = [
        next(render_frames([Shot(1, (face,), texture_seed=1)]))[0] for face in (plain, worked)
    ]
    again = next(render_frames([Shot(1, (worked,), texture_seed=1)]))[0]
    assert np.array_equal(frames[1], again)
    assert frames[1].mean() < frames[0].mean()  # darker
    face = frames[0][130:230, 150:250].astype(float)
    mirrored = frames[1][130:230, 150:250].astype(float)[:, ::-1] / 0.6
    assert np.abs(face - mirrored).mean() < np.abs(face - mirrored[:, ::-1]).mean()
