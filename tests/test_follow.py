"""Following a person's face where HOG loses it (faceripper.follow), and the alignment
of turned faces: real models on real photos and a real video file."""

from __future__ import annotations

import csv
import functools
import json
import multiprocessing
import shutil
import subprocess
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceripper.detector import detect_cnn_around, detect_cnn_scored, detect_faces
from faceripper.encoder import encode_faces
from faceripper.follow import (
    FOLLOW_CANDIDATE_SLACK,
    FOLLOW_MAX_S,
    FOLLOW_MAX_SEARCHES,
    FOLLOW_MIN_VOTES,
    FOLLOW_MISSES,
    FollowSettings,
    candidate,
    choose,
    follow_lost,
    follow_order,
    followed_person,
    waits,
)
from faceripper.geometry import iou
from faceripper.images import load_rgb
from faceripper.pose import (
    FRONTAL_NOSE_OFFSET,
    TURNED_MAX_ROLL,
    alignment_roll,
    nose_offset,
    roll_degrees,
)
from faceripper.testing.poses import occlude_image
from faceripper.tracks import Observation, Track

# ----------------------------------------------------------------------- pure rules


def _track(votes: dict[int, int], followed_tail: int = 0) -> Track:
    """Three HOG faces at 30 frames/s, then ``followed_tail`` followed ones."""
    observations = [Observation(f, f / 30, 0, (0, 100, 100, 0), 1.0, False) for f in range(3)]
    observations += [
        Observation(3 + f, (3 + f) / 30, 0, (0, 100, 100, 0), 1.0, False, followed=True)
        for f in range(followed_tail)
    ]
    track = Track("0.0", observations)
    track.votes.update(votes)
    return track


@pytest.mark.parametrize(
    ("votes", "tail", "expected"),
    [
        ({0: FOLLOW_MIN_VOTES}, 0, 0),
        ({1: 5}, round(FOLLOW_MAX_S * 30) - 1, 1),  # followed for just under the limit
        ({0: FOLLOW_MIN_VOTES - 1}, 0, -1),  # not yet anyone's
        ({0: 5, 1: 1}, 0, -1),  # its faces disagree
        ({2: 5}, 0, -1),  # a negative identity (2 people)
        ({0: 5}, round(FOLLOW_MAX_S * 30) + 1, -1),  # followed long enough
        ({}, 0, -1),
    ],
)
def test_followed_person(votes, tail, expected):
    assert followed_person(_track(votes, tail), n_people=2) == expected


@pytest.mark.parametrize(
    ("distances", "votes", "expected"),
    [
        ([[0.52, 0.7, 0.8], [0.46, 0.7, 0.8]], {}, 0),  # borderline, no votes yet
        ([[0.38, 0.7, 0.8]], {0: 1}, 0),  # one vote
        ([[0.7, 0.5, 0.8], [0.7, 0.53, 0.8]], {}, 1),
        ([[0.6, 0.7, 0.8], [0.58, 0.7, 0.8]], {}, -1),  # too far from anyone
        ([[0.45, 0.7, 0.3]], {2: 1}, -1),  # a negative's (2 people)
        ([[0.7, 0.7, 0.5]], {}, -1),  # nearest a negative
        ([[0.45, 0.7, 0.8], [0.52, 0.38, 0.8]], {1: 1}, -1),  # someone else voted
        ([[0.45, 0.7, 0.8]], {0: 1, 1: 1}, -1),
    ],
)
def test_a_candidate_track_is_followed_before_it_is_decided(distances, votes, expected):
    """With the tolerance, a track not yet decided is followed as the person its
    encoded faces lie nearest, within tolerance + FOLLOW_CANDIDATE_SLACK."""
    track = _track(votes)
    for observation, row in zip(track.observations, distances, strict=False):
        observation.distances = np.array(row)
    assert followed_person(track, n_people=2, tolerance=0.4) == expected
    assert candidate(track, n_people=2, tolerance=0.4) == (expected if len(votes) < 2 else -1)
    assert FOLLOW_CANDIDATE_SLACK == 0.15
    # Without the tolerance, only a person's track (FOLLOW_MIN_VOTES votes) is followed.
    assert followed_person(track, n_people=2) == -1
    # It waits for a face through at most FOLLOW_MISSES missed frames.
    track.misses = FOLLOW_MISSES - 1
    assert waits(track, 2, 0.4) is (expected >= 0)
    track.misses = FOLLOW_MISSES
    assert not waits(track, 2, 0.4)


