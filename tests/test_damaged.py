"""Damaged, truncated and duplicated videos, on real files the tests write and break.

A damaged file here is a clean H.264 clip (MP4, Matroska, MPEG-TS) with a stretch of its
bytes overwritten with zeros in the middle, as a bad sector or a broken copy leaves it.
Each frame spells its index (:func:`test_video.index_frame`) over noise, so that the
packets are large and a decoded frame proves which one it is.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_video import BLOCK, index_frame, read_index, write_video

from faceripper.decoding import Damage, decode_frames, lost_runs, merge_lost
from faceripper.duplicates import unique_videos
from faceripper.pipeline import VideoInput
from faceripper.video import plan_segments, reach, scan_video
from faceripper.worker import RipSettings, SegmentTask, SegmentWalk, owned_frames

av = pytest.importorskip("av")

N_FRAMES = 200
GOP = 50


def ranges_of(frames: list[int]) -> list[tuple[int, int]]:
    """Sorted frame indices as ``(first, last)`` runs."""
    runs: list[tuple[int, int]] = []
    for frame in frames:
        if runs and runs[-1][1] + 1 == frame:
            runs[-1] = (runs[-1][0], frame)
        else:
            runs.append((frame, frame))
    return runs


def noisy_frames(seed: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(N_FRAMES):
        frame = index_frame(i)
        frame[2 * BLOCK :] = rng.integers(0, 256, frame[2 * BLOCK :].shape, dtype=np.uint8)
        frames.append(frame)
    return frames


@pytest.fixture(scope="module", params=["mp4", "mkv", "ts"])
def damaged(request, tmp_path_factory) -> tuple[Path, Path]:
    """A clean clip (keyframes every 50 frames, B-frames) and a copy with 2% of its bytes
    zeroed at 40% of the file."""
    base = tmp_path_factory.mktemp("damaged")
    clean = base / f"clean.{request.param}"
    options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "3"}
    write_video(clean, noisy_frames(), options=options)
    data = bytearray(clean.read_bytes())
    at, size = len(data) * 2 // 5, len(data) // 50
    data[at : at + size] = bytes(size)
    broken = base / f"broken.{request.param}"
    broken.write_bytes(bytes(data))
    return clean, broken


def kept(path: Path, plan: list[tuple[int, int]]) -> list[tuple[int, float, np.ndarray]]:
    """The frames each range of ``plan`` decodes, as a worker decodes them."""
    scan = scan_video(path)
    frames = []
    for start, end in plan:
        for frame in decode_frames(path, scan.window(start, end), start, end):
            frames.append((frame.index, frame.time_s, frame._frame.to_ndarray(format="rgb24")))
    return frames


def test_decoding_goes_on_past_the_damage_and_keeps_only_clean_frames(damaged):
    clean, broken = damaged
    scan = scan_video(broken)
    damage = Damage()
    whole = [f.index for f in decode_frames(broken, scan, 0, scan.frame_count, damage)]
    lost = sorted(set(range(scan.frame_count)) - set(whole))
    runs = ranges_of(lost)
    assert runs and damage.reason
    # Each stretch lost ends just before a keyframe: decoding starts afresh there.
    assert all(last + 1 in scan.keyframes for _, last in runs), (runs, scan.keyframes)
    assert len(lost) <= GOP  # before: everything after the damage in its segment
    # Every frame kept is the clean file's frame of that time, to the last pixel (the
    # frames after the damage up to the next keyframe decode without any mark, wrong).
    truth = {round(t * 25): image for _, t, image in kept(clean, [(0, N_FRAMES)])}
    for index, time_s, image in kept(broken, [(0, scan.frame_count)]):
        number = round(time_s * 25)
        assert read_index(image) == number, index
        assert np.array_equal(image, truth[number]), index


def test_the_frames_kept_do_not_depend_on_the_segments(damaged):
    _, broken = damaged
    scan = scan_video(broken)
    count = scan.frame_count
    whole = [(i, t) for i, t, _ in kept(broken, [(0, count)])]
    lost = sorted(set(range(count)) - {i for i, _ in whole})
    around = [lost[0] - 1, lost[0], lost[0] + 1, lost[-1], lost[-1] + 1]
    plans = [plan_segments(scan, size) for size in (7, 25, 40)]
    plans.append(list(zip([0, *around], [*around, count], strict=True)))
    for plan in plans:
        assert [(i, t) for i, t, _ in kept(broken, plan)] == whole, plan


def walk(path: Path, plan: list[tuple[int, int]], settings: RipSettings):
    """The (frame, reset point) pairs the segments of ``plan`` own, and the frames lost
    that they report."""
    scan = scan_video(path)
    block = settings.block_frames(scan.fps)
    owned, lost = [], []
    for i, (start, end) in enumerate(plan):
        window = scan.window(start, reach(end, scan.frame_count, block))
        segment = SegmentWalk()
        task = SegmentTask(i, path.name, path, window, start, end)
        owned += [(d.index, reset) for d, _, reset in owned_frames(task, settings, segment)]
        lost += segment.lost
    return owned, ranges_of([f for a, b in lost for f in range(a, b + 1)])


@pytest.mark.parametrize("every", [1, 3])
def test_segments_own_the_same_frames_and_reset_after_a_hole(damaged, every):
    _, broken = damaged
    settings = RipSettings(every=every, reset_frames=30)
    scan = scan_video(broken)
    whole, lost = walk(broken, [(0, scan.frame_count)], settings)
    assert lost
    decoded = {i for i, _, _ in kept(broken, [(0, scan.frame_count)])}
    assert lost == ranges_of([f for f in range(scan.frame_count) if f not in decoded])
    resets = {frame for frame, reset in whole if reset}
    after = [next(f for f, _ in whole if f > last) for _, last in lost if last + 1 < N_FRAMES]
    assert set(after) <= resets  # no face track goes on across a hole
    first, last = lost[0]
    around = sorted({first - every, first, first + 1, last, last + 1, last + every})
    plans = [plan_segments(scan, size, 8, 30 * every) for size in (7, 20, 60)]
    plans.append(list(zip([0, *around], [*around, scan.frame_count], strict=True)))
    for plan in plans:
        assert walk(broken, plan, settings) == (whole, lost), plan


def test_the_lines_of_a_videos_segments_merge_into_one():
    lines = [
        "v.mp4: decoding failed (Invalid data found when processing input): "
        "frames 90-99 (3.00-3.33 s) lost",
        "v.mp4: decoding failed (Invalid data found when processing input): "
        "frames 100-119 (3.33-4.00 s) lost",
        "v.mp4: decoding failed (a corrupt picture): frame 135 (4.50-4.53 s), "
        "140-162 (4.67-5.43 s) lost",
    ]
    assert lost_runs(lines[2]) == [(135, 135, 4.5, 4.53), (140, 162, 4.67, 5.43)]
    assert merge_lost(None, lines) == (
        "v.mp4: decoding failed (Invalid data found when processing input): "
        "frames 90-119 (3.00-4.00 s), 135 (4.50-4.53 s), 140-162 (4.67-5.43 s) lost"
    )
    crashed = "v.mp4: the worker process crashed"
    assert merge_lost(crashed, lines[:1]) == f"{crashed}; frames 90-99 (3.00-3.33 s) lost"
    old = "v.mp4: decoding failed (x) at frame 90: frames 90-119 lost, frames 60-89 kept"
    assert lost_runs(old) == [(90, 119, None, None)]  # a journal line of an earlier version


# ---------------------------------------------------------------------- cut short


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    """The same 4-second clip (100 frames at 25 fps) in four containers, and each cut
    after 60% of its bytes."""
    base = tmp_path_factory.mktemp("clips")
    frames = noisy_frames()[:100]
    paths = {}
    for name, options in (
        ("front.mp4", {"movflags": "faststart"}),
        ("clip.mkv", {}),
        ("clip.ts", {}),
    ):
        paths[name] = base / name
        write_video(paths[name], frames, container_options=options)
    import cv2

    paths["clip.avi"] = base / "clip.avi"
    writer = cv2.VideoWriter(
        str(paths["clip.avi"]), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"), 25, (160, 96)
    )
    for frame in frames:
        writer.write(frame[:, :, ::-1])
    writer.release()
    for name in list(paths):
        data = paths[name].read_bytes()
        paths["cut_" + name] = base / ("cut_" + name)
        paths["cut_" + name].write_bytes(data[: len(data) * 6 // 10])
    return paths


@pytest.mark.parametrize("name", ["front.mp4", "clip.mkv", "clip.avi"])
def test_a_file_cut_short_is_scanned_to_its_end_with_a_warning(clips, name):
    whole, cut = scan_video(clips[name]), scan_video(clips["cut_" + name])
    assert whole.frame_count == 100 and not whole.truncated
    count = cut.frame_count
    assert 50 <= count < 100
    missing = f"frames {count}-99" if name != "clip.mkv" else f"frames after {count - 1}"
    end = f"{count / 25:.1f}" if name != "clip.mkv" else r"\d\.\d"
    assert re.fullmatch(
        rf"{re.escape(str(clips['cut_' + name]))}: ends at {end} s of its 4\.0 s "
        rf"\(truncated\?\): {missing} missing",
        cut.truncated,
    ), cut.truncated
    frames = list(decode_frames(clips["cut_" + name], cut, 0, count))
    assert [read_index(f.rgb()) for f in frames] == list(range(count))


def test_a_file_cut_short_with_b_frames_loses_no_frame_it_holds(tmp_path):
    """The end of the file cuts through a packet (corrupt): the decoder still holds the
    last frames before it (B-frames reorder them); they are the file's, and decoded.
    Before, frames 57-58 of 59 were lost and the segment said the video was damaged."""
    whole, cut = tmp_path / "b.mp4", tmp_path / "cut_b.mp4"
    options = {"g": str(GOP), "keyint_min": str(GOP), "sc_threshold": "0", "bf": "3"}
    frames = noisy_frames()[:100]
    write_video(whole, frames, options=options, container_options={"movflags": "faststart"})
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 6 // 10])
    scan = scan_video(cut)
    assert scan.truncated and 50 <= scan.frame_count < 100
    decoded = list(decode_frames(cut, scan, 0, scan.frame_count))
    assert [f.index for f in decoded] == list(range(scan.frame_count))
    assert [read_index(f.rgb()) for f in decoded] == list(range(scan.frame_count))
    settings = RipSettings(reset_frames=30)
    for plan in ([(0, scan.frame_count)], plan_segments(scan, 20, 8, 30)):
        owned, lost = walk(cut, plan, settings)
        assert not lost, plan  # a warning only, no frame lost (no error, exit code 0)
        assert [i for i, _ in owned] == list(range(scan.frame_count))


def test_a_cut_mpeg_ts_keeps_no_length_to_compare_with(clips):
    # MPEG-TS keeps no length in a header: cut short, it is a shorter video.
    assert not scan_video(clips["cut_clip.ts"]).truncated


def test_ordinary_videos_are_not_said_to_be_cut_short(testdata, clips):
    videos = [
        testdata / "face_recognition" / "short_hamilton_clip.mp4",
        testdata / "face-api.js" / "test_video_5frames.mp4",
        *(clips[name] for name in ("front.mp4", "clip.mkv", "clip.ts", "clip.avi")),
    ]
    for path in videos:
        assert scan_video(path).truncated == "", path


# ---------------------------------------------------------------------- duplicates


def test_the_same_content_under_other_names_is_found(tmp_path):
    a = tmp_path / "a.mp4"
    a.write_bytes(os.urandom(3 << 20))
    shutil.copy(a, tmp_path / "b.mp4")  # a copy
    os.link(a, tmp_path / "c.mp4")  # a hard link
    (tmp_path / "d.mp4").symlink_to(a)  # a symbolic link
    other = bytearray(a.read_bytes())
    other[len(other) // 2] ^= 1  # same size, same ends, one byte differs in the middle
    (tmp_path / "e.mp4").write_bytes(bytes(other))
    videos = [VideoInput(tmp_path / n, n) for n in ("a.mp4", "b.mp4", "c.mp4", "d.mp4", "e.mp4")]
    unique, left_out = unique_videos(videos)
    assert [v.key for v in unique] == ["a.mp4", "e.mp4"]
    assert [d.line() for d in left_out] == [
        f"{tmp_path / n}: the same video as {tmp_path / 'a.mp4'}, skipped"
        for n in ("b.mp4", "c.mp4", "d.mp4")
    ]
    # Resuming a target that holds crops of b.mp4 (a.mp4 added since): b.mp4 is kept.
    unique, left_out = unique_videos(videos, held={"b.mp4"})
    assert [v.key for v in unique] == ["b.mp4", "e.mp4"]
    assert [d.skipped.key for d in left_out] == ["a.mp4", "c.mp4", "d.mp4"]
    assert left_out[0].kept.key == "b.mp4"
