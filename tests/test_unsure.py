"""People never matched with confidence: rip names them, shows their candidate faces,
and a candidate added as a reference saves them (real faces, real video, real rip).

A short clip of three characters of *The Big Bang Theory* (``face-api.js``): Sheldon
referenced by a crop his shown crops lie 0.29-0.40 from, Raj by the crop his shown
crops lie farthest from (``raj3``: 0.46-0.47, measured on the photos), Stuart a
stranger. Raj is never matched with confidence: his tracks are held back and refused,
none is saved.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.config import Config, Person
from faceripper.heldback import Adoption, Anchor, PendingTrack
from faceripper.latenotes import relend
from faceripper.refcache import EncodeSettings
from faceripper.refphoto import encode_reference_file
from faceripper.testing import evaluate
from faceripper.testing.sitcom import Sitcom
from faceripper.unsure import (
    PER_VIDEO,
    Candidate,
    Notice,
    Tally,
    VideoUnsure,
    journal_candidates,
    report,
    trim,
)
from faceripper.worker import FaceHit
from faceripper.writer import read_manifest

from conftest import local_cluster, run_cli


@pytest.fixture(scope="module")
def clip(raj_sitcom: Sitcom) -> Sitcom:
    return raj_sitcom


def _rip(clip: Sitcom, refs: Path, target: Path, *extra: str) -> object:
    args = ["rip", "--refs", str(refs), "--video", str(clip.video), "--target-dir", str(target)]
    return run_cli([*args, "--min-size", "80", *extra])


@pytest.fixture(scope="module")
def first_run(clip: Sitcom, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("first")
    result = _rip(clip, clip.refs, base / "faces", "--threads", "2")
    return {"base": base, "result": result}


def test_raj_gets_a_notice_and_his_candidates_outside_the_dataset(clip, first_run):
    result, base = first_run["result"], first_run["base"]
    assert result.exit_code == 0, result.stderr
    target = base / "faces"
    rows = read_manifest(target / "manifest.csv")
    assert {r["label"] for r in rows} == {"sheldon"}  # Raj never saved at the defaults
    notes = [x for x in result.stderr.splitlines() if x.startswith("note: ")]
    assert len(notes) == 1, result.stderr
    note = notes[0]
    assert note.startswith("note: raj: never matched with confidence in 1 video; ")
    assert "held back at 0.4" in note and "rerun with --restart" in note
    sheet = base / "faces-review" / "unsure" / "raj.png"
    assert sheet.is_file() and f"see {sheet}" in note
    assert f"to {clip.refs / 'raj'}/" in note
    # Outside the dataset: no class folder but the people's.
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == ["sheldon"]
    candidates = journal_candidates(target)
    assert candidates and all(c.person == "raj" and c.kind == "held" for c in candidates)
    assert all((base / "faces-review" / "unsure" / c.file).is_file() for c in candidates)
    assert all(0.4 < c.distance <= 0.5 for c in candidates)
    first = candidates[0]
    assert clip.truth.identity_at(first.frame, first.box_trbl) == "raj"  # Raj, not Stuart
    # Resumed with nothing left to do, with one worker: the same notice, the same sheet.
    again = _rip(clip, clip.refs, target, "--threads", "1")
    assert again.exit_code == 0 and note in again.stderr.splitlines()


def test_a_candidate_added_as_a_reference_saves_raj_and_nobody_wrong(clip, first_run, tmp_path):
    base = first_run["base"]
    assert first_run["result"].exit_code == 0
    target = tmp_path / "faces"
    shutil.copytree(base / "faces", target)
    shutil.copytree(base / "faces-review", tmp_path / "faces-review")
    refs = tmp_path / "refs"
    shutil.copytree(clip.refs, refs)
    shown = journal_candidates(target)
    first = next(c for c in shown if clip.truth.identity_at(c.frame, c.box_trbl) == "raj")
    shutil.copy(tmp_path / "faces-review" / "unsure" / first.file, refs / "raj")
    # The aligned crop is a usable reference photo.
    checked = run_cli(["check-refs", "--refs", str(refs)])
    assert checked.exit_code == 0, checked.stderr
    found = encode_reference_file(refs / "raj" / Path(first.file).name, "raj", EncodeSettings())
    assert found.status == "ok" and found.encoding is not None, found.message
    # The target was made with the other photos: refused, with what to do.
    refused = _rip(clip, refs, target)
    assert refused.exit_code == 2
    assert "made with other reference photos" in refused.stderr
    assert "--restart" in refused.stderr
    done = _rip(clip, refs, target, "--restart")
    assert done.exit_code == 0, done.stderr
    rows = read_manifest(target / "manifest.csv")
    metrics = evaluate(rows, clip.truth, clip.label_to_identity, min_size_px=80)
    assert metrics.wrong_identity == 0 and metrics.on_distractor == 0
    raj = [r for r in rows if r["label"] == "raj" and r["status"] == "saved"]
    assert len(raj) >= 10
    assert "note: raj" not in done.stderr
    assert not (tmp_path / "faces-review" / "unsure").exists()  # nobody left unsure


def test_notice_line_and_tallies():
    held = Tally()
    for d in (0.481, 0.432, 0.455):
        held.add(d)
    notice = Notice("Raj", 1, held, Tally(), Path("review/unsure/Raj.png"), Path("refs/Raj"), ())
    line = notice.line()
    assert line.startswith(
        "Raj: never matched with confidence in 1 video; 3 tracks held back at 0.43-0.48 -> see "
    )
    assert line.endswith(" and rerun with --restart")
    near = Tally()
    near.add(0.38)
    both = Notice("Hu", 2, held, near, None, Path("refs/Hu"), ()).line()
    assert "in 2 videos; 3 tracks held back at 0.43-0.48, 1 track kept without a confident " in both
    assert "face at 0.38 -> add a face that is Hu" in both
    assert VideoUnsure.__doc__


def _track(name, ref_distance, frame, decided=-1, excluded=(), own=None):
    track = PendingTrack(name, frame, frame + 5, np.array(ref_distance), np.zeros((1, 128)))
    track.decided, track.excluded = decided, excluded
    jpeg = cv2.imencode(".jpg", np.full((40, 40, 3), 128, np.uint8))[1].tobytes()
    track.hits = [
        FaceHit(f, f / 25, 0, (10, 60, 60, 10), -1, float("nan"), 120.0, "saved", jpeg, name)
        for f in (frame, frame + 5)
    ]
    track.own_distances = [None if own is None else np.array(own), None]
    return track


def test_video_unsure_counts_and_bounds_the_candidates(tmp_path):
    people = tuple(Person(n, n.lower(), "", tmp_path / "refs" / n) for n in ("Amy", "Bo", "Cy"))
    config = Config(people, tmp_path)
    # Amy has an anchor in the video: nothing said of her.
    doubts = VideoUnsure(
        "v/clip.mp4", config, {"bo": "Bo_folder"}, [Anchor(0, 0, 9, np.zeros((1, 128)))]
    )
    refused, kept = Adoption(-1, 0.5, "no anchors"), Adoption(1, 0.3, "near")
    doubts.add(_track("a", [0.45, 0.6, 0.7], 1), refused)  # Amy's: she is confident
    doubts.add(_track("x", [0.6, 0.48, 0.7], 2, excluded=(1,)), refused)  # beside a Bo track
    for k in range(PER_VIDEO + 3):  # Bo: more held-back tracks than are kept
        doubts.add(
            _track(f"b{k}", [0.7, 0.41 + k / 100, 0.8], 10 * k + 20, own=[0.7, 0.4, 0.8]), refused
        )
    doubts.add(_track("n", [0.7, 0.39, 0.8], 300, decided=1), kept)
    doubts.add(_track("c", [0.7, 0.8, 0.47], 400, decided=2), Adoption(-1, 0.5, "no anchor"))
    doubts.write(tmp_path / "unsure")
    data = doubts.to_json()
    assert sorted(data) == ["Bo", "Cy"]
    assert data["Bo"]["held"] == [PER_VIDEO + 3, 0.41, 0.49]
    assert data["Bo"]["near"] == [1, 0.39, 0.39]
    shown = [Candidate.from_json(c) for c in data["Bo"]["candidates"]]
    assert len(shown) == PER_VIDEO and shown[0].track == "n" and shown[0].kind == "near"
    assert [c.track for c in shown[1:]] == [f"b{k}" for k in range(PER_VIDEO - 1)]
    assert shown[1].face_distance == 0.4 and shown[1].file.startswith("Bo_folder/clip-")
    assert all((tmp_path / "unsure" / c.file).is_file() for c in shown)
    # The end of the run: one notice each, a sheet each, the crops no sheet shows deleted.
    stray = tmp_path / "unsure" / "Bo_folder" / "clip-00000000-f0009999-0.jpg"
    stray.write_bytes(b"x")
    mine = tmp_path / "unsure" / "Bo_folder" / "mine.txt"
    mine.write_text("not rip's")
    notices = report({"v/clip.mp4": data}, config, {"bo": "Bo_folder"}, tmp_path / "unsure")
    assert [n.person for n in notices] == ["Bo", "Cy"]
    assert (tmp_path / "unsure" / "Bo_folder.png").is_file() and (
        tmp_path / "unsure" / "cy.png"
    ).is_file()
    assert not stray.exists() and mine.exists()
    assert "1 track kept without a confident face at 0.39" in notices[0].line()
    # As each video ends, only its people's crops are trimmed, and no sheet goes.
    stray.write_bytes(b"x")
    trim({"v/clip.mp4": data}, config, {"bo": "Bo_folder"}, tmp_path / "unsure", {"Cy"})
    assert stray.exists()
    trim({"v/clip.mp4": data}, config, {"bo": "Bo_folder"}, tmp_path / "unsure", {"Bo"})
    assert not stray.exists() and (tmp_path / "unsure" / "Bo_folder.png").is_file()
    # Bo confirmed later (no record of him): his sheet and crops go, not other files.
    report({"v/clip.mp4": {"Cy": data["Cy"]}}, config, {"bo": "Bo_folder"}, tmp_path / "unsure")
    assert not (tmp_path / "unsure" / "Bo_folder.png").exists()
    assert sorted(p.name for p in (tmp_path / "unsure" / "Bo_folder").iterdir()) == ["mine.txt"]


def test_tracks_the_runs_end_lends_are_kept_not_held_back(tmp_path):
    """:func:`faceripper.latenotes.relend`: what the run's end lends leaves the held-back
    tally and candidates, and counts as kept for the person lent (nothing for a person
    matched with confidence in the video); what it does not lend stays held back."""
    people = tuple(Person(n, n.lower(), "", tmp_path / "refs" / n) for n in ("Amy", "Bo", "Cy"))
    config, folder = Config(people, tmp_path), tmp_path / "unsure"
    doubts = VideoUnsure("v/clip.mp4", config, {}, [Anchor(0, 0, 9, np.zeros((1, 128)))])
    refused = Adoption(-1, 0.5, "no anchors")
    tracks = {
        "b1": _track("b1", [0.7, 0.45, 0.8], 20),  # Bo's, lent to Bo
        "b2": _track("b2", [0.7, 0.47, 0.5], 40),  # Bo's, lent to Cy
        "b3": _track("b3", [0.7, 0.49, 0.8], 60),  # Bo's, not kept for the run's end
        "c1": _track("c1", [0.7, 0.8, 0.46], 80),  # Cy's, lent to Amy (confident here)
    }
    for name, track in tracks.items():
        doubts.add(track, refused, late=name != "b3")
    doubts.write(folder)
    entry = doubts.to_json()
    assert entry["Bo"]["held"] == [1, 0.49, 0.49] and entry["Cy"]["late"] == [["c1", 0.46]]
    before = report({"v/clip.mp4": entry}, config, {}, folder)
    assert [n.line().split(" -> ")[0] for n in before] == [
        "Bo: never matched with confidence in 1 video; 3 tracks held back at 0.45-0.49",
        "Cy: never matched with confidence in 1 video; 1 track held back at 0.46",
    ]
    lent = [
        (tracks["b1"], Adoption(1, 0.2, "later anchors")),
        (tracks["b2"], Adoption(2, 0.2, "later anchors")),
        (tracks["c1"], Adoption(0, 0.2, "later anchors")),
    ]
    after = relend(entry, "v/clip.mp4", lent, {0}, config, {}, folder)
    assert after["Bo"]["near"] == [1, 0.45, 0.45] and "late" not in after["Bo"]
    assert [(c["track"], c["kind"]) for c in after["Bo"]["candidates"]] == [
        ("b1", "near"),
        ("b3", "held"),
    ]
    assert [(c["track"], c["kind"]) for c in after["Cy"]["candidates"]] == [("b2", "near")]
    assert (folder / after["Cy"]["candidates"][0]["file"]).is_file()  # its face, for the sheet
    notices = report({"v/clip.mp4": after}, config, {}, folder)
    assert [n.line().split(" -> ")[0] for n in notices] == [
        "Bo: never matched with confidence in 1 video; 1 track held back at 0.49, "
        "1 track kept without a confident face at 0.45",
        "Cy: never matched with confidence in 1 video; 1 track kept without a confident "
        "face at 0.50",
    ]
    assert not (folder / entry["Cy"]["candidates"][0]["file"]).exists()  # c1's: no sheet shows it
    assert entry["Cy"]["late"] == [["c1", 0.46]]  # the step's record is left as it was


@pytest.mark.slow
def test_a_dask_cluster_run_names_raj_and_shows_the_same_faces(clip, first_run, tmp_path):
    """The video step runs in the client: the notes and candidates are a local run's."""
    local = first_run["base"]
    with local_cluster() as cluster:
        result = _rip(clip, clip.refs, tmp_path / "faces", "--scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.stderr
    notes = [x for x in result.stderr.splitlines() if x.startswith("note: raj: ")]
    expected = [x for x in first_run["result"].stderr.splitlines() if x.startswith("note: raj: ")]
    assert [n.split(" -> ")[0] for n in notes] == [n.split(" -> ")[0] for n in expected]
    assert journal_candidates(tmp_path / "faces") == journal_candidates(local / "faces")
    files = sorted(p.name for p in (tmp_path / "faces-review" / "unsure" / "raj").iterdir())
    assert files == sorted(p.name for p in (local / "faces-review" / "unsure" / "raj").iterdir())