LAST = np.array([100, 200, 200, 100])


@pytest.mark.parametrize(
    ("found", "scores", "others", "expected"),
    [
        ([[104, 204, 204, 104]], [0.9], [], 0),
        ([[104, 204, 204, 104]], [0.1], [], -1),  # too weak a face
        ([[100, 330, 200, 230]], [1.0], [], -1),  # away from the track: a neighbour
        ([[80, 250, 250, 80]], [1.0], [], -1),  # twice the size
        ([[130, 170, 170, 130]], [1.0], [], -1),  # under --min-size (40 px)
        # 70 px: under --min-size, within FOLLOW_SIZE_SLACK of it (the CNN's box is smaller)
        ([[115, 185, 185, 115]], [1.0], [], 0),
        ([[104, 204, 204, 104]], [1.0], [[110, 230, 210, 130]], -1),  # another face there
        ([[100, 330, 200, 230], [110, 210, 210, 110]], [1.0, 0.5], [[100, 330, 200, 230]], 1),
    ],
)
def test_choose(found, scores, others, expected):
    row = choose(
        LAST,
        np.array(found, dtype=np.int64),
        np.array(scores, dtype=np.float32),
        np.array(others, dtype=np.int64).reshape(-1, 4),
        min_size_px=80,
    )
    assert row == expected


def test_the_cnn_searches_of_a_frame_are_bounded():
    """Six lost tracks to follow in one frame: FOLLOW_MAX_SEARCHES CNN searches (a real
    CNN on a frame without faces), the people's tracks first, then the candidates
    nearest first; the others are skipped (they wait for the next frame)."""
    image = np.full((360, 640, 3), 120, np.uint8)
    tracks = []
    for i, (votes, distance) in enumerate([({}, 0.5), ({0: 2}, 0.3), ({}, 0.45), ({}, 0.52),
                                           ({}, 0.41), ({0: 1}, 0.38)]):  # fmt: skip
        track = _track(votes)
        for observation in track.observations:
            observation.box_trbl = (100, 100 * i + 90, 190, 100 * i)
            observation.distances = np.array([distance, 0.8])
        tracks.append(track)
    order = follow_order(tracks, n_people=2, tolerance=0.4)
    assert [tracks.index(t) for t, _ in order] == [1, 5, 4, 2, 0, 3]
    settings = FollowSettings(
        min_size_px=80, tolerance=0.4, ambiguity_gap=0.0, landmarks="5", engine="dlib",
        device="cpu", encodings=np.zeros((1, 128)), person=np.zeros(1, np.int64),
        n_identities=2, n_people=2,
    )  # fmt: skip
    counts: Counter[str] = Counter()
    found = follow_lost(image, np.zeros((0, 4), np.int64), tracks, tracks, settings, counts)
    assert len(found) == 0
    assert counts["follow_searches"] == FOLLOW_MAX_SEARCHES == 4
    assert counts["follow_skipped"] == 2


# -------------------------------------------------------------------- real faces


@functools.cache
def _photo_face(photo: Path) -> tuple[np.ndarray, np.ndarray]:
    image = load_rgb(photo)
    return image, detect_faces(image, upsample=0)[0]


