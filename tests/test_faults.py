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
        found += [int(c) for c in (task / "children").read_text().split()]
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


@pytest.fixture
def cached(reference_run: Path, tmp_path: Path) -> Path:
    """A target path beside a copy of the reference run's encodings cache."""
    shutil.copy(reference_run.parent / "refs.npz", tmp_path / "refs.npz")
    return tmp_path / "faces"


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
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(cached) == tree_digest(reference_run)


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_sigterm_stops_rip_like_ctrl_c_and_the_rerun_completes(reference_run, lfw_clip, cached):
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
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(cached) == tree_digest(reference_run)


@pytest.mark.skipif(not LINUX_PROC, reason="needs Linux /proc")
def test_two_ctrl_c_half_a_second_apart_exit_promptly(reference_run, lfw_clip, cached):
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
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert tree_digest(cached) == tree_digest(reference_run)


def test_ten_kills_at_random_moments_then_the_rerun_equals_an_uninterrupted_run(
    reference_run, lfw_clip, cached
):
    args = rip_args(lfw_clip, cached, "--threads", "2")
    chance = random.Random(10)
    kills = [signal.SIGKILL, signal.SIGTERM] * 5
    chance.shuffle(kills)
    for kill in kills:
        process = _start(args)
        time.sleep(chance.uniform(0.5, 4.0))  # a Python start, encoding, or ripping
        if process.poll() is None:
            os.kill(process.pid, kill)
        _, stderr = process.communicate(timeout=60)
        # -SIGTERM: it came while Python was still starting, before any work.
        expected = (0, -signal.SIGKILL, -signal.SIGTERM, 128 + signal.SIGTERM)
        assert process.returncode in expected, stderr.decode()
        assert b"Traceback" not in stderr
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
