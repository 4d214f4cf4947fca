"""Identity on footage-like ground truth: precision, frame recall, appearances, strangers.

Builds (once, then reuses) a :func:`faceripper.testing.footage.build_footage` video from
``lfw_dev``: six people with one reference photo each, shown in three shots each with
other photos of them (size, motion, light, noise, softness and prior compression vary
per shot), a look-alike stranger without references (alone and beside their
look-alike), close-up-to-close-up cuts at one place, H.264. Then runs ``faceripper rip``
once per option set, with the ordinary references and with tight-crop ones, and prints
one Markdown row per run.

    python benchmarks/identity.py -- "" "--no-dedupe" "--no-adapt --no-dedupe"

Faces that vary within a shot (``faceripper.testing.footage.MOVING``: the head turns to other
photos of the person, per-frame jitter), in ``WORK/seed13-moving``::

    python benchmarks/identity.py --moving -- "--no-dedupe"

A harder stranger: Kim Hong-up's photo lies 0.42 from Hu Jintao's most typical one (the
nearest pair of different people in ``lfw_dev``)::

    python benchmarks/identity.py --work /tmp/hard --stranger Kim_Hong-up --targets \
        Abdullah_Gul,Andy_Roddick,Britney_Spears,Hu_Jintao,John_Allen_Muhammad,\
Julie_Gerberding,Lance_Armstrong -- "" "--no-dedupe"

More reference photos per person (``--refs-per-person K``, repeatable): each person's
reference plus their K - 1 most typical photos that the video does not show
(:func:`faceripper.testing.more_refs.footage_spares`; for a referenced person absent
from the video, their most typical other photos), on the same video::

    python benchmarks/identity.py --moving --seed 21 --refs plain --refs-per-person 1 \
        --refs-per-person 2 --refs-per-person 3 -- "--no-dedupe"
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import shlex
import subprocess
import sys
import time
from pathlib import Path

from faceripper.testing import evaluate
from faceripper.testing.footage import MOVING, Footage, build_footage
from faceripper.testing.more_refs import by_typicality, footage_spares, write_refs
from faceripper.testing.scenes import load_face_sources


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-identity"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--refs", choices=("plain", "tight", "both"), default="both", help="reference set"
    )
    parser.add_argument(
        "--targets", default="", help="comma-separated LFW people (default: drawn by the seed)"
    )
    parser.add_argument("--stranger", default=None, help="the LFW person shown without references")
    parser.add_argument(
        "--moving",
        action="store_true",
        help="faces that vary within a shot (faceripper.testing.footage.MOVING): other photos of "
        "the person crossfaded in as the head turns, per-frame jitter",
    )
    parser.add_argument(
        "--refs-per-person",
        type=int,
        action="append",
        help="reference photos per person, the extra ones among those the video does not "
        "show (repeatable; default 1)",
    )
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    work = args.work / (f"seed{args.seed}" + ("-moving" if args.moving else ""))
    cached = work / "footage.pickle"
    if cached.is_file():
        footage: Footage = pickle.loads(cached.read_bytes())
    else:
        footage = build_footage(
            args.testdata / "lfw_dev",
            work,
            seed=args.seed,
            targets=[t for t in args.targets.split(",") if t],
            stranger=args.stranger,
            **(MOVING if args.moving else {}),  # type: ignore[arg-type]
        )
        cached.write_bytes(pickle.dumps(footage))
    frames = 1 + max(r.frame for r in footage.truth)
    print(
        f"video: {frames} frames, {len(footage.truth)} faces, stranger {footage.stranger} "
        f"(looks like {footage.lookalike}), invisible cuts at {list(footage.invisible_cuts)}, "
        f"work folder {work}\n"
    )
    ks = args.refs_per_person or [1]
    spares = (
        footage_spares(
            args.testdata / "lfw_dev",
            sorted(footage.label_to_identity),
            seed=args.seed,
            views_per_shot=int(MOVING["views_per_shot"]) if args.moving else 1,
        )
        if max(ks) > 1
        else {}
    )
    for name in sorted(p.name for p in footage.refs.iterdir() if p.is_dir()):
        if max(ks) > 1 and name not in spares:  # referenced, absent from the video
            mine = {p.name for p in (footage.refs / name).iterdir()}
            others = load_face_sources(args.testdata / "lfw_dev" / name, identity=name)
            spares[name] = by_typicality([s for s in others if s.path.name not in mine])
    for name, extra in sorted(spares.items()):
        print(f"{name}: photos not shown {[s.path.name for s in extra]}")
    print(
        "| refs | options | s | crops | precision | frame recall | appearances covered | "
        "strangers saved | on blurred |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    ref_sets = {"plain": footage.refs, "tight": footage.refs_tight}
    chosen = ["plain", "tight"] if args.refs == "both" else [args.refs]
    runs = [(kind, k, index, extra) for kind in chosen for k in ks
            for index, extra in enumerate(args.runs)]  # fmt: skip
    for kind, k, index, extra in runs:
        refs = ref_sets[kind]
        if k > 1:
            refs = write_refs(refs, spares, k, work / f"{refs.name}-k{k}", kind == "tight")
        target = work / (f"faces-{kind}-{index}" + (f"-k{k}" if k > 1 else ""))
        kind_k = kind + (f" x{k}" if k > 1 else "")
        command = [
            sys.executable,
            "-m",
            "faceripper",
            "rip",
            "--refs",
            str(refs),
            "--video",
            str(footage.video),
            "--target-dir",
            str(target),
            "--min-size",
            str(args.min_size),
            "--threads",
            str(args.threads),
            "--restart",
            *shlex.split(extra),
        ]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            print(f"| {kind_k} | `{extra}` | failed: {last} |", flush=True)
            continue
        with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        m = evaluate(rows, footage.truth, footage.label_to_identity, args.min_size)
        print(
            f"| {kind_k} | `{extra or '(defaults)'}` | {seconds:.0f} | {m.saved} | "
            f"{m.precision:.3f} | {m.recall:.3f} | "
            f"{m.appearances_found}/{m.eligible_appearances} | {m.on_distractor} | "
            f"{m.on_blurred} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
