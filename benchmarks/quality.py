"""Precision, recall and crop counts of ``faceripper rip`` on a ground-truth video.

Builds a scenario from ``lfw_dev`` (targets whose reference photos never appear in the
video, distractors, blurred and small faces, moving and zooming; see
:func:`faceripper.testing.build_scenario`), runs ``faceripper rip`` once per option
set given after ``--``-separated groups, and prints one Markdown row per run.

    python benchmarks/quality.py --seconds 20 -- "" "--no-tracks" "--tolerance 0.4"
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceripper.testing import build_scenario, evaluate


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--frames", type=int, nargs=2, default=(45, 75))
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faceripper-quality-"))
    scenario = build_scenario(
        args.testdata / "lfw_dev",
        work / "scenario",
        seed=args.seed,
        n_targets=6,
        n_shots=args.shots,
        frames_per_shot=tuple(args.frames),
        faces_per_shot=(2, 3),
        size_range_px=(85.0, 110.0),
        min_size_px=float(args.min_size),
        distractor_probability=0.35,
    )
    frames = 1 + max(r.frame for r in scenario.truth)
    print(f"video: {frames} frames, {len(scenario.truth)} faces, work folder {work}\n")
    print(
        "| options | s | crops | precision | frame recall | appearances covered | "
        "on distractors | on blurred | on small |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for index, extra in enumerate(args.runs):
        target = work / f"faces{index}"
        command = [
            sys.executable,
            "-m",
            "faceripper",
            "rip",
            "--refs",
            str(scenario.refs),
            "--video",
            str(scenario.video),
            "--target-dir",
            str(target),
            "--min-size",
            str(args.min_size),
            "--threads",
            str(args.threads),
            *shlex.split(extra),
        ]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            print(f"| `{extra}` | failed: {done.stderr.strip().splitlines()[-1]} |")
            continue
        with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        m = evaluate(rows, scenario.truth, scenario.label_to_identity, args.min_size)
        print(
            f"| `{extra or '(defaults)'}` | {seconds:.0f} | {m.saved} | {m.precision:.3f} | "
            f"{m.recall:.3f} | {m.appearances_found}/{m.eligible_appearances} | "
            f"{m.on_distractor} | {m.on_blurred} | {m.on_small} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
