"""Speed, memory and accuracy of ``faceripper rip`` against FaceRipper v1's method.

Run on demand (not part of the test suite). Steps:

1. Ground-truth H.264 videos are generated (``benchmarks/make_videos.py``; reused when
   they exist): LFW faces and larger faces from bigger photos, at 720p and 1080p,
   30 fps, ``--seconds`` long, with the truth of every face in every frame.
2. **Decoding alone**, one process: PyAV + the conversion to RGB as faceripper does it
   (``scan_video``, ``iter_frames``, ``DecodedFrame.rgb``), and OpenCV's
   ``VideoCapture.read`` + the BGR->RGB copy as v1 did.
3. **FaceRipper v1's method** rebuilt on ``face_recognition`` (``benchmarks/v1_method.py``),
   in its own virtual environment (``--v1-python``), one process, on every k-th frame
   (k chosen so that about ``--v1-frames`` frames are processed): frames/s is measured
   on those frames (their decoding included), and precision/recall are scored on those
   frames only. One run gives the distances of every face to every reference, so v1 is
   scored at several tolerances and minimum sizes without running again.
4. **faceripper rip**, the CLI as a subprocess, ``--threads 1`` and ``--threads 2``,
   defaults except ``--min-size`` (LFW faces are about 110 px, so the comparison uses
   ``--min-size 80`` for both methods); then ``--tolerance 0.5`` (quality only), the
   true default ``--min-size 100``, and ``--every 10`` when ``rip`` has that option.
   Peak RSS of the rip process and of each worker is sampled from /proc every 0.2 s.
5. Memory against video length: ``rip --threads 2`` on a ``--long-seconds`` video.
6. A cProfile of one worker segment (:func:`faceripper.worker.process_segment`,
   in-process) on the 1080p video: where the time goes.

The report is Markdown on stdout; the full run also replaces the generated part of
``docs/performance.md`` (between the ``perf.py`` markers; the text around it stays).
Raw numbers go to ``WORK/results-*.json``.

Usage::

    .venv/bin/python benchmarks/perf.py --quick          # 5 s of 720p, a few minutes
    .venv/bin/python benchmarks/perf.py                  # the full run (about an hour)
    .venv/bin/python benchmarks/perf.py --faceripper-src head   # measure the last commit

``--faceripper-src head`` measures the committed package (``git archive HEAD``) rather
than the working tree: useful while the package is being edited.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import os
import platform
import pstats
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from make_videos import RESOLUTIONS, BenchVideo, VideoSpec, default_testdata, make_video  # noqa: E402

from faceripper.testing import Metrics, Truth, evaluate  # noqa: E402

MARK_BEGIN = "<!-- perf.py: begin generated results -->"
MARK_END = "<!-- perf.py: end generated results -->"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SOURCE_ENV = "FACERIPPER_BENCH_SOURCE"


def log(message: str) -> None:
    """Progress, on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Process-tree memory monitor
# --------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return kids
    for task in tasks:
        try:
            text = (task / "children").read_text()
        except OSError:
            continue
        kids += [int(v) for v in text.split()]
    return kids


def _rss_kib(pid: int) -> int:
    try:
        with Path(f"/proc/{pid}/status").open(encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class ProcessStats:
    """Peak RSS and CPU time of one process of a monitored tree."""

    pid: int
    role: str
    peak_rss_kib: int = 0
    cpu_s: float = 0.0


@dataclass
class TreeMonitor:
    """Samples the RSS of a process and all its descendants every ``interval`` s."""

    root: int
    interval: float = 0.2
    processes: dict[int, ProcessStats] = field(default_factory=dict)
    peak_total_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def poll(self) -> None:
        """Take one sample."""
        pids, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo += _children(pid)
        total = 0
        for pid in pids:
            rss = _rss_kib(pid)
            if rss == 0:
                continue
            stats = self.processes.setdefault(
                pid, ProcessStats(pid, "main" if pid == self.root else "child")
            )
            stats.peak_rss_kib = max(stats.peak_rss_kib, rss)
            stats.cpu_s = max(stats.cpu_s, _cpu_s(pid))
            total += rss
        self.peak_total_kib = max(self.peak_total_kib, total)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.poll()

    def start(self) -> None:
        """Start sampling in a thread."""
        self.poll()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def main(self) -> ProcessStats:
        """The root process's stats."""
        return self.processes.get(self.root, ProcessStats(self.root, "main"))

    @property
    def children(self) -> list[ProcessStats]:
        """The descendants' stats."""
        return [p for p in self.processes.values() if p.pid != self.root]


@dataclass
class Monitored:
    """A finished monitored command."""

    returncode: int
    wall_s: float
    cpu_s: float
    monitor: TreeMonitor
    stdout: str
    stderr: str
    load: tuple[float, float] = (0.0, 0.0)


def loadavg() -> float:
    """The 1-minute load average."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def run_monitored(
    command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None
) -> Monitored:
    """Run a command, sampling its process tree's memory; stdout/stderr are kept."""
    out_path = cwd / f".out-{os.getpid()}-{time.monotonic_ns()}"
    err_path = out_path.with_suffix(".err")
    load_before = loadavg()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command), cwd=cwd, stdout=out, stderr=err, env=dict(env or os.environ)
        )
        monitor = TreeMonitor(process.pid)
        monitor.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        monitor.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    stderr = err_path.read_text(encoding="utf-8", errors="replace")
    out_path.unlink()
    err_path.unlink()
    return Monitored(
        process.returncode,
        wall,
        usage.ru_utime + usage.ru_stime,
        monitor,
        stdout,
        stderr,
        (load_before, loadavg()),
    )