def _tilted_patch(photo: Path, face_px: int, size: tuple[int, int], angle: float) -> np.ndarray:
    """A ``size`` (w, h) view of ``photo`` centred on its face, the face ``face_px``
    wide, the whole view turned by ``angle`` degrees (a head tilting)."""
    image, (top, right, bottom, left) = _photo_face(photo)
    side = right - left
    cx, cy = (left + right) / 2, (top + bottom) / 2 + 0.1 * side
    factor = face_px / side
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, factor)
    matrix[0, 2] += size[0] / 2 - cx
    matrix[1, 2] += size[1] / 2 - cy
    return cv2.warpAffine(
        image, matrix, size, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101
    )


@pytest.fixture(scope="module")
def fresh():
    """A process of its own for dlib's CNN: a process that ran it forks workers whose
    first CNN call hangs (dlib's thread pool), and later tests fork rip's workers."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def _tilted_detections(testdata: Path, angle: float) -> tuple:
    patch = np.ascontiguousarray(
        _tilted_patch(testdata / "face_recognition" / "obama3.jpg", 110, (240, 240), angle)
    )
    boxes, scores = detect_cnn_scored(patch)
    around = detect_cnn_around(patch, np.array([65, 175, 175, 65]))
    points = encode_faces(patch, boxes[:1], encode=np.zeros(1, dtype=bool)).landmarks_xy
    return detect_faces(patch, upsample=0), boxes, scores, around, points


def test_cnn_finds_a_tilted_face_hog_misses(testdata, fresh):
    """The case following is for: a real face tilted 60 degrees."""
    hog, boxes, scores, (around, around_scores), _ = fresh.submit(
        _tilted_detections, testdata, 60
    ).result()
    assert len(hog) == 0
    assert boxes.dtype == np.int64 and scores.dtype == np.float32
    assert len(boxes) == 1 and scores[0] > 0.5
    assert len(around) == 1 and iou(around, boxes)[0, 0] > 0.5 and around_scores[0] > 0.5


def _hamilton_frame(testdata: Path, index: int) -> np.ndarray:
    capture = cv2.VideoCapture(str(testdata / "face_recognition" / "short_hamilton_clip.mp4"))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = capture.read()
    capture.release()
    assert ok
    return np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def test_a_profile_is_not_spun(testdata):
    """Lin-Manuel Miranda's profile (Hamilton clip, frame 20, the CNN's box): dlib's
    landmarks claim a 19 degree roll along his brow; the crop is rotated 10 at most."""
    frame = _hamilton_frame(testdata, 20)
    box = np.array([0, 630, 222, 404])
    points = encode_faces(frame, box[None], encode=np.zeros(1, dtype=bool)).landmarks_xy[0]
    assert abs(roll_degrees(points)) > 10
    assert nose_offset(points) > FRONTAL_NOSE_OFFSET
    assert abs(alignment_roll(points)) == TURNED_MAX_ROLL
    # His frontal close-up (frame 150) keeps its whole roll.
    frame = _hamilton_frame(testdata, 150)
    box = np.array([40, 291, 135, 197])
    points = encode_faces(frame, box[None], encode=np.zeros(1, dtype=bool)).landmarks_xy[0]
    assert nose_offset(points) < FRONTAL_NOSE_OFFSET
    assert alignment_roll(points) == roll_degrees(points)


@pytest.mark.parametrize("angle", [30, 45, 50, 55])
def test_a_tilted_frontal_face_is_levelled(testdata, fresh, angle):
    """obama3.jpg tilted: at 50 and 55 degrees its landmarks read it as turned (a nose
    offset of 0.20 and 0.23), but its roll (40 and 45) is no profile's: levelled."""
    *_, points = fresh.submit(_tilted_detections, testdata, angle).result()
    assert alignment_roll(points[0]) == roll_degrees(points[0])
    assert abs(alignment_roll(points[0])) > angle - 12


# ----------------------------------------------------------- a rip on a real video

#: The clip's frames: the head tilt (degrees) at the known person's place in each frame
#: ...
TILTS = [0] * 6 + list(range(5, 70, 5)) + [60] * 3 + [70] * 4
#: ... where in the last 4 frames a stranger's tilted face has taken his place.
SWAPPED = range(len(TILTS) - 4, len(TILTS))
KNOWN_X, NEIGHBOUR_X, FACE_Y = 225, 395, 180
PATCH = (170, 220)


