"""Corrections by hand: delete and move crops with the file system, then reconcile and rip.

The dataset is the session's reference run of the generated two-person clip (copied:
each test corrects its own copy).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from faceripper.corrections import CORRECTIONS_NAME, read_corrections, reconcile
from faceripper.learned import Learned, learn
from faceripper.matching import person_distances
from faceripper.writer import read_manifest

from conftest import rip_args, run_cli


@pytest.fixture
def faces(reference_run: Path, cached: Path) -> Path:
    """A copy of the reference run, its encodings cache beside it (``rip_args``)."""
    shutil.copytree(reference_run, cached)
    return cached


def _saved(target: Path) -> dict[str, dict[str, str]]:
    return {r["path"]: r for r in read_manifest(target / "manifest.csv") if r["status"] == "saved"}


def _user_corrects(target: Path) -> tuple[list[str], str, str]:
    """Delete two halle crops and move one hu crop into halle/, as a user would."""
    halle = sorted(p for p in _saved(target) if p.startswith("halle/"))
    hu = sorted(p for p in _saved(target) if p.startswith("hu/"))
    deleted = halle[:2]
    for path in deleted:
        (target / path).unlink()
    moved_from = hu[-1]
    moved_to = "halle/" + moved_from.split("/")[1]
    shutil.move(target / moved_from, target / moved_to)
    return deleted, moved_from, moved_to


def test_reconcile_records_deleted_and_moved_crops(faces: Path) -> None:
    before = _saved(faces)
    deleted, moved_from, moved_to = _user_corrects(faces)
    result = run_cli(["reconcile", str(faces)])
    assert result.exit_code == 0, result.stderr
    assert f"deleted: {deleted[0]} (not halle)" in result.stdout
    assert f"moved: {moved_from} -> {moved_to} (now halle)" in result.stdout
    assert "2 deleted, 1 moved since the last run; 3 corrections in all" in result.stdout
    after = _saved(faces)
    assert set(after) == set(before) - {*deleted, moved_from} | {moved_to}
    row = after[moved_to]
    assert (row["label"], row["person"], row["corrected"]) == ("halle", "halle", "moved")
    assert row["frame"] == before[moved_from]["frame"]
    log = [json.loads(line) for line in (faces / CORRECTIONS_NAME).read_text().splitlines()]
    assert sorted(entry["kind"] for entry in log) == ["deleted", "deleted", "moved"]
    # Nothing new the second time; the log is not doubled.
    again = run_cli(["reconcile", str(faces)])
    assert "0 deleted, 0 moved since the last run; 3 corrections in all" in again.stdout
    assert len(read_corrections(faces)) == 3


def test_rip_keeps_the_corrections_on_resume(faces: Path, lfw_clip) -> None:
    deleted, moved_from, moved_to = _user_corrects(faces)
    result = run_cli(rip_args(lfw_clip, faces))  # resume: every segment is done
    assert result.exit_code == 0, result.stderr
    assert "2 deleted, 1 moved since the last run" in result.stdout
    assert "learnt from your corrections: 3 faces excluded, 1 added as a reference" in (
        result.stdout
    )
    assert not any((faces / p).exists() for p in deleted)
    assert (faces / moved_to).is_file() and not (faces / moved_from).exists()
    saved = _saved(faces)
    assert moved_to in saved and not set(deleted) & set(saved)
    # The faces were encoded from the video once, and stored.
    corrections = read_corrections(faces)
    assert all(len(c.encodings["5"]) == 128 for c in corrections)


@pytest.mark.slow
def test_deleted_crops_stay_deleted_after_restart(faces: Path, lfw_clip) -> None:
    deleted, moved_from, moved_to = _user_corrects(faces)
    # The user deleted two crops of halle's first track: say it was not her at all.
    first_track = {r["track"] for p, r in _saved(faces).items() if p.startswith("halle/")}
    result = run_cli(rip_args(lfw_clip, faces, "--restart"))
    assert result.exit_code == 0, result.stderr
    assert "learnt from your corrections" in result.stdout
    saved = _saved(faces)
    assert not any((faces / p).exists() for p in deleted)
    assert not set(deleted) & set(saved)
    # The moved face is written as its new person, and marked.
    assert saved[moved_to]["corrected"] == "moved"
    assert not (faces / moved_from).exists()
    assert first_track  # halle had crops before


def test_reconcile_refuses_a_folder_without_manifest(tmp_path: Path) -> None:
    result = run_cli(["reconcile", str(tmp_path)])
    assert result.exit_code == 2
    assert "no manifest" in result.stderr


def test_reconcile_leaves_unlisted_files_alone(faces: Path) -> None:
    extra = faces / "halle" / "my_own_photo.jpg"
    extra.write_bytes(b"not a crop")
    report = reconcile(faces)
    assert report.unlisted == 1 and not report.changed
    assert extra.exists()


def test_a_move_to_a_folder_of_no_person_counts_as_deleted(faces: Path) -> None:
    path = sorted(p for p in _saved(faces) if p.startswith("hu/"))[0]
    (faces / "unsure").mkdir()
    shutil.move(faces / path, faces / "unsure" / path.split("/")[1])
    report = reconcile(faces)
    assert len(report.strays) == 1 and not report.moved
    assert path not in _saved(faces)
    people = ["halle", "hu"]
    learned = learn(faces, people, {}, "5")
    assert learned.pending == 1  # no video given: not encoded yet
    assert learned.verdict(
        report.strays[0].video, report.strays[0].frame, report.strays[0].box_trbl
    ) == (frozenset({1}), -1)


def test_a_renamed_class_folder_is_refused_not_learnt_as_wrong_faces(faces: Path, lfw_clip):
    # Every crop of halle/ "moved out of the classes" would be learnt as not Halle, and
    # her faces refused in every later video: refused, with what to do, nothing recorded.
    before = (faces / "manifest.csv").read_bytes()
    n = sum(1 for p in _saved(faces) if p.startswith("halle/"))
    (faces / "halle").rename(faces / "Halle Berry")
    for command in (["reconcile", str(faces)], rip_args(lfw_clip, faces)):
        result = run_cli(command)
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"error: {faces / 'Halle Berry'}: holds all {n} crops of the class folder halle, "
            "which is gone: rename it back to halle; nothing was recorded (for another label: "
            "rename it back, edit the config, then rip with --restart)"
        )
    assert (faces / "manifest.csv").read_bytes() == before
    assert not (faces / CORRECTIONS_NAME).exists()
    (faces / "Halle Berry").rename(faces / "halle")
    assert not reconcile(faces).changed


def test_exclusions_only_affect_their_person() -> None:
    # Faces at distance 0.3 and 0.5 from person 0's reference; an exclusion of person 0
    # at 0.2 from the first face; person 1 untouched.
    distances = np.array([[0.3, 0.2, 0.45], [0.5, 0.6, 0.35]])
    out = person_distances(distances, np.array([0, -2, 1]), 2)
    assert out[0].tolist() == [np.inf, 0.45]
    assert out[1].tolist() == [0.5, 0.35]


def test_nothing_learnt_without_corrections(faces: Path) -> None:
    learned = learn(faces, ["halle", "hu"], {}, "5")
    assert len(learned) == 0 and learned.pending == 0
    assert isinstance(Learned.nothing(), Learned)


def test_a_manifest_of_an_earlier_version_gets_the_new_column(faces: Path, lfw_clip) -> None:
    import csv

    from faceripper.writer import MANIFEST_COLUMNS

    rows = read_manifest(faces / "manifest.csv")
    old_columns = [c for c in MANIFEST_COLUMNS if c != "corrected"]
    with (faces / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=old_columns, lineterminator="\n", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli(rip_args(lfw_clip, faces))
    assert result.exit_code == 0, result.stderr
    header = (faces / "manifest.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(MANIFEST_COLUMNS)
    assert len(read_manifest(faces / "manifest.csv")) == len(rows)


@pytest.mark.slow
def test_deleting_wrong_faces_saves_fewer_wrong_faces_on_new_video(testdata, tmp_path) -> None:
    """Ground truth: at a loose tolerance a stranger alone in a shot is saved as the
    target; after the user deletes those crops, a new video of the same people saves
    fewer wrong faces."""
    from faceripper.testing import (
        PlacedFace,
        Shot,
        evaluate,
        load_face_sources,
        load_truth,
        render_video,
        truth_path,
    )

    lfw = testdata / "lfw_dev"
    photos = sorted((lfw / "Lance_Armstrong").glob("*.jpg"))
    refs = tmp_path / "refs" / "lance"
    refs.mkdir(parents=True)
    for photo in photos[-3:]:
        shutil.copy(photo, refs / photo.name)
    lance = load_face_sources(photos[:2])
    stranger = load_face_sources(lfw / "Lee_Baca")[0]
    videos = tmp_path / "videos"
    videos.mkdir()
    truths = {}
    for name, (left, right) in {
        "a.avi": (
            PlacedFace(lance[0], (160, 180), (180, 175), 100, 104),
            PlacedFace(stranger, (470, 180), (455, 185), 100, 98, is_target=False),
        ),
        "b.avi": (
            PlacedFace(stranger, (170, 170), (150, 180), 96, 102, is_target=False),
            PlacedFace(lance[1], (460, 185), (470, 180), 102, 100),
        ),
    }.items():
        # The stranger beside Lance, then alone: two faces of one frame are two people,
        # so only the shot where he is alone can make the loose tolerance's mistake.
        alone = PlacedFace(stranger, (320, 180), (330, 175), 104, 100, is_target=False)
        shots = [
            Shot(24, (left, right), (90, 120, 150), texture_seed=4),
            Shot(24, (alone,), (160, 110, 70), texture_seed=9),
        ]
        render_video(tmp_path / name, shots)
        truths[name] = load_truth(truth_path(tmp_path / name))
    identity = {"lance": "Lance_Armstrong"}

    def rip(target: Path, folder: Path, *names: str) -> None:
        for name in names:
            if not (folder / name).exists():
                shutil.copy(tmp_path / name, folder / name)
        args = ["rip", "--refs", str(tmp_path / "refs"), "--video-dir", str(folder)]
        args += ["--target-dir", str(target), "--cache", str(tmp_path / "refs.npz")]
        args += ["--trust-references"]  # the references' word at a loose tolerance
        result = run_cli([*args, "--tolerance", "0.7", "--min-size", "60", "--threads", "2"])
        assert result.exit_code == 0, result.stderr

    def score(target: Path, video: str):
        rows = [r for r in read_manifest(target / "manifest.csv") if r["video"] == video]
        return evaluate(rows, truths[video], identity, min_size_px=60)

    target = tmp_path / "faces"
    rip(target, videos, "a.avi")
    wrong = [
        r
        for r in read_manifest(target / "manifest.csv")
        if evaluate([r], truths["a.avi"], identity, min_size_px=60).correct == 0
    ]
    assert wrong, "the loose tolerance saved no wrong face: nothing to correct"
    for row in wrong:
        (target / row["path"]).unlink()  # the user deletes them
    rip(target, videos, "a.avi", "b.avi")  # then adds a new video
    after = score(target, "b.avi")
    (tmp_path / "b-only").mkdir()
    rip(tmp_path / "baseline", tmp_path / "b-only", "b.avi")
    before = score(tmp_path / "baseline", "b.avi")
    assert before.wrong_identity > 0
    assert after.wrong_identity < before.wrong_identity
    assert after.correct >= before.correct
    assert len(read_corrections(target)) == len(wrong)


def test_a_crop_moved_to_a_person_never_found_yet_is_theirs(faces: Path) -> None:
    # The run's people come from its journal: a third person, never found, has no
    # folder; the user makes it and moves a crop there.
    journal = faces / ".faceripper-journal.jsonl"
    lines = journal.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    header["settings"]["people"].append(["Chance Mock", "chance", "Swimmers"])
    journal.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n", encoding="utf-8")
    path = sorted(p for p in _saved(faces) if p.startswith("hu/"))[0]
    (faces / "chance").mkdir()
    shutil.move(faces / path, faces / "chance" / path.split("/")[1])
    report = reconcile(faces)
    assert [c.to_person for c in report.moved] == ["Chance Mock"]
    row = _saved(faces)["chance/" + path.split("/")[1]]
    assert (row["person"], row["label"], row["group"]) == ("Chance Mock", "chance", "Swimmers")


def test_a_manifest_without_the_pose_columns_resumes(lfw_clip, faces: Path) -> None:
    """A dataset written before the ``yaw`` and ``roll`` columns (its manifest has the
    columns up to ``detector``) resumes: rip rewrites the manifest with the current
    header, its rows kept with those columns empty."""
    import csv

    from faceripper.writer import MANIFEST_COLUMNS

    manifest = faces / "manifest.csv"
    rows = read_manifest(manifest)
    assert rows and all(r["yaw"] and r["roll"] for r in rows)  # aligned crops: landmarks
    old = list(MANIFEST_COLUMNS[: MANIFEST_COLUMNS.index("detector") + 1])
    with manifest.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, old, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli(rip_args(lfw_clip, faces, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    assert manifest.read_text(encoding="utf-8").split("\n", 1)[0] == ",".join(MANIFEST_COLUMNS)
    again = read_manifest(manifest)
    assert [r["path"] for r in again] == [r["path"] for r in rows]
    assert all(r["yaw"] == "" and r["roll"] == "" for r in again)