# --------------------------------------------------------------------------------------
# Scoring helpers
# --------------------------------------------------------------------------------------


def subset_truth(truth: Truth, frames: set[int]) -> Truth:
    """The truth of some frames only."""
    return Truth(tuple(r for r in truth if r.frame in frames))


def metrics_dict(metrics: Metrics) -> dict[str, Any]:
    """The metrics that the report shows."""
    return metrics.as_dict()


# --------------------------------------------------------------------------------------
# faceripper
# --------------------------------------------------------------------------------------


SUMMARY_RE = re.compile(
    r"(\d+) frames \((\d+) this run, ([\d.]+) s\); faces detected (\d+), too small (\d+), "
    r"blurry skipped (\d+), unknown (\d+)[^;]*;(?: .*?)? (\d+) manifest rows"
)


def rip_help(work: Path) -> str:
    """``faceripper rip --help`` of the faceripper under test."""
    done = subprocess.run(
        [sys.executable, "-m", "faceripper", "rip", "--help"],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    return done.stdout


def default_tolerance(help_text: str) -> float:
    """``rip``'s default ``--tolerance``, read from its ``--help``."""
    text = re.sub(r"\s+", " ", help_text)
    match = re.search(r"--tolerance.*?\[default: ([0-9.]+)", text)
    return float(match[1]) if match else 0.325


def warm_reference_cache(refs: Path, work: Path) -> None:
    """Encode the references once, so that no timed run includes it."""
    subprocess.run(
        [sys.executable, "-m", "faceripper", "encode", "--refs", str(refs)],
        cwd=work,
        capture_output=True,
        check=True,
    )


def run_faceripper(
    video: BenchVideo,
    truth: Truth,
    work: Path,
    name: str,
    threads: int,
    min_size: int,
    eligible_min: int,
    extra: Sequence[str] = (),
    score_frames: set[int] | None = None,
) -> dict[str, Any]:
    """Run ``faceripper rip`` on one video and score its manifest."""
    target = work / "runs" / f"{video.video.stem}-{name}"
    if target.exists():
        shutil.rmtree(target)
    command = [
        sys.executable,
        "-m",
        "faceripper",
        "rip",
        "--refs",
        str(video.refs),
        "--video",
        str(video.video),
        "--target-dir",
        str(target),
        "--min-size",
        str(min_size),
        "--threads",
        str(threads),
        *extra,
    ]
    log(f"faceripper {name}: {' '.join(command[3:])}")
    done = run_monitored(command, work)
    if done.returncode != 0:
        raise RuntimeError(f"rip failed ({done.returncode}): {done.stderr[-2000:]}")
    match = SUMMARY_RE.search(done.stdout)
    if not match:
        raise RuntimeError(f"no summary line in rip's output: {done.stdout[-2000:]}")
    frames, _this_run, seconds = int(match[1]), int(match[2]), float(match[3])
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scored = truth if score_frames is None else subset_truth(truth, score_frames)
    if score_frames is not None:
        rows = [r for r in rows if int(r["frame"]) in score_frames]
    metrics = evaluate(rows, scored, video.label_to_identity, min_size_px=eligible_min)
    workers = done.monitor.children
    result = {
        "name": name,
        "threads": threads,
        "min_size": min_size,
        "extra": list(extra),
        "frames": frames,
        "rip_seconds": seconds,
        "wall_seconds": done.wall_s,
        "fps": frames / seconds if seconds else 0.0,
        "wall_fps": frames / done.wall_s,
        "cpu_seconds": done.cpu_s,
        "cpu_ms_per_frame": done.cpu_s / frames * 1000 if frames else 0.0,
        "load": list(done.load),
        "main_cpu_seconds": done.monitor.main.cpu_s,
        "rss_main_kib": done.monitor.main.peak_rss_kib,
        "rss_worker_kib": max((w.peak_rss_kib for w in workers), default=0),
        "workers_seen": len(workers),
        "rss_total_kib": done.monitor.peak_total_kib,
        "counts": {
            "detected": int(match[4]),
            "too_small": int(match[5]),
            "blurry_skipped": int(match[6]),
            "unknown": int(match[7]),
            "rows": int(match[8]),
        },
        "metrics": metrics_dict(metrics),
    }
    log(
        f"  {result['fps']:.2f} frames/s ({result['wall_fps']:.2f} wall), "
        f"P {metrics.precision:.3f} R {metrics.recall:.3f}, "
        f"RSS main {result['rss_main_kib'] // 1024} MiB worker "
        f"{result['rss_worker_kib'] // 1024} MiB"
    )
    return result


# --------------------------------------------------------------------------------------
# v1
# --------------------------------------------------------------------------------------


@dataclass
class V1Face:
    """One face found by the v1 runner."""

    frame: int
    box: tuple[int, int, int, int]
    laplacian_var: float
    distances: list[float]


def read_v1_faces(path: Path) -> list[V1Face]:
    """The runner's faces CSV."""
    faces = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            box = (int(row["top"]), int(row["right"]), int(row["bottom"]), int(row["left"]))
            faces.append(
                V1Face(
                    int(row["frame"]),
                    box,
                    float(row["laplacian_var"]),
                    [float(v) for v in row["distances"].split()],
                )
            )
    return faces


def v1_manifest(
    faces: Iterable[V1Face],
    labels: Sequence[str],
    mode: str,
    tolerance: float,
    min_size: int,
    blur: float = 250.0,
) -> list[dict[str, Any]]:
    """v1's decisions replayed: manifest-like rows, ``saved`` or ``skipped``.

    ``faithful``: one row per reference photo within the tolerance (v1 saved a face once
    per matching reference, under that reference's label); ``brief``: one row, the
    nearest reference's label, if within the tolerance. Saved when the box's width and
    height are at least ``min_size`` and the crop's Laplacian variance is at least
    ``blur``.
    """
    rows = []
    for face in faces:
        top, right, bottom, left = face.box
        if mode == "faithful":
            matches = [i for i, d in enumerate(face.distances) if d <= tolerance]
        else:
            nearest = min(range(len(face.distances)), key=face.distances.__getitem__)
            matches = [nearest] if face.distances[nearest] <= tolerance else []
        big = right - left >= min_size and bottom - top >= min_size
        sharp = face.laplacian_var >= blur
        for ref in matches:
            rows.append(
                {
                    "frame": face.frame,
                    "top": top,
                    "right": right,
                    "bottom": bottom,
                    "left": left,
                    "label": labels[ref],
                    "status": "saved" if big and sharp else "skipped",
                }
            )
    return rows


def run_v1(video: BenchVideo, work: Path, v1_python: Path, mode: str, step: int) -> dict[str, Any]:
    """Run the v1 method on every ``step``-th frame; return its summary and faces."""
    out = work / "runs" / f"v1-{mode}-{video.video.stem}"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    command = [
        str(v1_python),
        str(BENCH_DIR / "v1_method.py"),
        "--refs",
        str(video.refs),
        "--video",
        str(video.video),
        "--faces",
        str(out / "faces.csv"),
        "--summary",
        str(out / "summary.json"),
        "--target-dir",
        str(out / "crops"),
        "--mode",
        mode,
        "--step",
        str(step),
        "--min-size",
        "80",
    ]
    log(f"v1 {mode} on {video.video.name}, every {step}th frame")
    done = run_monitored(command, work)
    if done.returncode != 0:
        raise RuntimeError(f"v1 failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["rss_kib"] = done.monitor.main.peak_rss_kib
    summary["monitored_cpu_seconds"] = done.cpu_s
    summary["load"] = list(done.load)
    processed = max(int(summary["frames_processed"]), 1)
    summary["cpu_ms_per_frame"] = summary["processed_cpu_seconds"] / processed * 1000
    summary["faces"] = read_v1_faces(out / "faces.csv")
    log(f"  {summary['frames_per_s']:.3f} frames/s on {summary['frames_processed']} frames")
    return summary


def score_v1(
    v1: dict[str, Any],
    video: BenchVideo,
    truth: Truth,
    tolerance: float,
    min_size: int,
    eligible_min: int,
) -> dict[str, Any]:
    """Score a v1 run's replayed decisions on the frames it processed."""
    step = int(v1["step"])
    frames = set(range(0, int(v1["frames_read"]), step))
    rows = v1_manifest(v1["faces"], v1["reference_labels"], v1["mode"], tolerance, min_size)
    metrics = evaluate(
        rows, subset_truth(truth, frames), video.label_to_identity, min_size_px=eligible_min
    )
    return metrics_dict(metrics)


# --------------------------------------------------------------------------------------
# Decoding alone
# --------------------------------------------------------------------------------------


def decode_pyav(path: Path) -> dict[str, float]:
    """Frames/s of faceripper's decoding path: scan, decode, convert to RGB (1 process)."""
    from faceripper.video import iter_frames, scan_video

    started = time.perf_counter()
    scan = scan_video(path)
    scanned = time.perf_counter()
    frames = 0
    for decoded in iter_frames(path, scan, 0, scan.frame_count):
        decoded.rgb()
        frames += 1
    seconds = time.perf_counter() - scanned
    return {
        "frames": frames,
        "scan_seconds": scanned - started,
        "seconds": seconds,
        "fps": frames / seconds,
    }


def decode_cv2(path: Path) -> dict[str, float]:
    """Frames/s of v1's decoding path: ``VideoCapture.read`` and a contiguous RGB copy."""
    import cv2
    import numpy as np

    capture = cv2.VideoCapture(str(path))
    frames = 0
    started = time.perf_counter()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        np.ascontiguousarray(frame[:, :, ::-1])
        frames += 1
    seconds = time.perf_counter() - started
    capture.release()
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds}


# --------------------------------------------------------------------------------------
# Profile of one worker segment
# --------------------------------------------------------------------------------------

#: Report categories: (label, module file name, function name), cumulative time.
PROFILE_FUNCTIONS: tuple[tuple[str, str, str], ...] = (
    ("decoding (PyAV, incl. seeking)", "video.py", "iter_frames"),
    ("conversion to RGB", "video.py", "rgb"),
    ("detection (resize + HOG)", "frame.py", "_detect"),
    ("  whole frames", "detector.py", "detect_faces_scaled"),
    ("  around tracked faces", "detector.py", "detect_around"),
    ("  of which HOG", "detector.py", "detect_faces"),
    ("sharpness", "blur.py", "sharpness"),
    ("landmarks (5-point)", "encoder.py", "_full_object_detections"),
    ("encoding: dlib's own ResNet (--engine dlib)", "~", "compute_face_descriptor"),
    ("encoding: face chips (dlib)", "encoder.py", "face_chips"),
    ("encoding: ResNet on the engine", "engines.py", "descriptors"),
    ("distances to the references", "encoder.py", "face_distances"),
    ("matching rules", "matching.py", "match_faces"),
    ("crop (aligned)", "crops.py", "aligned_crop"),
    ("JPEG encoding", "crops.py", "encode_jpeg"),
)


def _find(stats: Mapping[Any, Any], filename: str, function: str) -> tuple[int, float, float]:
    """(calls, tottime, cumtime) summed over entries matching the file and function."""
    calls, tottime, cumtime = 0, 0.0, 0.0
    for (file, _line, func), (_cc, nc, tt, ct, _callers) in stats.items():
        if filename == "~":
            hit = file == "~" and function in func
        else:
            hit = Path(file).name == filename and func == function
        if hit:
            calls, tottime, cumtime = calls + nc, tottime + tt, cumtime + ct
    return calls, tottime, cumtime


def profile_segment(video: BenchVideo, frames: int, min_size: int) -> dict[str, Any]:
    """cProfile :func:`faceripper.worker.process_segment` on the first ``frames`` frames."""
    from faceripper import worker
    from faceripper.blur import DEFAULT_BLUR_THRESHOLD
    from faceripper.config import config_from_refs
    from faceripper.references import EncodeSettings, encode_references

    try:
        from faceripper.pipeline import references_for_run
    except ImportError:  # a faceripper from before the module was named pipeline
        from faceripper.rip import references_for_run  # type: ignore[no-redef]
    from faceripper.video import scan_video

    config, _skipped = config_from_refs(video.refs)
    report = encode_references(config, settings=EncodeSettings(jitters=0))
    references = references_for_run(config, report.references)
    settings = worker.RipSettings(min_size_px=min_size, blur_threshold=DEFAULT_BLUR_THRESHOLD)
    worker.init_worker(settings, references)
    scan = scan_video(video.video)
    end = min(frames, scan.frame_count)
    task = worker.SegmentTask(0, video.video.name, video.video, scan.window(0, end), 0, end)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = worker.process_segment(task)
    profiler.disable()
    wall = time.perf_counter() - started
    if result.error:
        raise RuntimeError(result.error)
    stats = pstats.Stats(profiler)
    raw: Mapping[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = _find(raw, "segment.py", "process_segment")[2]
    rows = []
    for label, filename, function in PROFILE_FUNCTIONS:
        calls, _tt, cum = _find(raw, filename, function)
        rows.append({"what": label, "calls": calls, "seconds": cum})
    text = io.StringIO()
    stats.stream = text  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(25)
    top = text.getvalue()
    top = top[top.find("ncalls") :] if "ncalls" in top else top
    return {
        "video": video.video.name,
        "frames": result.frames,
        "min_size": min_size,
        "wall_seconds": wall,
        "profiled_seconds": total,
        "counts": dict(result.counts),
        "hits": len(result.hits),
        "rows": rows,
        "top_cumulative": top,
    }


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f}" if kib else "-"


def _f(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}f}"