@pytest.fixture(scope="module")
def tilt_clip(testdata, tmp_path_factory):
    """Barack Obama (obama3.jpg), frontal for 6 frames, then tilting his head 5 degrees
    a frame to 65 and holding 60 (HOG loses him from about 45), next to Amy Adams (a
    stranger, frontal, her face 170 px from his), in a real MJPG video; then, for the
    last 4 frames, Amy Adams tilted 70 degrees in his place (HOG cannot see her). His
    references are two other photos, and Joe Biden is referenced too."""
    base = tmp_path_factory.mktemp("follow")
    train = testdata / "face_recognition" / "knn_examples" / "train"
    for person, photos in {
        "barack_obama": [train / "obama" / "obama.jpg", train / "obama" / "obama2.jpg"],
        "joe_biden": [train / "biden" / "biden.jpg"],
    }.items():
        folder = base / "refs" / person
        folder.mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, folder)
    videos = base / "videos"
    videos.mkdir()
    writer = cv2.VideoWriter(
        str(videos / "tilt.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360)
    )
    neighbour = _tilted_patch(testdata / "openface" / "adams.jpg", 110, PATCH, 0)
    for index, angle in enumerate(TILTS):
        frame = np.full((360, 640, 3), (120, 130, 110), np.uint8)
        photo = "openface/adams.jpg" if index in SWAPPED else "face_recognition/obama3.jpg"
        known = _tilted_patch(testdata / photo, 110, PATCH, angle)
        for patch, x in ((known, KNOWN_X), (neighbour, NEIGHBOUR_X)):
            top, left = FACE_Y - PATCH[1] // 2, x - PATCH[0] // 2
            frame[top : top + PATCH[1], left : left + PATCH[0]] = patch
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return base


def _rip(base: Path, name: str, *extra: str) -> tuple[list[dict[str, str]], str]:
    """``faceripper rip`` in its own process, as a user runs it. (Not in this one: a
    worker forked from a process that ran dlib's CNN hangs in its first CNN call.)"""
    target = base / name
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(base / "refs"),
        "--video-dir", str(base / "videos"), "--target-dir", str(target),
        "--cache", str(base / "refs.npz"), "--min-size", "80", "--no-dedupe",
        "--threads", "1", *extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle)), done.stdout


def test_rip_follows_a_tilting_head_and_never_the_neighbour(tilt_clip):
    rows, summary = _rip(tilt_clip, "followed")
    assert {r["person"] for r in rows} == {"barack_obama"}
    for row in rows:  # every crop is his face, never hers
        centre_x = (int(row["left"]) + int(row["right"])) / 2
        assert abs(centre_x - KNOWN_X) < 40, row
    detectors = Counter(r["detector"] for r in rows)
    followed = sorted(int(r["frame"]) for r in rows if r["detector"] == "followed")
    hog = sorted(int(r["frame"]) for r in rows if r["detector"] == "hog")
    assert detectors["hog"] >= 6 and detectors["followed"] >= 5, detectors
    assert all(r["encoded"] == "0" for r in rows if r["detector"] == "followed")
    assert f"{len(followed)} faces followed" in summary
    # The head tilted beyond what HOG sees is saved, in frames HOG had no face of his.
    assert not set(followed) & set(hog)
    assert max(TILTS[f] for f in followed) >= 60
    assert min(TILTS[f] for f in followed) >= 30
    # The stranger who took his place is not followed as him: her encoding is unlike his.
    assert not {int(r["frame"]) for r in rows} & set(SWAPPED)
    journal = (tilt_clip / "followed" / ".faceripper-journal.jsonl").read_text()
    vetoed = sum(json.loads(line).get("counts", {}).get("follow_vetoed", 0)
                 for line in journal.splitlines())  # fmt: skip
    assert vetoed >= 1
    # A followed crop of a head tilted up to 60 degrees is levelled: HOG finds its face,
    # its eyes within 15 degrees of level (dlib's landmarks underestimate a 60 degree
    # tilt by 10 to 15).
    levelled = [r for r in rows if r["detector"] == "followed" and TILTS[int(r["frame"])] <= 60]
    assert len(levelled) >= 3
    for row in levelled:
        crop = load_rgb(tilt_clip / "followed" / row["path"])
        boxes = detect_faces(crop, upsample=0)
        assert len(boxes) == 1, row["path"]
        points = encode_faces(crop, boxes, encode=np.zeros(1, dtype=bool)).landmarks_xy[0]
        assert abs(roll_degrees(points)) < 15, row["path"]
    # Without following, only HOG's faces: the same ones.
    plain, summary = _rip(tilt_clip, "plain", "--no-follow")
    assert "0 faces followed" in summary
    assert {r["detector"] for r in plain} == {"hog"}
    assert sorted(int(r["frame"]) for r in plain) == hog


