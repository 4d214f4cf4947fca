"""What it costs that ``rip``'s result does not depend on how videos are cut into segments.

A segment owns the frames from its first reset point (a shot cut, or every 300
looked-at frames) to the next segment's first one: it decodes and compares the frames
before its first reset point without processing them, and goes on past its end
(:func:`faceripper.worker.owned_frames`). Steps, for each video:

1. **Decoding**, one process, no models: every segment of ``rip``'s plan
   (``--segment-frames`` 30, 100 and 300, at least 8 segments for a short video, as
   ``rip`` plans) is walked with :func:`~faceripper.worker.owned_frames`. Counted: the
   frames decoded, from each segment's keyframe on, against the design before (each
   segment decoded from its keyframe to its end and processed its own frames); the
   looked-at frames left to the segment before; the frames processed past a segment's
   end; the most frames one segment owns. Timed: decoding, RGB conversion and cut
   detection of one frame.
2. With ``--before DIR`` (a copy of the package before the change, e.g.
   ``git archive OLD faceripper | tar -x -C DIR``): ``faceripper rip --threads 2`` of
   that copy and of this tree (or ``--after DIR``), interleaved, ``--repeat`` times:
   wall seconds, crops and a digest of the dataset.

Usage::

    .venv/bin/python benchmarks/segments.py --video V.mp4 --refs REFS [--video ...]
        [--before /tmp/before] [--min-size 80] [--tolerance 0.6] [--work /tmp/segbench]

Results are Markdown on stdout; they are quoted in docs/performance.md.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from faceripper.video import SHORT_VIDEO_SEGMENTS, plan_segments, reach, scan_video  # noqa: E402
from faceripper.worker import RipSettings, SegmentTask, SegmentWalk, owned_frames  # noqa: E402

SIZES = (30, 100, 300)


def walk_plan(video: Path, size: int) -> dict[str, float]:
    """Decode every segment of ``rip``'s plan for ``video`` at ``size`` as a worker does."""
    scan = scan_video(video)
    settings = RipSettings()
    block = settings.block_frames(scan.fps)
    plan = plan_segments(scan, size, SHORT_VIDEO_SEGMENTS, block)
    decoded = before = skipped = past = 0
    largest = 0
    started = time.perf_counter()
    for i, (start, end) in enumerate(plan):
        key = scan.keyframes[bisect.bisect_right(scan.keyframes, start) - 1]
        window = scan.window(start, reach(end, scan.frame_count, block))
        walk = SegmentWalk()
        owned = [
            d.index
            for d, _, _ in owned_frames(
                SegmentTask(i, "v", video, window, start, end), settings, walk
            )
        ]
        decoded += start - key + walk.decoded
        before += end - key
        skipped += walk.skipped
        past += sum(1 for f in owned if f >= end)
        largest = max(largest, len(owned))
    seconds = time.perf_counter() - started
    return {
        "segments": len(plan),
        "frames": scan.frame_count,
        "decoded": decoded,
        "decoded_before": before,
        "skipped": skipped,
        "past_end": past,
        "largest_planned": max(e - s for s, e in plan),
        "largest_owned": largest,
        "ms_per_decoded": 1000 * seconds / decoded,
    }


def dataset_digest(target: Path) -> tuple[int, str]:
    """Crops written and a digest of every dataset file (run-state files aside)."""
    digest = hashlib.sha256()
    crops = 0
    for path in sorted(target.rglob("*")):
        if path.is_file() and not path.name.startswith(".faceripper"):
            crops += path.suffix == ".jpg"
            digest.update(path.relative_to(target).as_posix().encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return crops, digest.hexdigest()[:12]


def run_rip(
    src: Path, video: Path, refs: Path, target: Path, size: int, args: argparse.Namespace
) -> tuple[float, int, str]:
    """Wall seconds, crops and dataset digest of one ``rip --threads 2`` of ``src``."""
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(refs), "--video", str(video),
        "--target-dir", str(target), "--restart", "--threads", "2", "--segment-frames", str(size),
        "--min-size", str(args.min_size), "--tolerance", str(args.tolerance),
        "--cache", str(args.work / f"{refs.name}.npz"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(src)}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rip failed: {done.stderr[-2000:]}")
    return (seconds, *dataset_digest(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, action="append", required=True)
    parser.add_argument("--refs", type=Path, action="append", required=True, help="one per --video")
    parser.add_argument("--before", type=Path, help="the package before the change")
    parser.add_argument("--after", type=Path, default=PROJECT_ROOT, help="default: this tree")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--rip-sizes", type=int, nargs="+", default=[300])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--tolerance", type=float, default=0.6)
    parser.add_argument("--work", type=Path, default=Path("/tmp/segbench"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    print(
        "| video | --segment-frames | segments | decoded (before) | extra decoded "
        "| left to the previous | processed past the end "
        "| most frames planned / owned by one segment | ms per decoded frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for video in args.video:
        for size in args.sizes:
            w = walk_plan(video, size)
            extra = (w["decoded"] - w["decoded_before"]) / w["frames"]
            print(
                f"| {video.name} | {size} | {w['segments']} "
                f"| {w['decoded']} ({w['decoded_before']}) "
                f"| {extra:+.1%} of the frames | {w['skipped']} | {w['past_end']} "
                f"| {w['largest_planned']} / {w['largest_owned']} | {w['ms_per_decoded']:.1f} |",
                flush=True,
            )
    if args.before is None:
        return
    print()
    print("| video | --segment-frames | run | before: s, crops, digest | after: s, crops, digest |")
    print("|---|---|---|---|---|")
    for video, refs in zip(args.video, args.refs, strict=True):
        for size in args.rip_sizes:
            for repeat in range(args.repeat):
                cells = []
                for name, src in (("before", args.before), ("after", args.after)):
                    seconds, crops, digest = run_rip(src, video, refs, args.work / name, size, args)
                    cells.append(f"{seconds:.1f} s, {crops}, {digest}")
                print(
                    f"| {video.name} | {size} | {repeat + 1} | {cells[0]} | {cells[1]} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