@dataclass
class Row:
    """One method's line in a table."""

    label: str
    processes: str
    fps: float
    cpu_ms: float = 0.0
    metrics: Mapping[str, Any] = field(default_factory=dict)
    rss_main_kib: int = 0
    rss_worker_kib: int = 0
    wall_fps: float = 0.0


TABLE_HEAD = (
    "| method | processes | frames/s | vs v1 | CPU ms a frame | vs v1 (CPU) | precision "
    "| recall | appearances | saved | wrong | on blurred | on small | duplicates "
    "| on distractors | peak RSS MiB (main) | peak RSS MiB (worker) |\n"
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
)


def method_row(row: Row, v1: Row | None) -> str:
    """One row of a per-video table; ratios against ``v1``."""
    ratio = f"{row.fps / v1.fps:.1f}x" if v1 and v1.fps and row.metrics else "-"
    cpu_ratio = f"{v1.cpu_ms / row.cpu_ms:.1f}x" if v1 and row.cpu_ms and row.metrics else "-"
    m = row.metrics
    if not m:
        cells = ["-"] * 9
    else:
        cells = [
            _f(m["precision"]) if m["saved"] else "-",
            _f(m["recall"]),
            _f(m["appearance_coverage"], 2),
            str(m["saved"]),
            str(m["wrong_identity"] + m["unmatched"]),
            str(m["on_blurred"]),
            str(m["on_small"]),
            str(m["duplicates"]),
            str(m["on_distractor"]),
        ]
    fps = f"{row.fps:.2f}" + (f" ({row.wall_fps:.2f} wall)" if row.wall_fps else "")
    cpu = f"{row.cpu_ms:.0f}" if row.cpu_ms else "-"
    return (
        f"| {row.label} | {row.processes} | {fps} | {ratio} | {cpu} | {cpu_ratio} | "
        + " | ".join(cells)
        + f" | {_mib(row.rss_main_kib)} | {_mib(row.rss_worker_kib)} |"
    )


