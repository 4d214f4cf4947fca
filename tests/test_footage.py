"""Footage-like ground truth: one reference each, a look-alike stranger, invisible cuts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceripper.geometry import as_boxes, iou
from faceripper.images import load_rgb
from faceripper.shots import frame_thumbnail, is_cut
from faceripper.testing import render_frames
from faceripper.testing.footage import Footage, build_footage
from faceripper.tracks import LINK_IOU
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


def test_a_face_turns_to_its_other_views_through_a_crossfade(testdata):
    from faceripper.testing import PlacedFace, Shot, load_face_sources

    first, second = load_face_sources(sorted((testdata / "lfw_dev" / "Hu_Jintao").iterdir())[:2])
    geometry = ((200, 180), (200, 180), 100, 100)
    turning = PlacedFace(first, *geometry, views=(second,), view_changes=(0.5,), fade=0.2)
    assert turning.view_weights(0.0) == (0, 0, 0.0)
    assert turning.view_weights(1.0) == (1, 1, 0.0)
    assert turning.view_weights(0.5) == (0, 1, pytest.approx(0.5))

    def frames(face: PlacedFace) -> list[np.ndarray]:
        return [f for f, _ in render_frames([Shot(11, (face,), texture_seed=1)])]

    moving = frames(turning)
    still_a, still_b = frames(PlacedFace(first, *geometry)), frames(PlacedFace(second, *geometry))
    assert np.array_equal(moving[0], still_a[0]) and np.array_equal(moving[10], still_b[10])
    halfway = (still_a[5].astype(float) + still_b[5].astype(float)) / 2
    assert np.abs(moving[5] - halfway).max() <= 1.0
    assert np.abs(still_a[5].astype(float) - still_b[5]).mean() > 5  # two different photos


def test_a_face_shows_only_its_own_person_and_wobbles_deterministically(testdata):
    from faceripper.testing import PlacedFace, Shot, load_face_sources

    hu = load_face_sources(sorted((testdata / "lfw_dev" / "Hu_Jintao").iterdir())[:1])[0]
    other = load_face_sources(sorted((testdata / "lfw_dev" / "Julie_Gerberding").iterdir())[:1])
    with pytest.raises(ValueError, match="same person"):
        PlacedFace(hu, (200, 180), (200, 180), 100, 100, views=(other[0],), view_changes=(0.5,))
    with pytest.raises(ValueError, match="increasing"):
        PlacedFace(hu, (200, 180), (200, 180), 100, 100, views=(hu,), view_changes=(0.6, 0.4))
    shot = Shot(4, (PlacedFace(hu, (200, 180), (200, 180), 100, 100, wobble=0.03),))
    rows = [r for _, frame_rows in render_frames([shot]) for r in frame_rows]
    again = [r for _, frame_rows in render_frames([shot]) for r in frame_rows]
    assert rows == again
    assert len({(r.top, r.left, r.size_px) for r in rows}) > 1  # the head moves frame to frame


def test_moving_footage_varies_within_shots_never_showing_a_reference(testdata, tmp_path):
    from faceripper.testing import load_face_sources
    from faceripper.testing.footage import MOVING, make_footage_scenes

    people = {
        name: load_face_sources(sorted((testdata / "lfw_dev" / name).iterdir())[:5])
        for name in TARGETS
    }
    reference = {name: photos[0] for name, photos in people.items()}
    shown = {name: photos[1:] for name, photos in people.items()}
    stranger = load_face_sources(testdata / "lfw_dev" / STRANGER)
    options = {"shots_per_person": 2, "frames_per_shot": (10, 12), "stranger_shots": 2}
    still, _ = make_footage_scenes(2, shown, stranger, "Hu_Jintao", **options)
    again, _ = make_footage_scenes(2, shown, stranger, "Hu_Jintao", **options, views_per_shot=1)
    assert still == again and not any(f.views or f.wobble for s in still for f in s.faces)
    moving, _ = make_footage_scenes(2, shown, stranger, "Hu_Jintao", **options, **MOVING)
    faces = [f for s in moving for f in s.faces]
    assert len(faces) == len([f for s in still for f in s.faces])
    targets = [f for f in faces if f.is_target]
    assert all(f.views and f.view_changes and f.wobble > 0 for f in targets)
    for face in targets:
        assert {v.identity for v in face.all_views} == {face.source.identity}
        assert reference[face.source.identity] not in face.all_views
        assert len(set(face.all_views)) == len(face.all_views) == MOVING["views_per_shot"]
