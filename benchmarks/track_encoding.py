"""How often a face track should be encoded, now that an encoding is cheap.

A track is encoded at its first face, then every ``UNSETTLED_EVERY`` frames until its
identity is settled, then every ``RECHECK_EVERY`` frames (:mod:`faceripper.tracks`;
10 and 2, chosen when an encoding cost 80-100 ms). This script runs ``faceripper rip``
on ground-truth videos with other values of the two constants (set in the rip process
before its workers fork) and reports crops, precision, recall, appearances covered,
faces encoded, and wall and CPU time, all in one run and interleaved, so that the
machine's load hits every variant alike.

Videos: the scenario of ``benchmarks/quality.py`` (LFW faces, 640x360, targets whose
reference photos never appear), one per ``--seed``; or ``--video`` with ``--refs``, a
video of ``benchmarks/make_videos.py`` (its truth and labels beside it).

A variant is ``RECHECK,UNSETTLED[,ENGINE[,THREADS]]``::

    python benchmarks/track_encoding.py --seed 3 --variants 10,2 5,1 1,1 10,2,dlib
    python benchmarks/track_encoding.py --min-size 100 \
        --video /tmp/faceripper-bench/videos/bench_1080p_20s_seed5.mp4 \
        --refs /tmp/faceripper-bench/refs_seed5 --variants 10,2,auto,2 10,2,dlib,2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from faceripper.testing import build_scenario, evaluate, load_truth

#: The rip process: set the tracks' constants, then run the CLI (workers fork from it).
DRIVER = (
    "import sys, faceripper.tracks as t\n"
    "t.RECHECK_EVERY, t.UNSETTLED_EVERY = int(sys.argv[1]), int(sys.argv[2])\n"
    "from faceripper.cli import main\n"
    "main(sys.argv[3:])\n"
)


def _journal_counts(target: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    journal = target / ".faceripper-journal.jsonl"
    for line in journal.read_text(encoding="utf-8").splitlines()[1:]:
        record = json.loads(line)
        for key, value in record.get("counts", {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--seed", type=int, action="append")
    parser.add_argument("--shots", type=int, default=8)
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--video", type=Path, default=None, help="a make_videos.py video")
    parser.add_argument("--refs", type=Path, default=None, help="its reference folders")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["10,2", "5,1", "2,1", "1,1"],
        help="RECHECK_EVERY,UNSETTLED_EVERY pairs; a third field gives --engine",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faceripper-tracks-"))
    print(f"work folder {work}; --min-size {args.min_size}\n")
    print(
        "| video | recheck, unsettled | engine | -j | s | CPU s | encoded | crops | precision "
        "| frame recall | appearances covered |"
    )
    print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for seed in [0] if args.video else args.seed or [3]:
        if args.video:
            meta = json.loads(Path(f"{args.video}.meta.json").read_text(encoding="utf-8"))
            scenario = SimpleNamespace(
                video=args.video,
                refs=args.refs,
                truth=load_truth(Path(f"{args.video}.truth.csv")),
                label_to_identity=meta["label_to_identity"],
            )
            name = args.video.stem
        else:
            scenario = build_scenario(
                args.testdata / "lfw_dev",
                work / f"scenario{seed}",
                seed=seed,
                n_targets=6,
                n_shots=args.shots,
                frames_per_shot=(45, 75),
                faces_per_shot=(2, 3),
                size_range_px=(85.0, 110.0),
                min_size_px=float(args.min_size),
                distractor_probability=0.35,
            )
            name = f"seed {seed}"
        cache = work / f"refs{seed}.npz"
        for round_ in range(args.rounds):
            for variant in args.variants:
                recheck, unsettled, *rest = variant.split(",")
                engine = rest[0] if rest else "auto"
                threads = rest[1] if len(rest) > 1 else str(args.threads)
                target = work / f"faces{seed}-{round_}-{variant.replace(',', '-')}"
                command = [
                    sys.executable,
                    "-c",
                    DRIVER,
                    recheck,
                    unsettled,
                    "rip",
                    "--refs",
                    str(scenario.refs),
                    "--video",
                    str(scenario.video),
                    "--target-dir",
                    str(target),
                    "--cache",
                    str(cache),
                    "--min-size",
                    str(args.min_size),
                    "--threads",
                    threads,
                    "--engine",
                    engine,
                ]
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.monotonic()
                done = subprocess.run(command, capture_output=True, text=True)
                seconds = time.monotonic() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                if done.returncode != 0:
                    print(f"| {name} | {variant} | failed: {done.stderr.strip()[-200:]} |")
                    continue
                with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
                    rows = list(csv.DictReader(handle))
                m = evaluate(rows, scenario.truth, scenario.label_to_identity, args.min_size)
                encoded = _journal_counts(target).get("encoded", -1)
                print(
                    f"| {name} | {recheck}, {unsettled} | {engine} | {threads} "
                    f"| {seconds:.1f} | {cpu:.1f} | {encoded} | {m.saved} | {m.precision:.3f} "
                    f"| {m.recall:.3f} | {m.appearances_found}/{m.eligible_appearances} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