#: The head of a second clip, frame by frame: a first shot of :data:`CUT_AT` frames with
#: Obama tilted 55 degrees (on another background), then a second where he is still
#: tilted 55 degrees (HOG cannot see him), then comes upright 5 degrees a frame.
CUT_AT = 12
TILTS_BACK = [55] * (CUT_AT + 2) + list(range(50, 0, -5)) + [0] * 4


@pytest.fixture(scope="module")
def upright_clip(testdata, tilt_clip):
    """The tilt clip's people and references, in a video where his head starts tilted
    and comes upright (:data:`TILTS_BACK`), next to Amy Adams (frontal)."""
    base = tilt_clip / "upright"
    (base / "videos").mkdir(parents=True)
    shutil.copytree(tilt_clip / "refs", base / "refs")
    writer = cv2.VideoWriter(
        str(base / "videos" / "upright.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360)
    )
    neighbour = _tilted_patch(testdata / "openface" / "adams.jpg", 110, PATCH, 0)
    for index, angle in enumerate(TILTS_BACK):
        background = (30, 30, 40) if index < CUT_AT else (120, 130, 110)
        frame = np.full((360, 640, 3), background, np.uint8)
        known = _tilted_patch(testdata / "face_recognition" / "obama3.jpg", 110, PATCH, angle)
        for patch, x in ((known, KNOWN_X), (neighbour, NEIGHBOUR_X)):
            top, left = FACE_Y - PATCH[1] // 2, x - PATCH[0] // 2
            frame[top : top + PATCH[1], left : left + PATCH[0]] = patch
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return base


def test_rip_follows_a_head_backwards_before_hog_sees_it(upright_clip):
    """A head HOG first sees as it comes upright is followed back to where it was
    tilted, never across the shot cut; the same faces however the video is cut into
    segments."""
    rows, summary = _rip(upright_clip, "back")
    assert {r["person"] for r in rows} == {"barack_obama"}
    for row in rows:  # every crop is his face, never hers
        assert abs((int(row["left"]) + int(row["right"])) / 2 - KNOWN_X) < 40, row
    followed = sorted(int(r["frame"]) for r in rows if r["detector"] == "followed")
    hog = sorted(int(r["frame"]) for r in rows if r["detector"] == "hog")
    assert hog and followed, (hog, followed)
    # The followed faces come before HOG's first, in a row up to it, back to the
    # second shot's first frame (tilted 55 degrees), never into the first shot (he is
    # there too, as tilted, in the same place).
    assert followed == list(range(CUT_AT, min(hog)))
    assert f"{len(followed)} faces followed" in summary
    # Cut into segments of 10 frames and run on 2 processes: the same crops.
    cut, _ = _rip(upright_clip, "back-cut", "--segment-frames", "10", "--threads", "2")
    assert sorted((r["frame"], r["detector"], r["path"]) for r in cut) == sorted(
        (r["frame"], r["detector"], r["path"]) for r in rows
    )
    # Without following backwards' buffer (--no-follow), none of them.
    plain, _ = _rip(upright_clip, "back-plain", "--no-follow")
    assert sorted(int(r["frame"]) for r in plain) == hog


#: A third clip, frame by frame: what is at the known person's place. His head is seen
#: frontal by HOG in one frame only (frame 5, searched whole: one vote, a candidate, not
#: yet a person's track), tilted 55-60 degrees around it (HOG cannot see him), gone for
#: two frames (8-9: nothing there), back tilted; a stranger's face tilted 70 degrees
#: (Amy Adams, whom the CNN finds there) takes his place before and after him.
GAP_CLIP = [
    ("adams", 70), ("adams", 70), ("adams", 70), ("obama", 55), ("obama", 55), ("obama", 0),
    ("obama", 55), ("obama", 60), (None, 0), (None, 0), ("obama", 60), ("obama", 55),
    ("adams", 70), ("adams", 70), ("adams", 70), ("adams", 70),
]  # fmt: skip
GAP_FOLLOWED = {3, 4, 6, 7, 10, 11}


@pytest.fixture(scope="module")
def gap_clip(testdata, tilt_clip):
    """The tilt clip's people and references, in a video of :data:`GAP_CLIP`, with Amy
    Adams frontal beside his place throughout."""
    base = tilt_clip / "gap"
    (base / "videos").mkdir(parents=True)
    shutil.copytree(tilt_clip / "refs", base / "refs")
    writer = cv2.VideoWriter(
        str(base / "videos" / "gap.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360)
    )
    photos = {"adams": "openface/adams.jpg", "obama": "face_recognition/obama3.jpg"}
    neighbour = _tilted_patch(testdata / photos["adams"], 110, PATCH, 0)
    for who, angle in GAP_CLIP:
        frame = np.full((360, 640, 3), (120, 130, 110), np.uint8)
        patches = [(neighbour, NEIGHBOUR_X)]
        if who is not None:
            patches.append((_tilted_patch(testdata / photos[who], 110, PATCH, angle), KNOWN_X))
        for patch, x in patches:
            top, left = FACE_Y - PATCH[1] // 2, x - PATCH[0] // 2
            frame[top : top + PATCH[1], left : left + PATCH[0]] = patch
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return base


def test_rip_follows_an_undecided_track_through_missed_frames_never_the_stranger(gap_clip):
    """A track HOG sees once (a candidate for a person, not yet decided) is followed
    backwards from its start and forwards, through two frames where nothing is found;
    the stranger who takes his place before and after is never saved, nor anything in
    the frames where he is gone."""
    rows, summary = _rip(gap_clip, "gap")
    assert {r["person"] for r in rows} == {"barack_obama"}
    for row in rows:  # every crop is his face, never hers
        assert abs((int(row["left"]) + int(row["right"])) / 2 - KNOWN_X) < 40, row
    frames = {int(r["frame"]): r["detector"] for r in rows}
    assert frames[5] == "hog"
    assert {f for f, d in frames.items() if d == "followed"} == GAP_FOLLOWED
    assert set(frames) == GAP_FOLLOWED | {5}
    assert f"{len(GAP_FOLLOWED)} faces followed" in summary
    journal = (gap_clip / "gap" / ".faceripper-journal.jsonl").read_text()
    vetoed = sum(json.loads(line).get("counts", {}).get("follow_vetoed", 0)
                 for line in journal.splitlines())  # fmt: skip
    assert vetoed >= 2  # her face, found before and after him, refused both ways
    # Forwards her face was refused as unlike his, not as someone else's: it was
    # encoded again in his last box (landmarks that failed in the CNN's box), and
    # refused again.
    retries = sum(json.loads(line).get("counts", {}).get("follow_retries", 0)
                  for line in journal.splitlines())  # fmt: skip
    assert retries >= 1
    # Without following, only HOG's face.
    plain, _ = _rip(gap_clip, "gap-plain", "--no-follow")
    assert [(int(r["frame"]), r["detector"]) for r in plain] == [(5, "hog")]


def _follow_back_held(testdata: Path) -> tuple[list, list, int]:
    """A track that starts (frame 6, frontal) without being followed (its first face
    not encoded), its face tilted 55 degrees in the 4 frames before, and before those
    Amy Adams tilted 70 degrees in his place (frames 0-1); it becomes Barack
    Obama's (two encoded frontal faces) only once those frames have left the kept
    ones. Followed backwards from the regions held at its start, and, for comparison,
    from the whole frames: ``(frame, box, crop)`` of each face found, and how many
    regions were held."""
    from collections import deque

    from faceripper.encoder import face_distances
    from faceripper.faces import Faces
    from faceripper.follow import FollowSettings
    from faceripper.followback import FrameFaces, RecentFrame, follow_back
    from faceripper.matching import person_distances

    train = testdata / "face_recognition" / "knn_examples" / "train"
    refs = [
        train / "obama" / "obama.jpg",
        train / "obama" / "obama2.jpg",
        train / "biden" / "biden.jpg",
    ]
    encodings = np.concatenate([
        encode_faces(load_rgb(p), detect_faces(load_rgb(p), upsample=1)[:1]).encodings for p in refs
    ])  # fmt: skip
    person = np.array([0, 0, 1], dtype=np.int64)
    settings = FollowSettings(
        min_size_px=80, tolerance=0.4, ambiguity_gap=0.04, landmarks="5", engine="auto",
        device="cpu", encodings=encodings, person=person, n_identities=2, n_people=2,
    )  # fmt: skip
    obama, adams = testdata / "face_recognition" / "obama3.jpg", testdata / "openface" / "adams.jpg"
    images = []
    for photo, angle in [(adams, 70)] * 2 + [(obama, 55)] * 4 + [(obama, 0)] * 3:
        frame = np.full((360, 640, 3), (120, 130, 110), np.uint8)
        top, left = FACE_Y - PATCH[1] // 2, KNOWN_X - PATCH[0] // 2
        frame[top : top + PATCH[1], left : left + PATCH[0]] = _tilted_patch(
            photo, 110, PATCH, angle
        )
        images.append(frame)
    out = []
    held_count = 0
    for hold in (True, False):
        recent: deque[RecentFrame] = deque(maxlen=15)
        for f in range(6):
            assert len(detect_faces(images[f], upsample=0)) == 0  # HOG cannot see him
            recent.append(
                RecentFrame(f, f / 30, images[f], FrameFaces(Faces(np.zeros((0, 4), np.int64)), 0))
            )
        boxes = detect_faces(images[6], upsample=0)
        assert len(boxes) == 1
        box = tuple(int(v) for v in boxes[0])
        track = Track("6.0", [Observation(6, 6 / 30, 0, box, 1.0, False)])  # not encoded
        held: dict[int, list[RecentFrame]] = {}
        counts: Counter[str] = Counter()
        follow_back([track], recent, settings, counts, held if hold else None)
        assert not track.followed_back and len(track.observations) == 1
        if hold:
            held_count = len(held[id(track)])
            recent.clear()  # those frames leave the kept ones: their regions are held
            follow_back([track], recent, settings, counts, held)
            assert [r.whole for r in held[id(track)]] == [False] * held_count
        for f in (7, 8):
            faces = encode_faces(images[f], np.array([box]))
            distances = person_distances(face_distances(faces.encodings, encodings), person, 2)[0]
            track.observations.append(
                Observation(f, f / 30, 0, box, 1.0, False, distances=distances,
                            encoding=faces.encodings[0])
            )  # fmt: skip
            track.votes[int(np.argmin(distances))] += int(distances.min() <= 0.4)
        follow_back([track], recent, settings, counts, held if hold else None)
        assert track.followed_back and held == {}
        assert counts["follow_vetoed"] >= 1  # the stranger in his place (frames 0-1)
        out.append([(o.frame, o.box_trbl, o.jpeg) for o in track.observations if o.followed])
    return out[0], out[1], held_count


def test_a_track_is_followed_back_from_regions_held_at_its_start(testdata, fresh):
    """The frames before a track's first face are held (regions around its first box)
    until it becomes a person's: following backwards then finds the faces it would
    have found in the whole frames, the same boxes and the same crops (within JPEG and
    resampling rounding), and stops at the stranger who had his place before."""
    from_regions, from_frames, held = fresh.submit(_follow_back_held, testdata).result()
    assert held == 6
    assert [f for f, _, _ in from_regions] == [2, 3, 4, 5]  # not the stranger's frames
    assert [(f, box) for f, box, _ in from_regions] == [(f, box) for f, box, _ in from_frames]
    for (_, _, held_jpeg), (_, _, frame_jpeg) in zip(from_regions, from_frames, strict=True):
        crops = [cv2.imdecode(np.frombuffer(j, np.uint8), 1) for j in (held_jpeg, frame_jpeg)]
        # The same crop, but for the rounding of the landmarks moved by the region's place.
        assert np.abs(crops[0].astype(int) - crops[1]).max() <= 8


def _follow_hand_covered(testdata: Path) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """Lin-Manuel Miranda's face, 100 px, a hand over it from 0.46 of its height (HOG
    misses it; the CNN's score depends on the region it is searched in), lost by a track
    whose last box is the CNN's of it. Returns what a CNN search around that box alone
    links (-1: nothing), what :func:`follow_lost` takes for his track and for a
    stranger's (Obama's encodings) in the same place, and his HOG box."""
    photo = testdata / "face_recognition" / "lin-manuel-miranda.png"
    image, (_, right, _, left) = _photo_face(photo)
    factor = 100 / (right - left)
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    frame = np.ascontiguousarray(small)
    hog = detect_faces(frame, upsample=0)[0]
    covered = np.ascontiguousarray(occlude_image(frame, tuple(int(v) for v in hog), 0.46))
    assert len(detect_faces(covered, upsample=0)) == 0
    boxes, scores = detect_cnn_around(covered, hog)
    last = boxes[int(np.argmax(scores))]  # the CNN's box of the previous frame
    around, around_scores = detect_cnn_around(covered, last)
    alone = choose(last, around, around_scores, np.zeros((0, 4), np.int64), 80)
    obama, obama_box = _photo_face(testdata / "face_recognition" / "obama3.jpg")
    taken = []
    for encoding in (
        encode_faces(frame, hog[None, :]).encodings[0],
        encode_faces(obama, obama_box[None, :]).encodings[0],
    ):
        box = tuple(int(v) for v in hog)
        track = Track(
            "0.0",
            [Observation(f, f / 30, 0, box, 100.0, False, np.array([0.3]), encoding=encoding)
             for f in range(2)]
            + [Observation(2, 2 / 30, 0, tuple(int(v) for v in last), 100.0, False, followed=True)],
        )  # fmt: skip
        track.votes.update({0: 2})
        settings = FollowSettings(
            min_size_px=80, tolerance=0.6, ambiguity_gap=0.0, landmarks="5", engine="dlib",
            device="cpu", encodings=encoding[None, :], person=np.zeros(1, np.int64),
            n_identities=1, n_people=1,
        )  # fmt: skip
        none = np.zeros((0, 4), np.int64)
        taken.append(follow_lost(covered, none, [track], [track], settings, Counter()))
    return alone, taken[0], taken[1], hog


def test_a_hand_covered_face_lost_in_the_cnn_box_is_found_around_the_last_hog_box(testdata, fresh):
    """Where the CNN finds no face around a followed track's last (CNN) box, it searches
    once more around the track's last HOG box: a weak MMOD detection (a hand over the
    mouth) depends on the region's scale and place. What is found there still passes
    every check: for a stranger's track in the same place it is not taken."""
    alone, own, stranger, hog = fresh.submit(_follow_hand_covered, testdata).result()
    assert alone == -1  # the search around the last box alone loses it
    assert own.shape == (1, 4) and iou(own, hog[None, :])[0, 0] >= 0.5  # his face
    assert stranger.shape == (0, 4)  # a stranger's track never takes it