def v1_row(run: Mapping[str, Any], label: str, score: str) -> Row:
    """A v1 run as a table row, with one of its scores."""
    return Row(
        f"{label}, every {run['step']}th frame",
        "1",
        run["frames_per_s"],
        run["cpu_ms_per_frame"],
        run["scores"][score],
        run["rss_kib"],
    )


def fr_row(run: Mapping[str, Any], label: str | None = None) -> Row:
    """A faceripper run as a table row."""
    if label is None:
        label = f"faceripper rip -j {run['threads']} {' '.join(run['extra'])}".strip()
    return Row(
        label,
        f"1 + {run['threads']}",
        run["fps"],
        run["cpu_ms_per_frame"],
        run["metrics"],
        run["rss_main_kib"],
        run["rss_worker_kib"],
        run["wall_fps"],
    )


V1_LABELS = (("faithful", "v1 (as its source did it)"), ("brief", "v1 (as the issue describes it)"))


def video_section(entry: Mapping[str, Any]) -> str:
    """The Markdown of one video's results."""
    spec, truth_info = entry["spec"], entry["truth"]
    lines = [
        f"### {spec['height']}p, {spec['seconds']:g} s ({entry['frames']} frames at "
        f"{spec['fps']:g} fps, H.264 CRF {spec['crf']})",
        "",
        f"{truth_info['faces']} faces in the truth, {truth_info['eligible']} of them "
        f"eligible (a target, sharp, at least {entry['min_size']} px), "
        f"{truth_info['blurred']} blurred, {truth_info['small']} under "
        f"{entry['min_size']} px, {truth_info['distractors']} of distractors. "
        f"Both methods at `--min-size {entry['min_size']}` and their default tolerance "
        f"(v1 {entry.get('v1_tolerance', 0.325):g}, faceripper "
        f"{entry.get('fr_tolerance', 0.325):g}).",
        "",
        TABLE_HEAD,
    ]
    v1 = entry.get("v1", {})
    base = v1_row(v1["faithful"], "", "main") if "faithful" in v1 else None
    dec = entry["decode"]
    rows = [
        Row("decode only: PyAV + RGB (faceripper's path)", "1", dec["pyav"]["fps"]),
        Row("decode only: OpenCV + RGB copy (v1's path)", "1", dec["cv2"]["fps"]),
    ]
    rows += [v1_row(v1[mode], label, "main") for mode, label in V1_LABELS if mode in v1]
    if "faithful" in v1 and "fr_tolerance" in v1["faithful"]["scores"]:
        label = f"v1 (source) replayed at tolerance {entry['fr_tolerance']:g}"
        rows.append(v1_row(v1["faithful"], label, "fr_tolerance"))
    rows += [fr_row(run) for run in entry["faceripper"] if run["name"].startswith("j")]
    lines += [method_row(row, base) for row in rows]

    runs = {r["name"]: r for r in entry["faceripper"]}
    notes = []
    if "j1" in runs and "j2" in runs:
        notes.append(
            f"faceripper scaling, threads 2 / threads 1: "
            f"{runs['j2']['fps'] / runs['j1']['fps']:.2f}x in frames/s "
            f"(CPU a frame {runs['j2']['cpu_ms_per_frame']:.0f} ms against "
            f"{runs['j1']['cpu_ms_per_frame']:.0f} ms)"
        )
    if "faithful" in v1:
        run = v1["faithful"]
        per = {k: v / run["frames_processed"] for k, v in run["seconds"].items()}
        notes.append(
            "v1 (source) per frame: decode {decode:.3f} s, face_locations {detect:.3f} s, "
            "face_encodings (2nd detection + landmarks + encodings) {encode:.3f} s, "
            "rest {rest:.3f} s".format(**per)
        )
    if "brief" in v1:
        run = v1["brief"]
        per = {k: v / run["frames_processed"] for k, v in run["seconds"].items()}
        notes.append(
            "v1 (issue) per frame: decode {decode:.3f} s, face_locations {detect:.3f} s, "
            "face_encodings (landmarks + encodings) {encode:.3f} s".format(**per)
        )
    if "j1" in runs:
        r = runs["j1"]
        notes.append(
            f"faceripper -j 1: {r['counts']['detected']} faces detected, "
            f"{r['counts']['blurry_skipped']} blurry skipped, {r['counts']['unknown']} unknown; "
            f"main process CPU {r['main_cpu_seconds']:.1f} s of {r['cpu_seconds']:.1f} s"
        )
    loads = [x for run in entry["faceripper"] for x in run["load"]]
    loads += [x for run in v1.values() for x in run["load"]]
    if loads:
        notes.append(
            f"1-minute load average around the runs: {min(loads):.1f} to {max(loads):.1f} "
            f"(2 would be both cores busy)"
        )
    if entry.get("every_note"):
        notes.append(entry["every_note"])
    lines += ["", *[f"- {n}" for n in notes]]

    tol = entry.get("tolerance2")
    if tol:
        lines += [
            "",
            f"Quality at `--tolerance {tol['tolerance']}` (v1 replayed from the same run; "
            f"faceripper `-j 2 --tolerance {tol['tolerance']}`):",
            "",
            TABLE_HEAD,
        ]
        rows = [v1_row(v1[mode], label, "tolerance2") for mode, label in V1_LABELS if mode in v1]
        rows.append(fr_row(tol["faceripper"]))
        lines += [method_row(row, base) for row in rows]
    defaults = entry.get("defaults")
    if defaults:
        lines += [
            "",
            "Both at their own defaults (faceripper `--min-size 100`; v1 keeps boxes over "
            "100 px), each at its default tolerance, eligible faces from 100 px:",
            "",
            TABLE_HEAD,
        ]
        rows = [v1_row(v1[mode], label, "defaults") for mode, label in V1_LABELS if mode in v1]
        rows.append(fr_row(defaults, "faceripper rip -j 2 (all defaults)"))
        lines += [method_row(row, base) for row in rows]
    return "\n".join(lines) + "\n"


