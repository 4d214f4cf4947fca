"""Ground truth of faces HOG cannot see (faceripper.testing.turned): real photos, real
detectors, a real video; and the scoring of a known manifest against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceripper.detector import detection_scale
from faceripper.testing import Shot, load_face_sources, render_video
from faceripper.testing.poses import hog_missed_photos, pose_variants
from faceripper.testing.turned import Turned, _placed, label_frames, pose_of_frames
from faceripper.testing.turned_eval import LOSS_CAUSES, evaluate_turned

SCALE = detection_scale(80)  # rip's at --min-size 80


@pytest.fixture(scope="module")
def clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Turned:
    """Halle Berry frontal for 10 frames, then tilted for 10 (4 frames of crossfade
    between); on the same background, at the same place, Gerhard Schroeder tilted for 6."""
    work = tmp_path_factory.mktemp("turned")
    lfw = testdata / "lfw_dev"
    (person,) = load_face_sources(lfw / "Halle_Berry" / "Halle_Berry_0001.jpg")
    (stranger,) = load_face_sources(lfw / "Gerhard_Schroeder" / "Gerhard_Schroeder_0003.jpg")
    (tilted,) = pose_variants(person, work / "poses", 100.0, SCALE, ["tilt"])
    (other,) = pose_variants(stranger, work / "poses", 100.0, SCALE, ["tilt"])
    assert 45 <= tilted.setting <= 70 and 45 <= other.setting <= 70
    a, n_a = _placed([(person, 10), (tilted.source, 10)], (320.0, 180.0), 100.0, True)
    b, n_b = _placed([(other.source, 6)], (320.0, 180.0), 100.0, False)
    look = {"background_rgb": (120, 130, 110), "texture_seed": 3}
    shots = [Shot(n_a, (a,), **look), Shot(n_b, (b,), **look)]  # type: ignore[arg-type]
    video = work / "clip.avi"
    truth = render_video(video, shots, quality=90)
    kinds = {tilted.source.path: ("tilt", tilted.setting), other.source.path: ("tilt", 0.0)}
    rows = label_frames(video, truth, pose_of_frames(shots, kinds), SCALE)
    labels = {"halle_berry": "Halle_Berry"}
    return Turned(video, truth, tuple(rows), work / "poses.csv", work, labels, ())


def test_truth_says_which_faces_hog_loses(clip: Turned) -> None:
    rows = {r.frame: r for r in clip.poses if r.is_target}
    assert len(clip.poses) == 26 and len(rows) == 20
    # A crossfade of about 4 frames around frame 10; the frontal photo before it: HOG
    # finds it; the tilted one after: HOG misses it, the CNN finds it, and its encoding
    # stays near her upright ones.
    fading = [f for f in range(20) if rows[f].fading]
    assert 3 <= len(fading) <= 4 and fading == list(range(fading[0], fading[-1] + 1))
    assert fading[0] >= 8 and fading[-1] <= 12
    for frame in range(fading[0]):
        assert rows[frame].pose == "frontal" and rows[frame].hog, rows[frame]
    for frame in range(fading[-1] + 1, 20):
        row = rows[frame]
        assert row.pose == "tilt" and row.lost, row
        assert row.cnn_score > 0 and row.own_distance < 0.65, row
    strangers = [r for r in clip.poses if not r.is_target]
    assert len(strangers) == 6 and all(r.lost and r.cnn_score > 0 for r in strangers)


def test_lfw_photos_hog_misses(testdata: Path, tmp_path: Path) -> None:
    people = tmp_path / "people" / "Jacques_Chirac"
    people.mkdir(parents=True)
    for name in ("Jacques_Chirac_0001.jpg", "Jacques_Chirac_0006.jpg"):
        (people / name).symlink_to(testdata / "lfw_dev" / "Jacques_Chirac" / name)
    ((source, score),) = hog_missed_photos(tmp_path / "people", SCALE)
    assert source.path.name == "Jacques_Chirac_0006.jpg" and score > 0.3


def _row(frame: int, box: tuple[int, ...], label: str, detector: str) -> dict[str, str]:
    top, right, bottom, left = box
    return {
        "frame": str(frame), "top": str(top), "right": str(right), "bottom": str(bottom),
        "left": str(left), "label": label, "status": "saved", "detector": detector,
        "encoded": "1" if detector == "hog" else "0",
    }  # fmt: skip


def test_a_known_manifest_is_counted_right(clip: Turned) -> None:
    face = {(r.frame, r.is_target): (r.top, r.right, r.bottom, r.left) for r in clip.poses}
    manifest = [
        _row(0, face[0, True], "halle_berry", "hog"),
        _row(1, face[1, True], "halle_berry", "hog"),
        _row(14, face[14, True], "halle_berry", "followed"),  # a lost face, saved right
        _row(15, face[15, True], "someone_else", "followed"),  # a lost face, wrong label
        _row(16, (5, 60, 60, 5), "halle_berry", "followed"),  # no face there
        _row(21, face[21, False], "halle_berry", "followed"),  # the stranger in her place
    ]
    m = evaluate_turned(manifest, clip)
    lost = sum(r.is_target and r.lost for r in clip.poses)
    frontal = sum(r.is_target and r.hog and not r.fading for r in clip.poses)
    assert m.lost == {"tilt": lost} and lost >= 7
    assert m.lost_saved == {"tilt": 1} and m.lost_wrong == {"tilt": 1}
    assert m.lost_detectors == {"followed": 1} and m.detectors == {"hog": 2, "followed": 4}
    assert m.hog_faces == {"frontal": frontal} and m.hog_saved == {"frontal": 2}
    assert (m.base.saved, m.base.correct, m.base.wrong_identity) == (6, 3, 2)
    assert (m.base.unmatched, m.base.on_distractor, m.on_replaced) == (1, 1, 1)
    # Every other lost face comes after a track decided by 2 encoded HOG faces.
    assert m.losses == {LOSS_CAUSES[7]: lost - 1}
    # Without the HOG crops, no track of hers was ever decided.
    assert evaluate_turned(manifest[2:], clip).losses == {LOSS_CAUSES[2]: lost - 1}
