"""rip under faults, reproduced the way a user meets them: real ``python -m faceripper``
processes, real signals, real files.

After any ``kill -9`` or ``kill`` of the main process its workers end too and the
target is free: rerunning the same command completes and equals an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from faceripper.writer import read_manifest

from conftest import rip_args, tree_digest

pytestmark = pytest.mark.slow

LINUX_PROC = Path("/proc/self/task").exists()


def _start(args: list[str], **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "faceripper", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a shell job would have
        env={**os.environ, **env},
    )


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "faceripper", *args], capture_output=True, timeout=timeout
    )


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped, is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _wait_for_workers(
    process: subprocess.Popen[bytes], count: int, limit_s: float = 60
) -> list[int]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        workers = [p for p in _children(process.pid) if _alive(p)]
        if len(workers) >= count:
            return workers
        if process.poll() is not None:
            pytest.fail(f"rip ended early: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    pytest.fail(f"no {count} worker processes after {limit_s} s")


def _wait_for_rows(target: Path, rows: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(read_manifest(target / "manifest.csv")) >= rows:
            return
        if process.poll() is not None:
            pytest.fail(f"rip ended before {rows} rows: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.05)
    pytest.fail(f"no {rows} rows after 120 s")


def _gone(pids: list[int], limit_s: float = 10) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


def _lock_is_free(target: Path) -> bool:
    """Whether another process could take the target's lock now."""
    import fcntl

    with (target / ".faceripper.lock").open("a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return True


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_kill_9_of_rip_ends_its_workers_and_the_rerun_completes(
    reference_run, lfw_clip, cached, start_method
):
    args = rip_args(lfw_clip, cached, "--threads", "2")
    process = _start(args, FACERIPPER_START_METHOD=start_method)
    workers = _wait_for_workers(process, 2)
    _wait_for_rows(cached, 1, process)
    os.kill(process.pid, signal.SIGKILL)  # the main process only, as `kill -9 $!` does
    process.wait()
    assert _gone(workers), f"orphan workers {workers} outlived the killed rip"
    assert _lock_is_free(cached)
    if start_method != "fork":
        return  # resuming is the same for every start method (test_rip.py)
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(cached) == tree_digest(reference_run)


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_sigterm_stops_rip_like_ctrl_c_and_frees_the_target(lfw_clip, cached):
    args = rip_args(lfw_clip, cached, "--threads", "2")
    process = _start(args)
    workers = _wait_for_workers(process, 2)
    _wait_for_rows(cached, 1, process)
    started = time.monotonic()
    os.kill(process.pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == 128 + signal.SIGTERM, stderr.decode()
    assert "terminated (SIGTERM): rerun the same command to continue" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert _gone(workers)
    assert _lock_is_free(cached)  # resuming after SIGTERM: the ten kills below


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_two_ctrl_c_half_a_second_apart_exit_promptly(lfw_clip, cached):
    args = rip_args(lfw_clip, cached, "--threads", "2")
    process = _start(args)
    workers = _wait_for_workers(process, 2)
    _wait_for_rows(cached, 1, process)
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the whole group
    time.sleep(0.5)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    # 130, or killed by the second SIGINT in the last moments of the interpreter's exit
    # (a shell reports both as 130).
    assert process.returncode in (128 + signal.SIGINT, -signal.SIGINT), stderr.decode()
    assert "interrupted" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert _gone(workers)
    assert _lock_is_free(cached)


def test_ten_kills_at_random_moments_then_the_rerun_equals_an_uninterrupted_run(
    reference_run, lfw_clip, cached
):
    args = rip_args(lfw_clip, cached, "--threads", "2")
    chance = random.Random(10)
    kills = [signal.SIGKILL, signal.SIGTERM] * 5
    chance.shuffle(kills)
    for kill in kills:
        process = _start(args)
        try:  # killed at a random moment: a Python start, encoding, or ripping ...
            process.wait(timeout=chance.uniform(0.5, 4.0))
        except subprocess.TimeoutExpired:
            os.kill(process.pid, kill)
        # ... unless it ended first (the dataset complete): then the next one starts at once
        _, stderr = process.communicate(timeout=60)
        # -SIGTERM: it came while Python was still starting, before any work.
        expected = (0, -signal.SIGKILL, -signal.SIGTERM, 128 + signal.SIGTERM)
        assert process.returncode in expected, stderr.decode()
        # (A SIGTERM that lands inside a fork's at-fork hook is printed as "Exception
        # ignored in: <function _releaseLock ...>" and lost by Python: that run ends
        # normally. Any other traceback is a defect.)
        if b"Exception ignored in: <function _releaseLock" not in stderr:
            assert b"Traceback" not in stderr, stderr.decode()
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(cached) == tree_digest(reference_run)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs byte file names")
def test_a_video_name_that_is_not_utf8_is_processed_and_named_with_escapes(
    reference_run, lfw_clip, cached
):
    videos = cached.parent / "videos"
    videos.mkdir()
    bad = os.fsdecode(b"bad\xffname.avi")  # what `cp good.mp4 "$(printf 'bad\xffname')"` makes
    shutil.copy(lfw_clip["videos"] / "clip.avi", videos / bad)
    args = rip_args(lfw_clip, cached, "--threads", "2")
    args[args.index("--video-dir") + 1] = str(videos)
    result = _run(args)
    assert result.returncode == 0, result.stderr.decode()
    rows = read_manifest(cached / "manifest.csv")
    assert {r["video"] for r in rows} == {"bad\\xffname.avi"}
    assert len(rows) == len(read_manifest(reference_run / "manifest.csv"))
    for row in rows:
        assert row["path"].split("/")[1].startswith("bad_xffname-")
        assert (cached / row["path"]).is_file()
    again = _run(args)
    assert again.returncode == 0, again.stderr.decode()
    assert "(0 this run" in again.stdout.decode()


@pytest.mark.parametrize("restart", [False, True])
def test_a_foreign_manifest_is_refused_and_left_untouched(lfw_clip, cached, restart):
    cached.mkdir()
    foreign = b"a,b\n1,2\n"
    (cached / "manifest.csv").write_bytes(foreign)
    result = _run(rip_args(lfw_clip, cached, *(["--restart"] if restart else [])))
    assert result.returncode == 2
    assert result.stderr.decode().splitlines() == [
        f"error: {cached / 'manifest.csv'}: not a faceripper manifest (its first line is "
        "'a,b'); move it away or choose another --target-dir"
    ]
    assert (cached / "manifest.csv").read_bytes() == foreign
    assert sorted(p.name for p in cached.iterdir()) == [".faceripper.lock", "manifest.csv"]


def _mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` on ``folder``; False where this machine does not allow it."""
    folder.mkdir(parents=True, exist_ok=True)
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


NO_SPACE_HINT = "free some space, then rerun the same command: it continues where this run stopped"


def test_a_full_disk_stops_rip_with_one_line_and_the_rerun_completes(
    reference_run, lfw_clip, tmp_path
):
    """A real full file system: a 256 KiB tmpfs (the run writes about 700 KiB)."""
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "256k"):
        pytest.skip("cannot mount a tmpfs here (needs root on Linux); see the injected test")
    try:
        shutil.copy(reference_run.parent / "refs.npz", disk.parent / "refs.npz")
        target = disk / "faces"
        args = rip_args(lfw_clip, target, "--threads", "2")
        args[args.index("--cache") + 1] = str(disk.parent / "refs.npz")
        full = _run(args)
        assert full.returncode == 2, full.stderr.decode()
        (line,) = full.stderr.decode().splitlines()
        assert line.startswith(f"error: {target}/") and line.endswith(
            f": cannot write (No space left on device); {NO_SPACE_HINT}"
        )
        assert 0 < len(read_manifest(target / "manifest.csv")) < 46
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)  # space freed
        resumed = _run(args)
        assert resumed.returncode == 0, resumed.stderr.decode()
        assert tree_digest(target) == tree_digest(reference_run)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_an_injected_enospc_stops_rip_with_one_line_and_the_rerun_completes(
    reference_run, lfw_clip, tmp_path, monkeypatch
):
    """Where no small file system can be mounted: the crop writer raises ENOSPC (an
    injection at the file-writing layer, in-process) after 10 crops."""
    import errno

    probe = tmp_path / "probe"
    if _mount_tmpfs(probe, "64k"):
        subprocess.run(["umount", "-l", str(probe)], check=False)
        pytest.skip("a real full file system is tested here (the tmpfs test)")

    import faceripper.writer

    from conftest import run_cli

    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    target = tmp_path / "faces"
    args = rip_args(lfw_clip, target, "--threads", "2")
    real_write = faceripper.writer.atomic_write_bytes
    written: list[Path] = []

    def write_until_full(path: Path, data: bytes, fsync: bool = True) -> None:
        if path.suffix == ".jpg" and len(written) >= 10:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data, fsync)
        if path.suffix == ".jpg":
            written.append(path)

    monkeypatch.setattr(faceripper.writer, "atomic_write_bytes", write_until_full)
    full = run_cli(args)
    assert full.exit_code == 2, full.stderr
    (line,) = full.stderr.splitlines()
    assert line.startswith(f"error: {target}/")
    assert line.endswith(f": cannot write (No space left on device); {NO_SPACE_HINT}")
    assert len(read_manifest(target / "manifest.csv")) == 10
    monkeypatch.setattr(faceripper.writer, "atomic_write_bytes", real_write)
    resumed = run_cli(args)
    assert resumed.exit_code == 0, resumed.stderr
    assert tree_digest(target) == tree_digest(reference_run)


# ------------------------------------------------------------- encoding the references


def _lfw_refs(testdata: Path, refs: Path, people: int, photos: int) -> Path:
    """``photos`` reference photos of each of the first ``people`` LFW people with 10."""
    folders = [
        p for p in sorted((testdata / "lfw_dev").iterdir()) if len(list(p.glob("*.jpg"))) >= 10
    ]
    for person in folders[:people]:
        (refs / person.name).mkdir(parents=True)
        for photo in sorted(person.glob("*.jpg"))[:photos]:
            shutil.copy(photo, refs / person.name / photo.name)
    return refs


@pytest.fixture
def many_refs(testdata: Path, tmp_path: Path) -> Path:
    """24 reference photos: 3 people of Labeled Faces in the Wild with 8 photos each."""
    return _lfw_refs(testdata, tmp_path / "refs", 3, 8)


def _encode_args(refs: Path) -> list[str]:
    return ["encode", "--refs", str(refs), "--output", str(refs.parent / "refs.npz"), "-j", "2"]


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_a_worker_killed_while_encoding_loses_nothing(many_refs):
    process = _start(_encode_args(many_refs))
    workers = _wait_for_workers(process, 2)
    time.sleep(0.5)
    os.kill(workers[0], signal.SIGKILL)  # as the OOM killer would
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert "a worker process died" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert ": 24 encodings of 3 people (24 photos encoded, 0 unchanged" in stdout.decode()


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_a_photo_whose_worker_dies_twice_is_reported_in_one_line(many_refs):
    process = _start(_encode_args(many_refs))
    first = _wait_for_workers(process, 2)
    time.sleep(0.5)
    os.kill(first[0], signal.SIGKILL)  # the pool breaks: its photos are retried alone
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        alone = [p for p in _children(process.pid) if p not in first and _alive(p)]
        if alone:
            os.kill(alone[0], signal.SIGKILL)  # ... and the first of them dies again
            break
        time.sleep(0.01)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    lines = [line for line in stderr.decode().splitlines() if "died while encoding" in line]
    assert len(lines) == 1, stderr.decode()
    assert lines[0].startswith(f"warning: {many_refs.resolve()}/")
    assert lines[0].endswith(
        ": the worker process died while encoding this photo (out of memory?); skipped"
    )
    assert ": 23 encodings of 3 people (24 photos encoded, 0 unchanged" in stdout.decode()
    again = _run(_encode_args(many_refs))  # it is tried again, and now encoded
    assert ": 24 encodings of 3 people (1 photo encoded, 23 unchanged" in again.stdout.decode()


@pytest.fixture
def more_refs(testdata: Path, tmp_path: Path) -> Path:
    """160 reference photos (16 people of Labeled Faces in the Wild, 10 each): more than
    the cache's first save interval of work (SAVE_EVERY_S) even on a fast machine."""
    return _lfw_refs(testdata, tmp_path / "refs", 16, 10)


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_kill_9_while_encoding_keeps_the_encodings_done_so_far(more_refs):
    many_refs = more_refs
    cache = many_refs.parent / "refs.npz"
    process = _start(_encode_args(many_refs))
    workers = _wait_for_workers(process, 2)
    deadline = time.monotonic() + 60
    while not cache.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert _gone(workers)
    again = _run(_encode_args(many_refs))
    assert again.returncode == 0, again.stderr.decode()
    summary = again.stdout.decode()
    reused = int(summary.split(" unchanged")[0].rsplit(" ", 1)[1])
    encoded = int(summary.split(" photos encoded")[0].rsplit("(", 1)[1])
    assert 0 < reused < 160, summary  # kept from the killed run, and it was really cut short
    assert reused + encoded == 160 and "encodings of 16 people" in summary


def test_a_huge_reference_photo_is_searched_on_a_bounded_size(testdata, tmp_path):
    """An 8000 px photo: the face is found on a 2000 px copy, its box mapped back."""
    from PIL import Image

    from faceripper.encoder import face_distances
    from faceripper.references import EncodeSettings
    from faceripper.refphoto import encode_reference_file

    source = testdata / "face_recognition" / "lin-manuel-miranda.png"
    normal = encode_reference_file(source, "lin", EncodeSettings())
    with Image.open(source) as image:
        factor = 8000 / max(image.size)
        huge = image.convert("RGB").resize(
            (round(image.width * factor), round(image.height * factor)), Image.BICUBIC
        )
    path = tmp_path / "huge.jpg"
    huge.save(path, quality=95)
    started = time.process_time()  # CPU time: other jobs on the machine do not count
    result = encode_reference_file(path, "lin", EncodeSettings())
    seconds = time.process_time() - started
    assert result.status == "ok", result.message
    assert seconds < 15  # 32 s when searched whole
    top, right, bottom, left = (v * factor for v in normal.box_trbl)
    slack = 0.15 * (bottom - top)  # HOG's boxes at two scales differ a little
    for found, expected in zip(result.box_trbl, (top, right, bottom, left), strict=True):
        assert abs(found - expected) <= slack, (result.box_trbl, (top, right, bottom, left))
    assert face_distances(normal.encoding[None, :], result.encoding[None, :])[0, 0] < 0.1


# ---------------------------------------------------------------------- damaged videos


def _faststart_copy(source: Path, target: Path) -> None:
    """Remux ``source`` with its index first (``-movflags faststart``), as streamed
    MP4s are: cut short, such a file still opens."""
    import av

    with (
        av.open(str(source)) as given,
        av.open(str(target), "w", options={"movflags": "faststart"}) as written,
    ):
        stream = given.streams.video[0]
        copy = written.add_stream_from_template(stream)
        for packet in given.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                written.mux(packet)


def test_a_truncated_mp4_keeps_the_faces_before_the_cut_and_says_what_is_missing(
    hamilton, tmp_path
):
    videos = tmp_path / "videos"
    videos.mkdir()
    whole = tmp_path / "whole.mp4"
    _faststart_copy(hamilton["video"], whole)
    data = whole.read_bytes()
    (videos / "cut.mp4").write_bytes(data[: len(data) * 6 // 10])
    target = tmp_path / "faces"
    args = ["rip", "--refs", str(hamilton["refs"]), "--video-dir", str(videos)]
    args += ["--target-dir", str(target), "--tolerance", "0.6", "--min-size", "60", "-j", "2"]
    result = _run(args)
    assert result.returncode == 0, result.stderr.decode()  # all that is there is ripped
    # The index at the front lists 275 frames; the file holds 156 and the start of
    # the next one (left out, never decoded).
    warning = (
        f"warning: {videos / 'cut.mp4'}: ends at 6.1 s of its 10.0 s (truncated?): "
        "frames 156-274 missing"
    )
    assert _errors(result.stderr) == [warning]
    rows = read_manifest(target / "manifest.csv")
    assert max(int(r["frame"]) for r in rows) <= 155
    assert len([r for r in rows if 120 <= int(r["frame"]) <= 155]) >= 10
    for row in rows:
        assert (target / row["path"]).is_file()
    again = _run(args)  # said again by every run, nothing redone
    assert again.returncode == 0
    assert _errors(again.stderr) == [warning]
    assert "(0 this run" in again.stdout.decode()
    assert read_manifest(target / "manifest.csv") == rows


def test_a_damaged_video_loses_only_the_frames_up_to_the_next_keyframe(hamilton, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    data = bytearray(hamilton["video"].read_bytes())
    for at in (len(data) // 3, len(data) // 2):  # two stretches of the stream zeroed
        data[at : at + 30000] = bytes(30000)
    (videos / "damaged.mp4").write_bytes(bytes(data))

    def rip(target: Path, *extra: str) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
        args = ["rip", "--refs", str(hamilton["refs"]), "--video-dir", str(videos)]
        args += ["--target-dir", str(target), "--tolerance", "0.6", "--min-size", "60"]
        # (The confident faces are in the frames lost: trust the references' word.)
        result = _run([*args, "--trust-references", *extra])
        assert result.returncode == 1, result.stderr.decode()
        lines = result.stderr.decode().splitlines()
        return result, [line for line in lines if line.startswith("error:")]

    result, errors = rip(tmp_path / "faces", "-j", "2")
    # Frames 90-104 and 136-150 do not decode, 135 decodes marked corrupt; the frames
    # after them up to the keyframes 120 and 163 would be garbage. Before, decoding
    # stopped at the first damage of each segment: 105 frames lost (90-119, 136-210).
    assert errors == [
        f"error: {videos / 'damaged.mp4'}: decoding failed (Invalid data found when "
        "processing input): frames 90-119 (3.00-4.00 s), 135-162 (4.50-5.44 s) lost"
    ]
    assert "217 frames" in result.stdout.decode()
    rows = read_manifest(tmp_path / "faces" / "manifest.csv")
    assert any(163 <= int(r["frame"]) < 211 for r in rows)  # lost before
    assert not any(90 <= int(r["frame"]) < 120 or 135 <= int(r["frame"]) < 163 for r in rows)
    _, again = rip(tmp_path / "faces", "-j", "2")  # from the journal: the same line
    assert again == errors
    # Other segments (a segment boundary inside each damaged stretch), one worker: the
    # same frames lost, the same faces.
    _, other = rip(tmp_path / "other", "-j", "1", "--segment-frames", "25")
    assert other == errors
    assert read_manifest(tmp_path / "other" / "manifest.csv") == rows


def test_a_damaged_video_is_thinned_by_max_per_video_like_any_other(hamilton, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    data = bytearray(hamilton["video"].read_bytes())
    data[len(data) // 3 : len(data) // 3 + 30000] = bytes(30000)
    (videos / "damaged.mp4").write_bytes(bytes(data))
    target = tmp_path / "faces"
    args = ["rip", "--refs", str(hamilton["refs"]), "--video-dir", str(videos), "-j", "2"]
    args += ["--target-dir", str(target), "--tolerance", "0.6", "--min-size", "60"]
    args += ["--trust-references", "--max-per-video", "5"]
    result = _run(args)
    assert result.returncode == 1 and "frames 90-119 (3.00-4.00 s) lost" in result.stderr.decode()
    rows = read_manifest(target / "manifest.csv")
    labels = [row["label"] for row in rows]
    # Before, a video with an error was never thinned (on a resumed run it was).
    assert rows and all(labels.count(label) <= 5 for label in labels)
    assert _run(args).returncode == 1  # resumed: nothing more removed
    assert read_manifest(target / "manifest.csv") == rows


def test_the_same_video_under_two_names_is_ripped_once_and_resuming_keeps_the_first(
    hamilton, testdata, tmp_path
):
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = testdata / "face-api.js" / "test_video_5frames.mp4"
    shutil.copy(clip, videos / "b.mp4")
    target = tmp_path / "faces"
    args = ["rip", "--refs", str(hamilton["refs"]), "--video-dir", str(videos)]
    args += ["--target-dir", str(target), "-j", "1"]
    first = _run(args)
    assert first.returncode == 0, first.stderr.decode()
    assert first.stdout.decode().count("5 frames (5 this run") == 1
    # a.mp4 comes before b.mp4 in the run's order, but the target holds b.mp4 already.
    shutil.copy(clip, videos / "a.mp4")
    (videos / "c.mp4").symlink_to(videos / "b.mp4")
    second = _run(args)
    assert second.returncode == 0, second.stderr.decode()
    assert _errors(second.stderr) == [
        f"warning: {videos / n}: the same video as {videos / 'b.mp4'}, skipped"
        for n in ("a.mp4", "c.mp4")
    ]
    assert "5 frames (0 this run" in second.stdout.decode()
    # Started afresh, the first in the run's order is the one ripped.
    third = _run([*args, "--restart"])
    assert _errors(third.stderr) == [
        f"warning: {videos / n}: the same video as {videos / 'a.mp4'}, skipped"
        for n in ("b.mp4", "c.mp4")
    ]
    assert "5 frames (5 this run" in third.stdout.decode()


def _errors(stderr: bytes) -> list[str]:
    """The lines of ``stderr`` but the notes (the clip's refs name Alex Lacamoire, seen
    in it only small, at the piano: ``note: alex_lacamoire: no face saved ...``)."""
    return [x for x in stderr.decode().splitlines() if not x.startswith("note: ")]


# ------------------------------------------------------------------ small messages


def test_config_and_refs_together_are_refused(lfw_clip, tmp_path):
    from conftest import run_cli

    args = [*rip_args(lfw_clip, tmp_path / "faces"), "--config", str(tmp_path / "people.json")]
    result = run_cli(args)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --config {tmp_path / 'people.json'} and --refs {lfw_clip['refs']}: "
        "give one of them, not both"
    )


def test_rip_without_videos_names_the_missing_option(lfw_clip, tmp_path):
    from conftest import run_cli

    args = rip_args(lfw_clip, tmp_path / "faces")
    at = args.index("--video-dir")
    del args[at : at + 2]
    result = run_cli(args)
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no videos given: use --video-dir DIR or --video FILE"
    assert not (tmp_path / "faces").exists()


def test_the_search_names_what_it_cannot_look_at(lfw_clip, testdata, tmp_path):
    from faceripper.video import VideoError, find_videos, scan_video

    videos = tmp_path / "videos"
    (videos / "locked").mkdir(parents=True)
    shutil.copy(lfw_clip["videos"] / "clip.avi", videos / "clip.avi")
    (videos / "dangling.mp4").symlink_to("nowhere.mp4")
    (videos / "loop1.mkv").symlink_to("loop2.mkv")
    (videos / "loop2.mkv").symlink_to("loop1.mkv")
    os.mkfifo(videos / "fifo.mp4")
    (videos / "notes.txt").write_text("not a video")
    shutil.copy(testdata / "face_recognition" / "obama3.jpg", videos / "photo.mkv")
    found = find_videos(videos)
    assert found.videos == [videos / "clip.avi", videos / "photo.mkv"]
    assert found.ignored_files == 1
    assert found.problems == [
        f"{videos / 'dangling.mp4'}: dangling link, skipped",
        f"{videos / 'fifo.mp4'}: a named pipe, skipped",
        f"{videos / 'loop1.mkv'}: link loop, skipped",
        f"{videos / 'loop2.mkv'}: link loop, skipped",
    ]
    with pytest.raises(VideoError, match=r"photo\.mkv: an image file \(jpeg\), not a video"):
        scan_video(videos / "photo.mkv")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_subfolder_is_named(tmp_path):
    from faceripper.video import find_videos

    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0)
    try:
        found = find_videos(tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert found.problems == [
        f"{tmp_path / 'locked'}: cannot read folder (Permission denied), skipped"
    ]


def test_nested_target_and_video_folders_are_refused(lfw_clip, tmp_path):
    from conftest import run_cli

    inner = lfw_clip["videos"] / "faces"
    result = run_cli(rip_args(lfw_clip, inner))
    assert result.exit_code == 2
    assert "the target is inside the video folder" in result.stderr
    assert not inner.exists()
    args = rip_args(lfw_clip, lfw_clip["videos"].parent)
    result = run_cli(args)
    assert result.exit_code == 2
    assert "the video folder is inside the target" in result.stderr


def test_size_has_an_upper_bound(lfw_clip, tmp_path):
    from conftest import run_cli

    result = run_cli(rip_args(lfw_clip, tmp_path / "faces", "--size", "100000"))
    assert result.exit_code == 2
    assert "--size" in result.stderr and "4096" in result.stderr
    assert not (tmp_path / "faces").exists()


def test_encode_force_encodes_every_photo_again(hamilton, tmp_path):
    from conftest import run_cli

    args = ["encode", "--refs", str(hamilton["refs"]), "-o", str(tmp_path / "c.npz"), "-j", "1"]
    assert run_cli(args).exit_code == 0
    assert "(0 photos encoded, 2 unchanged" in run_cli(args).stdout
    assert "(2 photos encoded, 0 unchanged" in run_cli([*args, "--force"]).stdout


def test_an_unreachable_scheduler_writes_nothing(lfw_clip, tmp_path):
    from conftest import run_cli

    target = tmp_path / "faces"
    args = rip_args(
        lfw_clip, target, "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1"
    )
    result = run_cli(args)
    assert result.exit_code == 2
    assert not target.exists()


def test_check_refs_headers_are_whole_when_piped(hamilton, tmp_path):
    from conftest import run_cli

    args = ["check-refs", "--refs", str(hamilton["refs"]), "-o", str(tmp_path / "c.npz")]
    result = run_cli([*args, "-j", "1"])
    assert result.exit_code == 0, result.stderr
    for header in ("several faces", "unreadable", "median distance", "outliers"):
        assert header in result.stdout
    assert "…" not in result.stdout.split("\n\n")[0]


def test_a_read_only_refs_folder_hints_at_another_cache(hamilton, tmp_path):
    """A real read-only file system: a tmpfs remounted ``ro``."""
    from conftest import run_cli

    disk = tmp_path / "ro"
    if not _mount_tmpfs(disk, "4m"):
        pytest.skip("cannot mount a tmpfs here (needs root on Linux)")
    try:
        shutil.copytree(hamilton["refs"], disk / "refs")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = run_cli(["encode", "--refs", str(disk / "refs"), "-j", "1"])
        assert result.exit_code == 2
        assert result.stderr.strip() == (
            f"error: {disk / 'refs' / '.faceripper-encodings.npz'}: cannot write the encodings "
            "cache (Read-only file system); put it elsewhere with --cache (rip) or --output "
            "(encode, check-refs)"
        )
        elsewhere = run_cli(["encode", "--refs", str(disk / "refs"), "-o", str(tmp_path / "c.npz")])
        assert elsewhere.exit_code == 0, elsewhere.stderr
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