def profile_section(profile: Mapping[str, Any]) -> str:
    """The Markdown of the worker profile."""
    total = profile["profiled_seconds"]
    frames = max(profile["frames"], 1)
    counts = profile["counts"]
    lines = [
        f"cProfile of `faceripper.worker.process_segment` in one process, frames 0-"
        f"{profile['frames']} of `{profile['video']}`, `--min-size {profile['min_size']}`, "
        f"other settings at their defaults: {total:.1f} s, {total / frames * 1000:.0f} ms a "
        f"frame; {counts.get('detected', 0)} faces detected, {counts.get('encoded', 0)} "
        f"encoded, {profile['hits']} crops.",
        "",
        "| step | calls | seconds | share | ms per frame |",
        "|---|--:|--:|--:|--:|",
    ]
    accounted = 0.0
    for row in profile["rows"]:
        if not row["what"].startswith(" "):
            accounted += row["seconds"]
        lines.append(
            f"| {row['what']} | {row['calls']} | {row['seconds']:.2f} | "
            f"{row['seconds'] / total:.1%} | {row['seconds'] / frames * 1000:.1f} |"
        )
    other = total - accounted
    lines.append(f"| other | | {other:.2f} | {other / total:.1%} | {other / frames * 1000:.1f} |")
    lines += [
        "",
        "<details><summary>top functions by cumulative time</summary>",
        "",
        "```",
        profile["top_cumulative"].rstrip(),
        "```",
        "",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def memory_section(short: Mapping[str, Any], long: Mapping[str, Any]) -> str:
    """The Markdown of the memory-against-length comparison."""
    lines = [
        "| video | frames | frames/s | peak RSS MiB (main) | peak RSS MiB (worker, max) "
        "| peak RSS MiB (all processes) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for label, r in (("short", short), ("long", long)):
        lines.append(
            f"| {r['video']} ({label}) | {r['frames']} | {r['fps']:.2f} | "
            f"{_mib(r['rss_main_kib'])} | {_mib(r['rss_worker_kib'])} | "
            f"{_mib(r['rss_total_kib'])} |"
        )
    return "\n".join(lines) + "\n"


def machine_text(source: str) -> str:
    """One paragraph on the machine and the software measured."""
    import av
    import cv2
    import dlib

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    blas = getattr(dlib, "DLIB_USE_BLAS", "?")
    avx = getattr(dlib, "USE_AVX_INSTRUCTIONS", "?")
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, shared with other work (numbers are "
        f"only compared within one run); Python {platform.python_version()}, dlib "
        f"{dlib.__version__} (AVX {avx}, BLAS {blas}), PyAV {av.__version__}, OpenCV "
        f"{cv2.__version__}; faceripper: {source}."
    )


def faceripper_source() -> str:
    """Which faceripper is measured: its folder and, for a git checkout, the commit."""
    import faceripper

    folder = Path(faceripper.__file__).resolve().parent.parent
    label = os.environ.get(SOURCE_ENV, "")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "faceripper"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return str(folder)
    if label.startswith("head:"):
        return f"commit {label.removeprefix('head:')} (`--faceripper-src head`)"
    if folder == PROJECT_ROOT:
        state = " plus uncommitted changes" if dirty else ""
        return f"working tree at commit {commit}{state}"
    return str(folder)


def build_report(results: Mapping[str, Any], command: str) -> str:
    """The generated Markdown."""
    lines = [
        f"Measured {results['date']} with `{command}`.",
        "",
        f"Machine: {results['machine']}",
        "",
        "frames/s: faceripper's frames divided by the seconds `rip` reports (from the start "
        'of the pool to the end; reference encodings were cached beforehand); "wall" '
        "adds interpreter start-up and loading. v1's frames/s is measured on the frames "
        'it processed, decoding included. "vs v1" divides by v1 (source) frames/s. '
        "precision, recall (frame recall of eligible faces), appearances (share of "
        "eligible person-shots with at least one correct crop), and the counts of saved "
        "crops that are wrong (another person or no face), on blurred faces, on faces "
        "under the minimum size, duplicates of a face already saved in the same frame and "
        "on distractors, are `faceripper.testing.evaluate`'s; v1 is scored on the frames "
        "it processed.",
        "",
    ]
    for entry in results["videos"]:
        lines.append(video_section(entry))
    if results.get("memory"):
        lines += [
            "### Memory against video length (`rip -j 2`)",
            "",
            memory_section(results["memory"]["short"], results["memory"]["long"]),
        ]
    if results.get("profile"):
        lines += [
            "### Where the time goes",
            "",
            profile_section(results["profile"]),
        ]
    return "\n".join(lines)


def write_doc(path: Path, generated: str) -> None:
    """Replace the generated part of ``path`` (or create it around the markers)."""
    block = f"{MARK_BEGIN}\n\n{generated.rstrip()}\n\n{MARK_END}"
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if MARK_BEGIN in text and MARK_END in text:
            head, rest = text.split(MARK_BEGIN, 1)
            _, tail = rest.split(MARK_END, 1)
            path.write_text(head + block + tail, encoding="utf-8")
            return
        path.write_text(text.rstrip() + "\n\n" + block + "\n", encoding="utf-8")
        return
    path.write_text("# Performance\n\n" + block + "\n", encoding="utf-8")


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def truth_info(truth: Truth, min_size: int) -> dict[str, int]:
    """Counts of the truth's faces."""
    targets = [r for r in truth if r.is_target]
    return {
        "faces": len(truth),
        "eligible": sum(r.blur_sigma_px == 0 and r.size_px >= min_size for r in targets),
        "blurred": sum(r.blur_sigma_px > 0 for r in truth),
        "small": sum(r.size_px < min_size for r in truth),
        "distractors": sum(not r.is_target for r in truth),
    }


def measure_video(
    video: BenchVideo,
    args: argparse.Namespace,
    work: Path,
    has_every: bool,
    fr_tolerance: float,
) -> dict[str, Any]:
    """Everything measured on one video."""
    truth = video.truth()
    min_size = args.min_size
    entry: dict[str, Any] = {
        "video": video.video.name,
        "spec": video.spec.as_dict(),
        "frames": video.frames,
        "min_size": min_size,
        "v1_tolerance": args.tolerance,
        "fr_tolerance": fr_tolerance,
        "truth": truth_info(truth, min_size),
    }
    log(f"decoding {video.video.name}")
    entry["decode"] = {"pyav": decode_pyav(video.video), "cv2": decode_cv2(video.video)}
    log(
        f"  PyAV {entry['decode']['pyav']['fps']:.1f} frames/s, "
        f"OpenCV {entry['decode']['cv2']['fps']:.1f} frames/s"
    )
    step = max(1, round(video.frames / args.v1_frames)) if args.v1_frames else 1
    v1: dict[str, Any] = {}
    for mode in args.v1_modes:
        run = run_v1(video, work, args.v1_python, mode, step)
        run["scores"] = {"main": score_v1(run, video, truth, args.tolerance, min_size, min_size)}
        if args.tolerance2:
            run["scores"]["tolerance2"] = score_v1(
                run, video, truth, args.tolerance2, min_size, min_size
            )
        run["scores"]["defaults"] = score_v1(run, video, truth, args.tolerance, 101, 100)
        if abs(fr_tolerance - args.tolerance) > 1e-9:
            run["scores"]["fr_tolerance"] = score_v1(
                run, video, truth, fr_tolerance, min_size, min_size
            )
        v1[mode] = run
    entry["v1"] = v1
    segment = ["--segment-frames", str(args.segment_frames)] if args.segment_frames else []
    runs = []
    for threads in args.threads:
        runs.append(
            run_faceripper(video, truth, work, f"j{threads}", threads, min_size, min_size, segment)
        )
    if has_every:
        every = 10
        frames = set(range(0, video.frames, every))
        runs.append(
            run_faceripper(
                video,
                truth,
                work,
                "j2-every",
                max(args.threads),
                min_size,
                min_size,
                [*segment, "--every", str(every)],
                score_frames=frames,
            )
        )
        entry["every_note"] = (
            f"`--every {every}` is scored on frames 0, {every}, {2 * every}, ... only "
            "(recall there), and all its crops count for precision."
        )
    else:
        entry["every_note"] = "`rip --every` does not exist in the faceripper measured: skipped."
    entry["faceripper"] = runs
    if args.tolerance2:
        entry["tolerance2"] = {
            "tolerance": args.tolerance2,
            "faceripper": run_faceripper(
                video,
                truth,
                work,
                "j2-tolerance2",
                max(args.threads),
                min_size,
                min_size,
                [*segment, "--tolerance", str(args.tolerance2)],
            ),
        }
    if args.defaults:
        entry["defaults"] = run_faceripper(
            video, truth, work, "j2-defaults", max(args.threads), 100, 100, segment
        )
    for mode in v1.values():
        mode.pop("faces", None)
    return entry


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(type(value).__name__)


def reexec_with_source(args: argparse.Namespace, argv: Sequence[str]) -> None:
    """Export the committed faceripper and run this script again on it."""
    if os.environ.get(SOURCE_ENV):
        return
    if args.faceripper_src == "worktree":
        return
    if args.faceripper_src == "head":
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        source = args.work_dir / f"faceripper-{commit}"
        if not (source / "faceripper").is_dir():
            source.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "archive", "HEAD", "faceripper"],
                cwd=PROJECT_ROOT,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
        label = f"head:{commit}"
    else:
        source = Path(args.faceripper_src).resolve()
        label = f"dir:{source}"
    env = {**os.environ, SOURCE_ENV: label}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    log(f"measuring faceripper from {source}")
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5 s of 720p, v1 in one mode, no extra runs: a few minutes",
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=Path("/tmp/faceripper-bench"),
        help="videos, runs and raw results (never inside the project)",
    )
    parser.add_argument("--testdata", type=Path, default=default_testdata())
    parser.add_argument("--resolution", type=int, action="append", choices=sorted(RESOLUTIONS))
    parser.add_argument("--seconds", type=float, default=None, help="video length (20)")
    parser.add_argument(
        "--long-seconds",
        type=float,
        default=None,
        help="length of the memory-against-length video (120; 0: skip)",
    )
    parser.add_argument("--long-resolution", type=int, default=720, choices=sorted(RESOLUTIONS))
    parser.add_argument(
        "--min-size",
        type=int,
        default=80,
        help="--min-size of both methods, and the eligibility threshold",
    )
    parser.add_argument("--tolerance", type=float, default=0.325)
    parser.add_argument(
        "--tolerance2",
        type=float,
        default=None,
        help="second tolerance scored for quality (0.5; 0: skip)",
    )
    parser.add_argument("--threads", type=int, action="append", help="rip -j values (1, 2)")
    parser.add_argument(
        "--segment-frames",
        type=int,
        default=None,
        help="rip --segment-frames (default: rip's; --quick: 50)",
    )
    parser.add_argument("--v1-python", type=Path, default=Path("/tmp/bench-v1/bin/python"))
    parser.add_argument(
        "--v1-frames",
        type=int,
        default=None,
        help="about this many frames processed by v1 (120; 0: all)",
    )
    parser.add_argument(
        "--v1-mode",
        dest="v1_modes",
        action="append",
        choices=("faithful", "brief"),
        help="v1 variants to run (default: both; --quick: faithful)",
    )
    parser.add_argument(
        "--profile-frames",
        type=int,
        default=None,
        help="frames of the profiled segment (300; 0: no profile)",
    )
    parser.add_argument(
        "--no-defaults",
        dest="defaults",
        action="store_false",
        help="skip the run of rip at --min-size 100",
    )
    parser.add_argument(
        "--faceripper-src",
        default="worktree",
        help="worktree (the installed package), head (git archive HEAD), "
        "or a folder holding faceripper/",
    )
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="only render the report of an earlier run's results-*.json",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="Markdown file whose generated part is replaced "
        "(default: docs/performance.md, none with --quick)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.resolution = args.resolution or ([720] if quick else [720, 1080])
    args.seconds = args.seconds if args.seconds is not None else (5.0 if quick else 20.0)
    if args.long_seconds is None:
        args.long_seconds = 0.0 if quick else 120.0
    if args.tolerance2 is None:
        args.tolerance2 = 0.0 if quick else 0.5
    args.threads = args.threads or [1, 2]
    if args.segment_frames is None and quick:
        args.segment_frames = 50
    if args.v1_frames is None:
        args.v1_frames = 30 if quick else 120
    args.v1_modes = args.v1_modes or (["faithful"] if quick else ["faithful", "brief"])
    if args.profile_frames is None:
        args.profile_frames = 60 if quick else 300
    if quick:
        args.defaults = False
    if args.output is None and not quick:
        args.output = PROJECT_ROOT / "docs" / "performance.md"
    args.work_dir = args.work_dir.resolve()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.render:
        results = json.loads(args.render.read_text(encoding="utf-8"))
        report = build_report(results, results.get("command", "benchmarks/perf.py"))
        print(report)
        if args.output:
            write_doc(args.output, report)
        return 0
    if PROJECT_ROOT in args.work_dir.parents or args.work_dir == PROJECT_ROOT:
        print("--work-dir must be outside the project (it holds test data)", file=sys.stderr)
        return 2
    if not args.v1_python.is_file():
        print(f"{args.v1_python}: no such interpreter; see benchmarks/README.md", file=sys.stderr)
        return 2
    args.work_dir.mkdir(parents=True, exist_ok=True)
    reexec_with_source(args, argv)
    work = args.work_dir
    source = faceripper_source()
    log(f"faceripper under test: {source}")
    help_text = rip_help(work)
    has_every = "--every" in help_text
    fr_tolerance = default_tolerance(help_text)
    log(f"rip --every: {'yes' if has_every else 'no'}; rip's default tolerance {fr_tolerance}")
    results: dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_text(source),
        "args": {k: v for k, v in vars(args).items()},
        "videos": [],
    }
    videos = []
    for height in args.resolution:
        width, height = RESOLUTIONS[height]
        spec = VideoSpec(width, height, args.seconds, min_size_px=float(args.min_size))
        log(f"video {width}x{height}, {args.seconds:g} s")
        videos.append(make_video(work, spec, args.testdata, log=log))
    warm_reference_cache(videos[0].refs, work)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    raw = work / f"results-{stamp}.json"
    for video in videos:
        results["videos"].append(measure_video(video, args, work, has_every, fr_tolerance))
        raw.write_text(json.dumps(results, indent=1, default=_json_default), encoding="utf-8")
    if args.long_seconds:
        width, height = RESOLUTIONS[args.long_resolution]
        short = next((v for v in videos if v.spec.height == height), None)
        if short is None:
            spec = VideoSpec(width, height, args.seconds, min_size_px=float(args.min_size))
            short = make_video(work, spec, args.testdata, log=log)
        spec = VideoSpec(width, height, args.long_seconds, min_size_px=float(args.min_size))
        log(f"long video {width}x{height}, {args.long_seconds:g} s")
        long_video = make_video(work, spec, args.testdata, log=log)
        segment = ["--segment-frames", str(args.segment_frames)] if args.segment_frames else []
        memory = {}
        for entry in results["videos"]:
            if entry["video"] == short.video.name:
                memory["short"] = next((r for r in entry["faceripper"] if r["name"] == "j2"), None)
        for label, video in (("short", short), ("long", long_video)):
            if memory.get(label):
                memory[label]["video"] = video.video.name
                continue
            run = run_faceripper(
                video,
                video.truth(),
                work,
                f"memory-{label}",
                2,
                args.min_size,
                args.min_size,
                segment,
            )
            run["video"] = video.video.name
            memory[label] = run
        results["memory"] = memory
    if args.profile_frames:
        target = next((v for v in videos if v.spec.height == 1080), videos[-1])
        log(f"profiling {args.profile_frames} frames of {target.video.name}")
        try:
            results["profile"] = profile_segment(target, args.profile_frames, args.min_size)
        except Exception as exc:  # another faceripper's worker API: keep the rest
            log(f"profile failed: {type(exc).__name__}: {exc}")
    command = ("benchmarks/perf.py " + " ".join(argv)).strip()
    results["command"] = command
    report = build_report(results, command)
    raw.write_text(json.dumps(results, indent=1, default=_json_default), encoding="utf-8")
    print(report)
    if args.output:
        write_doc(args.output, report)
        log(f"wrote {args.output}")
    log(f"raw results: {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
