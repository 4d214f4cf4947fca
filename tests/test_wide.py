"""Tracks past the held-back window decided by a shared view of the video's anchors
(:mod:`faceripper.wide`), on real encodings of LFW photos: the worker holds such a track
back with its crops, the video's step gives it its person only through faces of that
person's anchors in the same video, never a stranger's track, never without an anchor."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from faceripper import wide
from faceripper.adaptive import SHARED_VIEW
from faceripper.encoder import encode_faces
from faceripper.geometry import as_boxes
from faceripper.heldback import Anchor, PendingTrack
from faceripper.images import load_rgb
from faceripper.testing import load_face_sources
from faceripper.tracker import Tracker
from faceripper.tracks import Observation, Track
from faceripper.worker import References, RipSettings, SegmentResult, finish_tracks

LEVITTE, HENLEY = "Jean-David_Levitte", "Don_Henley"
TOLERANCE = 0.4


def encode(path, box, camera: bool) -> np.ndarray:
    """A photo's face encoding; ``camera``: as another shot shows it (0.7x, JPEG 50)."""
    image = load_rgb(path)
    if camera:
        small = cv2.resize(image, None, fx=0.7, fy=0.7, interpolation=cv2.INTER_AREA)
        _, jpeg = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 50])
        image = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        box = tuple(round(v * 0.7) for v in box)
    return encode_faces(image, as_boxes([box])).encodings[0]


@pytest.fixture(scope="module")
def faces(testdata) -> dict[str, np.ndarray]:
    """Levitte's photo 1 (his reference), 3 (0.26 from it), 6 (0.51) and 10 (0.54), and
    photo 6 under another camera; Don Henley's photo nearest Levitte's (0.58)."""
    out = {}
    folder = testdata / "lfw_dev"
    levitte = {s.path.name: s for s in load_face_sources(folder / LEVITTE, identity=LEVITTE)}
    for n in (1, 3, 6, 10):
        s = levitte[f"{LEVITTE}_{n:04d}.jpg"]
        out[f"levitte{n}"] = encode(s.path, s.box, camera=False)
    s = levitte[f"{LEVITTE}_0006.jpg"]
    out["levitte6 camera"] = encode(s.path, s.box, camera=True)
    henley = load_face_sources(folder / HENLEY, identity=HENLEY)
    encodings = [encode(s.path, s.box, camera=False) for s in henley]
    out["henley"] = min(encodings, key=lambda e: float(np.linalg.norm(e - out["levitte1"])))
    return out


def track(faces: dict[str, np.ndarray], keys: list[str], first: int, name: str) -> PendingTrack:
    """A held-back track of ``keys``' faces, each twice, its median to Levitte's photo."""
    encodings = np.stack([faces[k] for k in keys for _ in range(2)])
    median = float(np.median(np.linalg.norm(encodings - faces["levitte1"], axis=1)))
    return PendingTrack(name, first, first + 20, np.array([median]), encodings)


def test_the_real_faces_are_what_the_tests_say(faces):
    ref = faces["levitte1"]
    for key, low, high in (("levitte3", 0.2, 0.3), ("levitte6", 0.5, 0.52)):
        assert low < np.linalg.norm(faces[key] - ref) < high
    assert np.linalg.norm(faces["levitte6"] - faces["levitte6 camera"]) < SHARED_VIEW - 0.05
    assert 0.55 < np.linalg.norm(faces["henley"] - ref) < 0.6


def test_the_worker_holds_a_track_past_the_window_back_with_its_crops(faces):
    ref = faces["levitte1"]
    shown = ["levitte6 camera", "levitte10", "levitte6 camera", "levitte10"]
    observations = [
        Observation(
            frame=f,
            time_s=f / 25,
            face_index=0,
            box_trbl=(10, 110, 110, 10),
            sharpness=200.0,
            blurry=False,
            distances=np.array([np.linalg.norm(faces[k] - ref)]),
            jpeg=b"jpeg",
            encoding=faces[k],
        )
        for f, k in enumerate(shown)
    ]
    tracker = Tracker()
    tracker.finished = [Track("0.0", observations)]
    result = SegmentResult(0)
    references = References(ref[None], np.zeros(1, dtype=np.int64), 1)
    finish_tracks(tracker, RipSettings(dedupe=False), result, references)
    assert result.hits == []  # nothing saved by the references: its median is 0.52
    held = [t for t in result.pending if not t.notes_only]
    assert [len(t.hits) for t in held] == [4]
    assert wide.is_wide(held[0], 1, TOLERANCE)
    assert result.counts["tracks_wide"] == 1
    assert [len(t.hits) for t in result.pending if t.notes_only] == [1]  # the notes as before


