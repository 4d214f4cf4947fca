"""Synthetic ground-truth videos: the generator's truth must be what dlib sees."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from faceripper.blur import sharpness
from faceripper.detector import detect_faces
from faceripper.geometry import as_boxes, iou
from faceripper.images import bgr_to_rgb
from faceripper.testing import (
    TRUTH_COLUMNS,
    FaceSource,
    PlacedFace,
    Shot,
    Truth,
    TruthRow,
    evaluate,
    load_face_sources,
    load_truth,
    make_scenes,
    render_frames,
    render_video,
    sources_by_identity,
    truth_path,
)

PEOPLE = ("Halle_Berry", "Hu_Jintao", "Jennifer_Garner", "Pierce_Brosnan")
DISTRACTORS = ("Andy_Griffith", "Brian_Williams", "Chance_Mock")
FRAME_SIZE = (640, 360)


@pytest.fixture(scope="module")
def lfw(testdata: Path) -> Path:
    folder = testdata / "lfw_dev"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="module")
def people(lfw: Path) -> dict[str, list[FaceSource]]:
    paths = [p for name in PEOPLE for p in sorted((lfw / name).glob("*.jpg"))[:3]]
    return sources_by_identity(load_face_sources(paths))


@pytest.fixture(scope="module")
def distractors(lfw: Path) -> list[FaceSource]:
    return [s for name in DISTRACTORS for s in load_face_sources(lfw / name)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, people, distractors) -> tuple[Path, Truth]:
    """A 2.5 s 640x360 clip: two sharp moving faces, then sharp, blurred and small ones."""
    halle, hu, jennifer, pierce = (people[name][0] for name in PEOPLE)
    shots = [
        Shot(
            40,
            (
                PlacedFace(halle, (150, 170), (200, 190), 100, 92),
                PlacedFace(hu, (470, 180), (430, 170), 96, 104),
            ),
            (90, 110, 140),
            texture_seed=1,
        ),
        Shot(
            35,
            (
                PlacedFace(jennifer, (110, 180), (130, 180), 104, 104),
                PlacedFace(pierce, (320, 180), (330, 170), 100, 100, blur=0.05),
                PlacedFace(distractors[0], (530, 120), (540, 250), 50, 50, is_target=False),
            ),
            (170, 150, 120),
            texture_seed=2,
        ),
    ]
    video = tmp_path_factory.mktemp("clip") / "clip.avi"
    return video, render_video(video, shots, FRAME_SIZE, fps=30.0)


def test_load_face_sources(people, distractors):
    assert sorted(people) == sorted(PEOPLE)
    for source in [*(s for group in people.values() for s in group), *distractors]:
        top, right, bottom, left = source.box
        assert 0 <= top < bottom <= 250 and 0 <= left < right <= 250
        assert 80 <= source.size <= 135  # LFW faces are about 110 px
    assert {s.identity for s in distractors} == set(DISTRACTORS)


def test_detector_finds_faces_where_truth_says(clip):
    """The key property: dlib, run on decoded frames, finds each sharp face at its box."""
    import cv2

    video, truth = clip
    capture = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 75
    assert frames[0].shape == (360, 640, 3)

    checked = 0
    for index in (0, 20, 39, 40, 57, 74):
        rows = truth.in_frame(index)
        detected = detect_faces(bgr_to_rgb(frames[index]), upsample=1)
        truth_boxes = as_boxes([r.box for r in rows])
        overlaps = iou(truth_boxes, detected)
        for row, row_overlaps in zip(rows, overlaps, strict=True):
            if row.blur_sigma_px == 0 and row.size_px >= 90:
                assert row_overlaps.max(initial=0.0) > 0.5, (index, row)
                checked += 1
        # No detection away from the pasted faces (no ghost faces from the photos).
        assert (overlaps.max(axis=0, initial=0.0) > 0.3).all(), (index, detected)
    assert checked == 9


def test_truth_csv_round_trip(clip):
    video, truth = clip
    csv_path = truth_path(video)
    assert csv_path.name == "clip.avi.truth.csv"
    with csv_path.open(newline="") as handle:
        assert tuple(next(csv.reader(handle))) == TRUTH_COLUMNS
    loaded = load_truth(csv_path)
    assert loaded == truth
    assert len(truth) == 40 * 2 + 35 * 3
    assert [r.frame for r in truth.in_frame(74)] == [74, 74, 74]
    assert truth.in_frame(75) == ()
    last = truth.in_frame(74)
    assert [r.appearance for r in last] == [2, 3, 4]
    assert [r.shot for r in last] == [1, 1, 1]
    assert last[1].blur_sigma_px == pytest.approx(5.0)
    assert last[2].identity == DISTRACTORS[0] and not last[2].is_target
    assert last[0].time_s == pytest.approx(74 / 30)
    first = truth.in_frame(0)[0]
    assert first.size_px == 100
    assert abs((first.top + first.bottom) / 2 - 170) <= 1
    assert abs((first.left + first.right) / 2 - 150) <= 1


def test_mp4(tmp_path, people):
    import cv2

    shot = Shot(5, (PlacedFace(people["Halle_Berry"][1], (100, 60), (110, 60), 60, 60),))
    video = tmp_path / "small.mp4"
    truth = render_video(video, [shot], (160, 120), fps=25.0)
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == 5
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    capture.release()
    assert len(load_truth(truth_path(video))) == len(truth) == 5


def test_unknown_extension(tmp_path):
    with pytest.raises(ValueError, match=r"\.avi"):
        render_video(tmp_path / "clip.mkv", [Shot(1)])


def test_make_scenes_is_deterministic_and_varied(people, distractors):
    kwargs = {
        "people_sources": people,
        "distractor_sources": distractors,
        "n_shots": 12,
        "frames_per_shot": (10, 20),
        "min_size_px": 80,
    }
    scenes = make_scenes(11, **kwargs)
    assert scenes == make_scenes(11, **kwargs)
    assert scenes != make_scenes(12, **kwargs)

    faces = [face for shot in scenes for face in shot.faces]
    assert max(len(shot.faces) for shot in scenes) >= 2
    assert any(face.blur > 0 for face in faces)
    assert any(not face.is_target for face in faces)
    assert any(max(face.start_size, face.end_size) < 80 for face in faces)
    assert any(face.start_xy != face.end_xy for face in faces)
    for shot in scenes:
        assert 10 <= shot.n_frames <= 20
        targets = [face.source.identity for face in shot.faces if face.is_target]
        assert len(targets) == len(set(targets))
        for face in shot.faces:
            assert max(face.start_size, face.end_size) <= face.source.size  # never upscaled
            for t in (0.0, 1.0):
                top, right, bottom, left = face.nominal_box(t)
                assert min(top, left) > -1e-6 and bottom < 360 + 1e-6 and right < 640 + 1e-6

    first = [next(render_frames(scenes[:1], FRAME_SIZE)) for _ in range(2)]
    np.testing.assert_array_equal(first[0][0], first[1][0])
    assert first[0][1] == first[1][1]


def test_overlapping_faces_rejected(people):
    halle, hu = people["Halle_Berry"][0], people["Hu_Jintao"][0]
    with pytest.raises(ValueError, match="overlap"):
        # Apart at the start, crossing each other by the end.
        Shot(
            10,
            (
                PlacedFace(halle, (100, 180), (500, 180), 90, 90),
                PlacedFace(hu, (500, 180), (100, 180), 90, 90),
            ),
        )


def test_blur_lowers_sharpness(people):
    halle = people["Halle_Berry"][0]
    shot = Shot(
        1,
        (
            PlacedFace(halle, (160, 180), (160, 180), 100, 100),
            PlacedFace(halle, (480, 180), (480, 180), 100, 100, blur=0.04),
        ),
    )
    frame, rows = next(render_frames([shot], FRAME_SIZE))
    assert frame.dtype == np.uint8 and frame.shape == (360, 640, 3)
    sharp, blurred = sharpness(frame, as_boxes([r.box for r in rows]))
    assert rows[1].blur_sigma_px == pytest.approx(4.0)
    assert blurred < 0.3 * sharp


def _row(frame: int, appearance: int, identity: str, box, **kwargs) -> TruthRow:
    top, right, bottom, left = box
    values = {"is_target": True, "size_px": bottom - top, "blur_sigma_px": 0.0, "shot": 0}
    values.update(kwargs)
    return TruthRow(frame, frame / 30, appearance=appearance, identity=identity, top=top,
                    right=right, bottom=bottom, left=left, **values)  # fmt: skip


@pytest.fixture
def hand_truth() -> Truth:
    alice, bob, carol = (20, 120, 120, 20), (20, 320, 120, 220), (20, 520, 120, 420)
    return Truth(
        (
            _row(0, 0, "Alice", alice),
            _row(0, 1, "Bob", bob),
            _row(0, 2, "Carol", carol, is_target=False),
            _row(1, 0, "Alice", alice),
            _row(1, 1, "Bob", bob, blur_sigma_px=4.0),
            _row(1, 2, "Carol", carol, is_target=False),
            _row(2, 3, "Alice", (20, 70, 70, 20)),  # a new shot, small face
            _row(3, 4, "Bob", bob, blur_sigma_px=4.0),  # a shot with Bob only blurred
        )
    )


LABELS = {"alice": "Alice", "bob": "Bob"}


def _saved(frame: int, box, label: str, status: str = "saved") -> dict[str, object]:
    top, right, bottom, left = box
    # Values as csv.DictReader gives them, boxes a little off as a detector's are.
    return {"frame": str(frame), "top": str(top + 3), "right": str(right - 2),
            "bottom": str(bottom + 4), "left": str(left + 1), "label": label,
            "status": status}  # fmt: skip


def test_evaluate_perfect(hand_truth):
    rows = [_saved(r.frame, r.box, r.identity.lower()) for r in hand_truth if r.is_target]
    eligible = [row for row, t in zip(rows, [r for r in hand_truth if r.is_target], strict=True)
                if t.blur_sigma_px == 0 and t.size_px >= 80]  # fmt: skip
    metrics = evaluate(eligible, hand_truth, LABELS, min_size_px=80)
    assert metrics.saved == metrics.correct == 3
    assert metrics.precision == 1.0
    assert metrics.recall == 1.0
    assert metrics.eligible_faces == 3 and metrics.eligible_appearances == 2
    assert metrics.appearance_coverage == 1.0
    assert metrics.target_faces == 6
    assert metrics.recall_all_targets == pytest.approx(3 / 6)
    assert metrics.unmatched == metrics.on_distractor == metrics.wrong_identity == 0

    everything = evaluate(rows, hand_truth, LABELS, min_size_px=80)
    assert everything.precision == 1.0 and everything.recall_all_targets == 1.0
    assert everything.on_blurred == 2 and everything.on_small == 1
    assert everything.as_dict()["recall"] == 1.0


def test_evaluate_mistakes(hand_truth):
    alice, bob, carol = (r.box for r in hand_truth.in_frame(0))
    rows = [
        _saved(0, alice, "alice"),  # correct
        _saved(0, alice, "alice"),  # correct again: a duplicate
        _saved(0, bob, "alice"),  # wrong person
        _saved(0, carol, "bob"),  # a distractor
        _saved(1, (200, 300, 300, 200), "bob"),  # nothing there
        _saved(9, (200, 300, 300, 200), "bob"),  # a frame without truth
        _saved(1, bob, "bob", status="blurry"),  # not scored
        _saved(1, alice, "stranger"),  # a label outside the map
    ]
    metrics = evaluate(rows, hand_truth, LABELS, min_size_px=80)
    assert metrics.saved == 7 and metrics.blurry_rows == 1
    assert metrics.correct == 2 and metrics.duplicates == 1
    assert metrics.wrong_identity == 3
    assert metrics.on_distractor == 1
    assert metrics.unmatched == 2
    assert metrics.precision == pytest.approx(2 / 7)
    assert metrics.eligible_found == 1 and metrics.recall == pytest.approx(1 / 3)
    assert metrics.appearances_found == 1 and metrics.appearance_coverage == 0.5

    assert evaluate(rows, hand_truth, LABELS, 80, iou_threshold=0.99).unmatched == 7
    empty = evaluate([], hand_truth, LABELS, min_size_px=80)
    assert empty.precision == 0.0 and empty.recall == 0.0
