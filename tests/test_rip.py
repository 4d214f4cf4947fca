"""rip end to end: real models, real videos, real worker processes.

Most tests share one synthetic clip made from Labeled Faces in the Wild photos (two
target people, a distractor, a blurred face), whose truth is known frame by frame;
references are other photos of the same people, never shown in the clip.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceripper.testing import (
    evaluate,
    load_truth,
)
from faceripper.writer import JOURNAL_NAME, MANIFEST_COLUMNS, Dataset, read_manifest

from conftest import TARGETS, rip_args, run_cli, tree_digest

pytestmark = pytest.mark.slow


def manifest(target: Path) -> list[dict[str, str]]:
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_rip_writes_a_clean_dataset(reference_run, lfw_clip):
    target = reference_run
    classes = sorted(p.name for p in target.iterdir() if p.is_dir())
    assert classes == ["halle", "hu"]
    header = (target / "manifest.csv").read_text(encoding="utf-8").splitlines()[0]
    spec = (
        "path,label,person,group,video,frame,time_s,top,right,bottom,left,distance,sharpness,status"
    )
    assert header.split(",")[:14] == spec.split(",")  # the columns, exactly, first
    assert header.split(",") == list(MANIFEST_COLUMNS)
    rows = manifest(target)
    files = {p.relative_to(target).as_posix() for p in target.glob("*/*") if p.is_file()}
    assert {r["path"] for r in rows} == files  # every row has its file, every file its row
    assert len(rows) == len(files) >= 20
    assert all(r["status"] == "saved" for r in rows)
    assert not any(p.name.startswith(".") for p in target.glob("*/*"))
    metrics = evaluate(rows, load_truth(lfw_clip["truth"]), TARGETS, min_size_px=60)
    assert metrics.precision >= 0.99, metrics.as_dict()
    assert metrics.on_distractor == 0 and metrics.on_blurred == 0
    assert metrics.appearance_coverage == 1.0, metrics.as_dict()  # each face, each shot


def test_rerun_continues_and_duplicates_nothing(reference_run, lfw_clip, tmp_path):
    target = tmp_path / "faces"
    shutil.copytree(reference_run, target)
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    before = tree_digest(target)
    result = run_cli(rip_args(lfw_clip, target, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    assert "(0 this run" in result.stdout
    assert tree_digest(target) == before


def test_threads_and_start_methods_give_identical_output(
    reference_run, lfw_clip, tmp_path, monkeypatch
):
    one = tmp_path / "one" / "faces"
    result = run_cli(rip_args(lfw_clip, one, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(one) == tree_digest(reference_run)
    monkeypatch.setenv("FACERIPPER_START_METHOD", "spawn")
    spawned = tmp_path / "spawn" / "faces"
    spawned.parent.mkdir()  # the references as encoded above (encoding forks either way)
    shutil.copy(one.parent / "refs.npz", spawned.parent / "refs.npz")
    result = run_cli(rip_args(lfw_clip, spawned, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(spawned) == tree_digest(reference_run)


def _faceripper(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "faceripper", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_for_rows(
    target: Path, rows: int, process: subprocess.Popen[bytes], limit_s: float = 120
) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if len(read_manifest(target / "manifest.csv")) >= rows:
            return
        if process.poll() is not None:
            pytest.fail(f"rip ended before writing {rows} rows: {process.stderr.read().decode()}")
        time.sleep(0.05)
    pytest.fail(f"no {rows} rows after {limit_s} s")


@pytest.mark.parametrize("share_before_kill", [0.0, 0.5])
def test_resume_after_kill_9_equals_uninterrupted_run(
    reference_run, lfw_clip, cached, share_before_kill
):
    # Killed after the first row, or halfway. The clip is two units of work (its two
    # shots); with one worker the second is still being computed when the first's rows
    # appear (with two, both can be done by then, and the run is finished, not cut short).
    rows_before_kill = max(1, int(share_before_kill * len(manifest(reference_run))))
    target = cached
    args = rip_args(lfw_clip, target, "--threads", "1")
    process = _faceripper(args[:])
    _wait_for_rows(target, rows_before_kill, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert tree_digest(target) != tree_digest(reference_run)  # it was really cut short
    resumed = subprocess.run(
        [sys.executable, "-m", "faceripper", *args], capture_output=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(target) == tree_digest(reference_run)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found += [int(c) for c in children]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_worker_is_replaced_and_nothing_is_lost(reference_run, lfw_clip, cached):
    target = cached
    # One worker: when the first segment's rows are written, the second one (the clip's
    # second shot) is surely in flight.
    process = _faceripper(rip_args(lfw_clip, target, "--threads", "1"))
    _wait_for_rows(target, 1, process)
    workers = _children(process.pid)
    assert workers, "no worker processes found"
    os.kill(workers[-1], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr.decode()
    assert "worker process died" in stderr.decode()
    assert tree_digest(target) == tree_digest(reference_run)


def test_corrupt_videos_are_reported_and_the_others_finish(lfw_clip, cached, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    good = lfw_clip["videos"] / "clip.avi"
    shutil.copy(good, videos / "b_good.avi")
    (videos / "a_empty.mp4").write_bytes(b"")
    (videos / "c_text.mkv").write_text("not a video at all\n" * 100)
    data = good.read_bytes()
    (videos / "d_truncated.avi").write_bytes(data[: len(data) // 3])
    (videos / "notes.txt").write_text("ignored")
    target = cached
    args = rip_args(lfw_clip, target, "--threads", "2")
    args[args.index("--video-dir") + 1] = str(videos)
    result = run_cli(args)
    assert result.exit_code == 1
    assert "a_empty.mp4" in result.stderr and "empty file" in result.stderr
    assert "c_text.mkv" in result.stderr
    assert "1 non-video file ignored" in result.stderr
    rows = manifest(target)
    assert {r["video"] for r in rows} >= {"b_good.avi"}
    assert len([r for r in rows if r["video"] == "b_good.avi"]) >= 20
    for row in rows:
        assert (target / row["path"]).is_file()


def test_a_second_rip_on_the_same_target_is_refused(lfw_clip, tmp_path):
    target = tmp_path / "faces"
    with Dataset(target, {"x": 1}):
        result = run_cli(rip_args(lfw_clip, target))
    assert result.exit_code == 2
    assert "another faceripper rip is writing to this folder" in result.stderr


def test_changed_settings_are_refused_and_restart_starts_over(reference_run, lfw_clip, cached):
    target = cached
    shutil.copytree(reference_run, target)
    result = run_cli([*rip_args(lfw_clip, target), "--margin", "0.5"])
    assert result.exit_code == 2
    assert "other settings" in result.stderr and "margin" in result.stderr
    (target / "halle" / "keep-me.txt").write_text("a user's file")
    result = run_cli([*rip_args(lfw_clip, target), "--margin", "0.5", "--restart"])
    assert result.exit_code == 0, result.stderr
    assert (target / "halle" / "keep-me.txt").exists()  # restart deletes only its own crops
    rows = manifest(target)
    assert len(rows) >= 20
    crops = {p.relative_to(target).as_posix() for p in target.glob("*/*.jpg")}
    assert crops == {r["path"] for r in rows}  # the old run's crops are gone, the new ones listed
    assert '"margin": 0.5' in (target / JOURNAL_NAME).read_text()


def test_no_videos_fails_before_any_work(lfw_clip, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no videos here")
    target = tmp_path / "faces"
    args = rip_args(lfw_clip, target)
    args[args.index("--video-dir") + 1] = str(empty)
    result = run_cli(args)
    assert result.exit_code == 2
    assert f"no videos found in {empty}" in result.stderr
    assert not target.exists()


def test_unwritable_target_fails_before_any_work(lfw_clip, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    args = rip_args(lfw_clip, blocker / "faces")
    args[args.index("--cache") + 1] = str(tmp_path / "refs.npz")
    result = run_cli(args)
    assert result.exit_code == 2
    assert "cannot write to the target folder" in result.stderr
    assert not (tmp_path / "refs.npz").exists()  # failed before encoding anything


def rip_hamilton(hamilton: dict[str, Path], target: Path, *extra: str) -> object:
    """Rip the Hamilton clip with its two reference photos, through the CLI."""
    return run_cli(
        [
            "rip",
            "--refs",
            str(hamilton["refs"]),
            "--video",
            str(hamilton["video"]),
            "--target-dir",
            str(target),
            "--tolerance",
            "0.6",
            "--min-size",
            "60",
            "--threads",
            "2",
            *extra,
        ]
    )


@pytest.fixture(scope="session")
def hamilton_run(hamilton, tmp_path_factory) -> tuple[Path, object]:
    """The Hamilton clip ripped at the defaults (but tolerance and minimum size)."""
    target = tmp_path_factory.mktemp("hamilton-run") / "faces"
    return target, rip_hamilton(hamilton, target)


def test_hamilton_clip_end_to_end(hamilton_run):
    target, result = hamilton_run
    assert result.exit_code == 0, result.stderr
    classes = {p.name for p in target.iterdir() if p.is_dir()}
    assert classes <= {"lin_manuel_miranda", "alex_lacamoire"}
    rows = manifest(target)
    by_label = {label: [r for r in rows if r["label"] == label] for label in classes}
    assert len(by_label["lin_manuel_miranda"]) >= 60  # he is in most shots (near duplicates out)
    files = {p.relative_to(target).as_posix() for p in target.glob("*/*")}
    assert {r["path"] for r in rows} == files
    for row in rows:
        assert row["video"] == "short_hamilton_clip.mp4" or row["video"].endswith(
            "/short_hamilton_clip.mp4"
        )
        assert 0 <= int(row["frame"]) < 275
        top, right, bottom, left = (int(row[k]) for k in ("top", "right", "bottom", "left"))
        assert 0 <= top < bottom <= 360 and 0 <= left < right <= 640
        assert bottom - top >= 60 and right - left >= 60
        assert float(row["distance"]) <= 0.6
        assert abs(float(row["time_s"]) - int(row["frame"]) / 29.97) < 0.01
    assert "lin_manuel_miranda" in result.stdout  # the summary table


def test_dataset_loads_with_torchvision_imagefolder(hamilton_run):
    torchvision = (
        pytest.importorskip(
            "torchvision",
            reason="torchvision is in the 'test' extra: pip install -e '.[test]'",
        )
        if os.environ.get("CI", "").lower() != "true"
        else __import__("torchvision")
    )
    target, _ = hamilton_run
    dataset = torchvision.datasets.ImageFolder(str(target))
    rows = manifest(target)
    assert dataset.classes == sorted({r["label"] for r in rows})
    loaded = sorted(Path(path).relative_to(target).as_posix() for path, _ in dataset.samples)
    assert loaded == sorted(r["path"] for r in rows)
    image, label = dataset[0]
    assert image.size[0] >= 60 and dataset.classes[label] in {r["label"] for r in rows}


def test_cnn_model_on_the_engine_finds_what_dlibs_cnn_finds(testdata, tmp_path):
    import av
    import cv2
    import numpy as np

    from faceripper.images import load_rgb
    from faceripper.models import dlib_has_cuda

    photo = load_rgb(
        testdata / "face_recognition" / "knn_examples" / "train" / "obama" / "obama2.jpg"
    )
    scale = 300 / photo.shape[0]
    photo = cv2.resize(photo, (round(photo.shape[1] * scale), 300), interpolation=cv2.INTER_AREA)
    video = tmp_path / "obama.mp4"
    # A frame not much larger than the photo: dlib's CNN on the CPU costs by the pixel
    # (at --min-size 50 the frame is searched at 1.56 times its size).
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 320, "yuv420p"
        for i in range(3):
            frame = np.full((320, 320, 3), 80, np.uint8)
            frame[10:310, 100 + 5 * i : 100 + 5 * i + photo.shape[1]] = photo
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    refs = tmp_path / "refs" / "obama"
    refs.mkdir(parents=True)
    shutil.copy(testdata / "face_recognition" / "obama3.jpg", refs)
    runs = {}
    for engine in ("auto", "dlib"):
        target = tmp_path / f"faces-{engine}"
        # In a process of its own: workers forked from a process that has run dlib's
        # networks (this test process may have) hang in dlib's thread pool.
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "faceripper",
                "rip",
                "--refs",
                str(refs.parent),
                "--video",
                str(video),
                "--target-dir",
                str(target),
                "--model",
                "cnn",
                "--engine",
                engine,
                "--min-size",
                "50",
                "--tolerance",
                "0.6",
                "--trust-references",  # obama2 is never matched with confidence by obama3
                "--threads",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        # only dlib's own CNN is slow without CUDA
        assert ("runs dlib's CNN on the CPU" in result.stderr) == (
            engine == "dlib" and not dlib_has_cuda()
        )
        assert "3 frames searched whole" in result.stdout  # no region searches with cnn
        runs[engine] = manifest(target)
    rows = runs["auto"]
    assert [int(r["frame"]) for r in rows] == [0, 1, 2]
    assert all(r["label"] == "obama" for r in rows)
    boxes = ["top", "right", "bottom", "left"]
    assert [[r[k] for k in boxes] for r in rows] == [[r[k] for k in boxes] for r in runs["dlib"]]


def test_cnn_model_with_a_wrong_model_file_stops_in_one_line(testdata, tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    from faceripper.models import MODEL_FILES, model_path

    for key, name in MODEL_FILES.items():
        if key != "cnn_detector":
            (models / name).symlink_to(model_path(key))
    (models / MODEL_FILES["cnn_detector"]).write_bytes(model_path("landmarks_5").read_bytes())
    refs = tmp_path / "refs" / "alex"
    refs.mkdir(parents=True)
    shutil.copy(testdata / "face_recognition" / "alex-lacamoire.png", refs)
    monkeypatch.setenv("FACERIPPER_MODELS_DIR", str(models))
    result = run_cli(
        [
            "rip",
            "--refs",
            str(refs.parent),
            "--video",
            str(testdata / "face_recognition" / "short_hamilton_clip.mp4"),
            "--target-dir",
            str(tmp_path / "faces"),
            "--model",
            "cnn",
        ]
    )
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {models / MODEL_FILES['cnn_detector']}: not dlib's MMOD")
    assert not (tmp_path / "faces" / "manifest.csv").exists()


def _crash_on_b(task):
    """A segment function whose worker dies outright on one video, as a decoder crash would."""
    from faceripper.worker import process_segment

    if task.video_key.startswith("b_"):
        os._exit(139)  # like a segfault: no exception, no cleanup, the process is gone
    return process_segment(task)


def test_a_video_that_crashes_its_worker_is_reported_and_the_others_finish(
    lfw_clip, cached, tmp_path, monkeypatch
):
    """The pool is replaced, the crashing segments are found by running them alone."""
    import faceripper.pipeline

    videos = tmp_path / "videos"
    videos.mkdir()
    clip = (lfw_clip["videos"] / "clip.avi").read_bytes()
    for name in ("a_good.avi", "b_crash.avi", "c_good.avi"):
        # The clip with its name after its end: three files (one video under three
        # names would be ripped once).
        (videos / name).write_bytes(clip + name.encode())
    monkeypatch.setattr(faceripper.pipeline, "process_segment", _crash_on_b)
    monkeypatch.setenv("FACERIPPER_START_METHOD", "fork")  # workers inherit the patch
    target = cached
    args = rip_args(lfw_clip, target, "--threads", "2")
    args[args.index("--video-dir") + 1] = str(videos)
    result = run_cli(args)
    assert result.exit_code == 1, result.stderr
    assert "b_crash.avi" in result.stderr and "worker process crashed" in result.stderr
    assert "a_good.avi" not in result.stderr and "c_good.avi" not in result.stderr
    rows = manifest(target)
    per_video = {
        v: sum(r["video"] == v for r in rows) for v in ("a_good.avi", "b_crash.avi", "c_good.avi")
    }
    assert per_video["b_crash.avi"] == 0
    assert per_video["a_good.avi"] == per_video["c_good.avi"] >= 20


def test_detect_every_searches_fewer_frames_whole_and_keeps_the_faces(
    hamilton, hamilton_run, tmp_path
):
    """Between whole-frame searches only the regions around tracked faces are searched:
    on real footage the same faces are saved under the same labels."""
    target = tmp_path / "faces"
    result = rip_hamilton(hamilton, target, "--detect-every", "1")
    assert result.exit_code == 0, result.stderr
    default_target, default_result = hamilton_run

    def searched_whole(stdout: str) -> int:
        match = re.search(r"(\d+) frames searched whole", stdout)
        assert match, stdout
        return int(match[1])

    assert searched_whole(result.stdout) == 275  # --detect-every 1: every frame
    # The default, 5: frames with a tracked face are searched whole one time in 5 (the
    # frames without one, about half of this clip's, every time).
    assert searched_whole(default_result.stdout) < 275 * 0.6
    every = {(int(r["frame"]), r["label"]) for r in manifest(target)}
    default = {(int(r["frame"]), r["label"]) for r in manifest(default_target)}
    assert {label for _, label in default} == {label for _, label in every}
    saved_frames = {frame for frame, _ in default}
    assert len(saved_frames & {frame for frame, _ in every}) >= 0.8 * len(every)


def _bug_on_frame_5(image, frame, *args, **kwargs):
    """process_frame with a bug that shows on one frame (an IndexError, say)."""
    if frame == 5:
        raise IndexError("index 3 is out of bounds for axis 0 with size 3")
    return _process_frame(image, frame, *args, **kwargs)


def test_a_bug_in_a_worker_is_one_line_and_its_traceback_is_logged_with_v(
    lfw_clip, cached, monkeypatch
):
    import faceripper.worker.segment

    global _process_frame
    _process_frame = faceripper.worker.segment.process_frame
    monkeypatch.setattr(faceripper.worker.segment, "process_frame", _bug_on_frame_5)
    monkeypatch.setenv("FACERIPPER_START_METHOD", "fork")  # workers inherit the patch
    result = run_cli(rip_args(lfw_clip, cached, "--threads", "1"))
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "IndexError" in line]
    assert len(errors) == 1 and "clip.avi" in errors[0]
    assert "Traceback" not in result.stderr
    verbose = run_cli(["-v", *rip_args(lfw_clip, cached, "--threads", "1")])
    assert verbose.exit_code == 1
    assert "Traceback" in verbose.stderr and "_bug_on_frame_5" in verbose.stderr


def test_the_engine_changes_no_decision_and_a_run_resumes_with_another(
    reference_run, lfw_clip, tmp_path
):
    # dlib's own code, from scratch: the same crops, the same labels, distances within 1e-5.
    dlib_target = tmp_path / "dlib" / "faces"
    result = run_cli(rip_args(lfw_clip, dlib_target, "--engine", "dlib", "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    ours, theirs = manifest(reference_run), manifest(dlib_target)
    assert len(ours) >= 20
    assert [{k: v for k, v in r.items() if k != "distance"} for r in ours] == [
        {k: v for k, v in r.items() if k != "distance"} for r in theirs
    ]
    for mine, dlib in zip(ours, theirs, strict=True):
        assert abs(float(mine["distance"]) - float(dlib["distance"])) <= 1e-5
    # The engine is not a setting of the target: a resumed run may use another.
    target = tmp_path / "faces"
    shutil.copytree(reference_run, target)
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    before = tree_digest(target)
    result = run_cli(rip_args(lfw_clip, target, "--engine", "opencv", "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert "(0 this run" in result.stdout
    assert tree_digest(target) == before


# --------------------------------------------------------------------------------------
# The result does not depend on how the work is cut
# --------------------------------------------------------------------------------------


def test_the_hamilton_clip_gives_the_same_crops_for_any_segment_size(
    hamilton, hamilton_run, tmp_path
):
    """As found: --segment-frames 10, 40 and 60 gave 10, 32 and 67 crops. Now segments
    of 30 frames with one worker give the bytes of the default (4 segments, 2 workers)."""
    target = tmp_path / "faces"
    result = rip_hamilton(hamilton, target, "--segment-frames", "30", "--threads", "1")
    assert result.exit_code == 0, result.stderr
    default_target, _ = hamilton_run
    assert tree_digest(target) == tree_digest(default_target)
    assert len(manifest(target)) >= 60


#: Every track ends every this many looked-at frames in :func:`long_shots`' runs (300 by
#: default): few, so that the 90-frame clip has several blocks.
SHORT_RESET = 25
#: The clip's shot cut.
CUT = 66


@pytest.fixture(scope="module")
def long_shots(lfw_clip, testdata, tmp_path_factory) -> dict[str, object]:
    """A 90-frame MPEG-4 clip (keyframes every 12 frames): a 66-frame shot of two
    target people moving, then a cut to a shot of one of them and a distractor; its
    people and their references (encoded once)."""
    from faceripper.config import config_from_refs
    from faceripper.references import EncodeSettings, encode_references
    from faceripper.testing import PlacedFace, Shot, load_face_sources, render_video

    from conftest import DISTRACTOR

    lfw = testdata / "lfw_dev"
    shown = {
        label: load_face_sources(sorted((lfw / name).glob("*.jpg"))[:3])
        for label, name in TARGETS.items()
    }
    distractor = load_face_sources(lfw / DISTRACTOR)[0]
    shots = [
        Shot(
            CUT,
            (
                PlacedFace(shown["halle"][0], (160, 180), (200, 170), 98, 110),
                PlacedFace(shown["hu"][2], (470, 180), (440, 190), 104, 94),
            ),
            (90, 110, 140),
            texture_seed=3,
        ),
        Shot(
            90 - CUT,
            (
                PlacedFace(shown["hu"][1], (130, 170), (140, 180), 102, 102),
                PlacedFace(distractor, (500, 180), (490, 170), 100, 100, is_target=False),
            ),
            (170, 150, 120),
            texture_seed=4,
        ),
    ]
    base = tmp_path_factory.mktemp("longshots")
    video = base / "videos" / "long.mp4"
    video.parent.mkdir()
    render_video(video, shots, (640, 360), fps=25.0)
    people, _ = config_from_refs(lfw_clip["refs"])
    report = encode_references(people, base / "refs.npz", EncodeSettings(), threads=1)
    return {"video": video, "people": people, "references": report.references}


def _rip_long_shots(
    clip: dict[str, object], target: Path, segment_frames: int, threads: int, every: int
) -> object:
    from faceripper.pipeline import VideoInput, rip
    from faceripper.worker import RipSettings

    video = clip["video"]
    assert isinstance(video, Path)
    settings = RipSettings(
        tolerance=0.6,
        min_size_px=60,
        blur_threshold=0.0,
        every=every,
        reset_frames=SHORT_RESET,
        trust_references=True,  # Halle's photos here are never matched with confidence
    )
    return rip(
        clip["people"],  # type: ignore[arg-type]
        clip["references"],  # type: ignore[arg-type]
        [VideoInput(video, video.name)],
        target,
        settings,
        threads=threads,
        segment_frames=segment_frames,
    )


@pytest.mark.parametrize(
    ("every", "runs"),
    [(1, [(300, 1), (20, 2), (10, 1)]), (2, [(300, 2), (10, 1)])],
)
def test_the_crops_do_not_depend_on_the_segments_or_the_workers(long_shots, tmp_path, every, runs):
    """Tracks go on across segment boundaries: the same crops and manifest, byte for
    byte, however the work is cut and shared; they end only at the cut and at the
    multiples of the reset period."""
    from faceripper.video import plan_segments, scan_video

    scan = scan_video(long_shots["video"])  # type: ignore[arg-type]
    assert scan.frame_count == 90 and 1 < len(scan.keyframes) < 90
    plans = [plan_segments(scan, size, 8, SHORT_RESET * every) for size, _ in runs]
    assert len({tuple(plan) for plan in plans}) == len(runs)
    # A segment ends before the cut, the next one's first reset point (without looking
    # before its start), so the one before goes on past its end to the cut.
    assert any(start < CUT - every < end for plan in plans for start, end in plan[1:])
    digests = []
    for size, threads in runs:
        target = tmp_path / f"s{size}-j{threads}"
        summary = _rip_long_shots(long_shots, target, size, threads, every)
        assert summary.ok and summary.frames == 90  # type: ignore[attr-defined]
        digests.append(tree_digest(target))
    assert all(d == digests[0] for d in digests[1:])
    rows = manifest(target)
    assert {r["label"] for r in rows} == {"halle", "hu"}
    starts = {int(r["track"].split(".")[0]) for r in rows}
    # The tracks end at the multiples of the reset period (in looked-at frames), and
    # at the cut.
    resets = set(range(0, 90, SHORT_RESET * every))
    assert {*(r for r in resets if r < CUT), CUT} <= starts <= {*resets, CUT}, starts
    first = sorted(int(r["frame"]) for r in rows if r["track"].startswith("0."))
    assert first[0] < 12 <= first[-1]  # a track over two segments of the last run


def test_a_bad_video_given_by_a_relative_path_is_named_once(lfw_clip, tmp_path):
    # --video's key is the absolute path; the decoder's message names the path as given.
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "broken.mp4").write_text("not a video at all\n" * 100)
    target = tmp_path / "faces"
    args = rip_args(lfw_clip, target)
    at = args.index("--video-dir")
    args[at : at + 2] = ["--video", "v/broken.mp4"]
    result = run_cli(args, cwd=tmp_path)
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    expected = "error: v/broken.mp4: cannot open video (Invalid data found when processing input)"
    assert errors == [expected]
