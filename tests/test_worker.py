"""The worker without models: decisions on tracks built by hand, and which frames a
segment owns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceripper.tracker import Tracker
from faceripper.tracks import Observation, Track
from faceripper.video import plan_segments, reach, scan_video
from faceripper.worker import (
    DEDUPE_RECENT,
    References,
    RipSettings,
    SegmentResult,
    SegmentTask,
    SegmentWalk,
    finish_tracks,
    owned_frames,
    starts_shot,
)

#: Two people's reference rows (these tests give each face its distances by hand; the
#: encodings matter only to the video step's near rule for unconfirmed tracks).
TWO_PEOPLE = References(np.eye(2, 128), np.arange(2, dtype=np.int64), 2)


def observation(frame: int, signature: np.ndarray, encoded: bool) -> Observation:
    return Observation(
        frame=frame,
        time_s=frame / 30,
        face_index=0,
        box_trbl=(10, 110, 110, 10),
        sharpness=200.0,
        blurry=False,
        distances=np.array([0.3, 0.8]) if encoded else None,
        jpeg=b"jpeg",
        signature=signature,
    )


def finished(signatures: list[np.ndarray], dedupe: bool = True) -> SegmentResult:
    track = Track("0.0", [observation(i, s, i % 10 == 0) for i, s in enumerate(signatures)])
    track.votes[0] = 1
    tracker = Tracker()
    tracker.finished = [track]
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=dedupe), result, TWO_PEOPLE)
    return result


rng = np.random.default_rng(0)
A, B, C = (rng.normal(size=(16, 16)).astype(np.float32) for _ in range(3))


def test_a_still_face_whose_crop_alternates_between_two_variants_keeps_two():
    result = finished([A, B] * 10)
    assert [h.frame for h in result.hits] == [0, 1]
    assert result.counts["deduplicated"] == 18


@pytest.mark.parametrize("gap", [DEDUPE_RECENT + 1, DEDUPE_RECENT + 3])
def test_a_variant_seen_longer_ago_than_the_recent_crops_is_kept_again(gap):
    others = [rng.normal(size=(16, 16)).astype(np.float32) for _ in range(gap - 1)]
    result = finished([A, *others, A])
    assert len(result.hits) == gap + 1


def test_no_dedupe_keeps_every_crop():
    assert len(finished([A, B, A, C, A], dedupe=False).hits) == 5


def face(frame: int, distances: list[float], encoding: np.ndarray, right: int = 110) -> Observation:
    return Observation(
        frame=frame,
        time_s=frame / 30,
        face_index=0 if right < 200 else 1,
        box_trbl=(10, right, 110, right - 100),
        sharpness=200.0,
        blurry=False,
        distances=np.array(distances),
        jpeg=b"jpeg",
        encoding=encoding,
    )


def finish(tracks: list[Track]) -> SegmentResult:
    tracker = Tracker()
    tracker.finished = tracks
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=False), result, TWO_PEOPLE)
    return result


def test_a_track_of_two_people_is_split_and_each_part_saved_under_its_own():
    first, second = np.zeros(128), np.full(128, 0.1)  # 1.13 apart
    observations = [face(f, [0.3, 0.9], first) for f in range(4)]
    observations += [face(f, [0.9, 0.25], second) for f in range(4, 8)]
    result = finish([Track("0.0", observations)])
    assert [(h.frame, h.person, h.track) for h in result.hits] == [
        *((f, 0, "0.0") for f in range(4)),
        *((f, 1, "0.0/4.0") for f in range(4, 8)),
    ]
    assert result.counts["track_splits"] == 1 and result.counts["tracks"] == 2


def test_two_faces_of_one_frame_are_never_saved_as_one_person():
    near = Track("0.0", [face(f, [0.25, 0.9], np.zeros(128)) for f in range(5)])
    far = Track("0.1", [face(f, [0.35, 0.9], np.full(128, 0.1), right=410) for f in range(5)])
    result = finish([far, near])
    assert {h.track for h in result.hits} == {"0.0"}
    assert len(result.hits) == 5
    assert result.counts["tracks_same_frame"] == 1
    assert result.ambiguous[0] == 5  # the other face's crops, counted under the person


# --------------------------------------------------------------------------------------
# Which frames a segment owns (no models: a generated video of plain shots)
# --------------------------------------------------------------------------------------

N_FRAMES = 130
#: First frames of the second and third shots.
CUTS = (37, 81)
RESET = 25


@pytest.fixture(scope="module")
def shots_video(tmp_path_factory) -> Path:
    """130 frames of three plain shots (a small square moving over each), keyframes
    every 20 frames, never at the cuts."""
    from test_video import write_video

    frames = []
    for i in range(N_FRAMES):
        shot = sum(i >= c for c in CUTS)
        image = np.full((96, 160, 3), (60, 170, 100)[shot], np.uint8)
        x = 10 + i % 60
        image[40:56, x : x + 16] = 230
        frames.append(image)
    path = tmp_path_factory.mktemp("shots") / "shots.mp4"
    write_video(path, frames, options={"g": "20", "keyint_min": "20", "sc_threshold": "0"})
    return path


def walk_plan(
    path: Path, ranges: list[tuple[int, int]], settings: RipSettings
) -> tuple[list[tuple[int, bool]], list[SegmentWalk]]:
    """The (frame, reset point) pairs every segment of a plan yields, in order."""
    scan = scan_video(path)
    block = settings.block_frames(scan.fps)
    owned, walks = [], []
    for i, (start, end) in enumerate(ranges):
        window = scan.window(start, reach(end, scan.frame_count, block))
        task = SegmentTask(i, "shots.mp4", path, window, start, end)
        walk = SegmentWalk()
        owned += [(d.index, reset) for d, _, reset in owned_frames(task, settings, walk)]
        assert walk.planned == end - start
        walks.append(walk)
    return owned, walks


@pytest.mark.parametrize("every", [1, 2, 3])
def test_every_looked_at_frame_is_owned_once_with_the_same_reset_points(shots_video, every):
    settings = RipSettings(every=every, reset_frames=RESET)
    block = RESET * every
    whole, _ = walk_plan(shots_video, [(0, N_FRAMES)], settings)
    looked_at = list(range(0, N_FRAMES, every))
    assert [f for f, _ in whole] == looked_at
    first_after_cut = {next(f for f in looked_at if f >= c) for c in CUTS}
    assert {f for f, reset in whole if reset} == {*range(0, N_FRAMES, block), *first_after_cut}
    scan = scan_video(shots_video)
    plans = [plan_segments(scan, size, 8, block) for size in (7, 10, 20, 30, 60, 300)]
    plans += [[(0, 36), (36, 38), (38, 80), (80, 82), (82, N_FRAMES)]]  # around the cuts
    plans += [[(i, min(i + 5, N_FRAMES)) for i in range(0, N_FRAMES, 5)]]
    for plan in plans:
        owned, walks = walk_plan(shots_video, plan, settings)
        assert owned == whole, plan
        # What a segment decodes past its end, or leaves to the one before, is bounded.
        for (_, end), walk in zip(plan, walks, strict=True):
            assert walk.decoded - walk.planned <= reach(end, N_FRAMES, block) - end
            assert walk.skipped * every <= block


def test_a_segment_that_ends_on_a_block_decodes_nothing_past_it(shots_video):
    _, walks = walk_plan(
        shots_video, [(0, 50), (50, 100), (100, N_FRAMES)], RipSettings(reset_frames=RESET)
    )
    assert [w.decoded - w.planned for w in walks] == [0, 0, 0]
    assert [w.skipped for w in walks] == [0, 0, 0]


def test_reset_points_are_cuts_and_block_starts():
    from faceripper.shots import frame_thumbnail

    def thumbnail(level: int) -> np.ndarray:
        return frame_thumbnail(np.full((360, 640, 3), level, np.uint8))

    still = thumbnail(60)
    assert starts_shot(None, still, 0, 300)
    assert starts_shot(still, still, 600, 300)
    assert not starts_shot(None, still, 601, 300)  # nothing to compare with
    assert not starts_shot(still, thumbnail(70), 601, 300)
    assert starts_shot(still, thumbnail(160), 601, 300)


def test_the_engine_and_device_are_not_part_of_the_resume_check(tmp_path):
    from faceripper.config import Config, Person
    from faceripper.pipeline import run_fingerprint

    config = Config((Person("amy", "amy", "", tmp_path),), tmp_path)
    references = References(np.zeros((1, 128)), np.zeros(1, dtype=np.int64), 1)
    default = run_fingerprint(config, references, RipSettings())
    for engine, device in (("dlib", "cpu"), ("opencv", "cpu"), ("onnxruntime", "cuda")):
        other = RipSettings(engine=engine, device=device)  # type: ignore[arg-type]
        assert run_fingerprint(config, references, other) == default
    assert "engine" not in default and "device" not in default
    assert run_fingerprint(config, references, RipSettings(margin=0.5)) != default


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p.write_text("not a video"), "cannot open video (Invalid data found"),
        (lambda p: p.mkdir(), "cannot open video (Is a directory)"),
        (lambda p: None, "No such file or directory"),
    ],
    ids=["not a video", "a folder", "missing"],
)
def test_a_video_that_cannot_be_scanned_comes_back_as_its_error(
    tmp_path: Path, make, problem: str
) -> None:
    import pickle

    from faceripper.video import VideoError
    from faceripper.worker import try_scan

    path = tmp_path / "clip.mp4"
    make(path)
    error = try_scan(path)
    assert isinstance(error, VideoError)
    assert str(error).startswith(f"{path}: {problem}") and "\n" not in str(error)
    back = pickle.loads(pickle.dumps(error))  # it travels back from the worker
    assert type(back) is VideoError and str(back) == str(error)


def test_a_video_scanned_in_a_worker_is_its_scan(tmp_path: Path) -> None:
    import cv2

    from faceripper.worker import try_scan

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), 20 * i, dtype=np.uint8))
    writer.release()
    assert try_scan(path) == scan_video(path)
    assert scan_video(path).frame_count == 10


@pytest.mark.parametrize("adapt", [True, False])
def test_a_turning_face_is_kept_by_its_confident_views_with_adapt(adapt):
    # Two frames matched with confidence, then a turn (steps of 0.1) to eight views
    # 0.55 from the reference: the median, 0.55, drops it from the references alone.
    step = np.zeros(128)
    step[0] = 0.1
    distances = [[0.30, 0.9]] * 2 + [[0.45, 0.9]] + [[0.55, 0.9]] * 8
    observations = [face(f, d, f * step) for f, d in enumerate(distances)]
    tracker = Tracker()
    tracker.finished = [Track("0.0", observations)]
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=False, adapt=adapt), result, TWO_PEOPLE)
    assert len(result.hits) == (11 if adapt else 0)
    assert all(h.person == 0 for h in result.hits)
    assert result.counts["tracks_own_core"] == adapt
    # A jump of 0.5 at once (a missed cut to a look-alike, under the split's 0.6) keeps it
    # dropped.
    jumped = [face(f, d, f * step + (f > 5) * 4 * step) for f, d in enumerate(distances)]
    tracker.finished = [Track("0.0", jumped)]
    result = SegmentResult(0)
    finish_tracks(tracker, RipSettings(dedupe=False, adapt=adapt), result, TWO_PEOPLE)
    assert result.hits == []