def test_a_shared_view_of_the_anchors_gives_it_and_nothing_else_does(faces):
    # An anchor shot of Levitte: his photo 3 (matched with confidence), turning to photo 6.
    anchor = Anchor(0, 0, 20, np.stack([faces["levitte3"], faces["levitte6"]]))
    # A later shot shows photo 6 under another camera, then photo 10: 0.52 by the median.
    his = track(faces, ["levitte6 camera", "levitte10"], 100, "100.0")
    henley = track(faces, ["henley"], 200, "200.0")  # a stranger 0.58 from the photo
    assert wide.is_wide(his, 1, TOLERANCE) and wide.is_wide(henley, 1, TOLERANCE)
    decided = wide.decide([his, henley], [anchor], 1, TOLERANCE, trust_references=False)
    assert [(d.person, d.reason) for d in decided] == [(0, "shared view"), (-1, wide.REASON)]
    # No anchor of Levitte in the video: the references alone never give such a track.
    decided = wide.decide([his, henley], [], 1, TOLERANCE, trust_references=False)
    assert [d.person for d in decided] == [-1, -1]
    # Beside his anchor (a frame shared: two faces, two people) it is not his either.
    beside = Anchor(0, 90, 110, anchor.encodings)
    assert wide.decide([his], [beside], 1, TOLERANCE, trust_references=False)[0].person == -1


@pytest.fixture
def crowd(faces) -> list[PendingTrack]:
    """A crowd of strangers past the window: ``PER_PERSON`` tracks of Don Henley (0.58
    from Levitte's photo), then Levitte's own track (0.52), then one more of Henley's."""
    tracks = [track(faces, ["henley"], 30 + 5 * i, f"h{i}") for i in range(wide.PER_PERSON)]
    his = track(faces, ["levitte6 camera", "levitte10"], 400, "his")
    return [*tracks, his, track(faces, ["henley"], 450, "late")]


def test_tracks_past_the_window_are_held_back_the_nearest_first_a_person_at_most(faces, crowd):
    anchor = Anchor(0, 0, 20, np.stack([faces["levitte3"], faces["levitte6"]]))
    first, second = crowd[: wide.PER_PERSON], crowd[wide.PER_PERSON :]
    cap = wide.Cap()
    kept, pushed = cap.offer((0, 300), first, 1, TOLERANCE)
    assert kept == first and pushed == {}
    # Levitte's nearer track pushes the last of the crowd out of the first segment's
    # spool; the late stranger, as far as the crowd and later, is not held back.
    kept, pushed = cap.offer((300, 600), second, 1, TOLERANCE)
    assert [t.name for t in kept] == ["his"]
    assert pushed == {(0, 300): {f"h{wide.PER_PERSON - 1}"}}
    spooled = [*wide.without(first, pushed[(0, 300)], 1, TOLERANCE), *kept]
    assert len(spooled) == wide.PER_PERSON
    # The video's step decides the same on what a resumed run's spools may hold (all of
    # them) as on the capped spools: Levitte's track by a shared view, no stranger.
    assert wide.capped(crowd, 1, TOLERANCE) == {wide.PER_PERSON - 1, wide.PER_PERSON + 1}
    assert wide.capped(spooled, 1, TOLERANCE) == set()
    said = {}
    for pending in (crowd, spooled):
        decided = wide.decide(pending, [anchor], 1, TOLERANCE, trust_references=False)
        said[len(pending)] = {
            t.name: (d.person, d.reason) for t, d in zip(pending, decided, strict=True)
        }
    assert said[len(spooled)] == {
        name: said[len(crowd)][name] for name in said[len(spooled)]
    }  # fmt: skip
    assert {n: d for n, d in said[len(crowd)].items() if d[0] >= 0} == {"his": (0, "shared view")}
    assert said[len(crowd)]["late"] == said[len(crowd)]["h15"] == (-1, wide.REASON)


def test_the_committer_takes_a_pushed_out_track_out_of_its_spool(faces, crowd, tmp_path):
    from test_commit import task

    from faceripper.commit import Committer
    from faceripper.config import Config, Person
    from faceripper.spool import unpack
    from faceripper.writer import Dataset

    anchor = Anchor(0, 0, 20, np.stack([faces["levitte3"], faces["levitte6"]]))
    config = Config((Person(LEVITTE, LEVITTE, "", tmp_path),), tmp_path)
    settings = RipSettings(tolerance=TOLERANCE, run_anchors=False)
    n = wide.PER_PERSON
    with Dataset(tmp_path / "faces", {}) as dataset:
        committer = Committer(dataset, config, settings)
        committer.add_video("v.mp4", 3, 900)
        committer.add(task(0, 0, 300), SegmentResult(0, anchors=[anchor], pending=crowd[:n]))
        committer.add(task(1, 300, 600), SegmentResult(1, pending=crowd[n:]))
        committer.commit_next()
        committer.commit_next()

        def names(start: int, end: int) -> list[str]:
            return [t.name for t in unpack(dataset.spool_path("v.mp4", start, end).read_bytes())[1]]

        assert names(0, 300) == [t.name for t in crowd[: n - 1]]
        assert names(300, 600) == ["his"]
        committer.add(task(2, 600, 900), SegmentResult(2))
        committer.commit_next()  # the video's step
        assert "v.mp4" in dataset.adapted
    journal = (tmp_path / "faces" / ".faceripper-journal.jsonl").read_text().splitlines()
    adapted = [json.loads(line) for line in journal if '"adapted"' in line]
    assert [a["counts"] for a in adapted] == [
        {"adapt_shared_view": 1, "adapt_past_the_window": n - 1}
    ]
