"""Identity on a sitcom-like ground truth: one show's cast, tight-crop references, strangers.

Builds (once per seed and draw, then reuses) a :func:`faceripper.testing.sitcom.build_sitcom`
video from ``face-api.js`` (8 characters of one sitcom x 5 tight crops): 1280x720 H.264 at
25 fps, 16 shots of 1-5 s with 2-4 characters each at their own places (faces 80-200 px,
some moving), 3 close-up-to-close-up cuts at one place; one crop per referenced character as
their reference, 2 characters as strangers. ``--draw`` picks the strangers and the
reference crops (the scenes follow ``--seed``). Then runs ``faceripper rip`` once per option
set and prints one Markdown row per run: precision, frame recall, appearances covered,
stranger crops, wrong-person crops (another referenced character), crops on no face.

    python benchmarks/sitcom.py --draw 1 --draw 2 --draw 3 -- "" "--no-dedupe"

``--hog`` first prints the fraction of faces HOG finds at rip's detection scale.
``--absent N`` adds, as issue 13's clip came with, references of N people who are not in
the video (the first N of ``lfw_dev``'s one-photo people): a crop under their names counts
as a wrong-person crop.

``--held-out N`` builds videos that keep N crops of each referenced character out of the
footage (the reference and N - 1 spares, folder ``seed{S}-draw{D}-held{N}``), and
``--refs-per-person K`` (repeatable) rips each with the first K of them as references, so
that 1, 2, ... reference photos are compared on the same video::

    python benchmarks/sitcom.py --held-out 2 --draw 1 --refs-per-person 1 \
        --refs-per-person 2 -- "--no-dedupe"
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from faceripper.detector import detection_scale
from faceripper.testing import evaluate
from faceripper.testing.more_refs import write_refs
from faceripper.testing.sitcom import Sitcom, build_sitcom, hog_visibility


def load_or_build(
    testdata: Path, work: Path, seed: int, draw: int, held_out: int = 1
) -> tuple[Sitcom, Path]:
    """The cached video of ``seed`` and ``draw`` under ``work``, built the first time."""
    folder = work / (f"seed{seed}-draw{draw}" + (f"-held{held_out}" if held_out > 1 else ""))
    cached = folder / "sitcom.pickle"
    if cached.is_file():
        return pickle.loads(cached.read_bytes()), folder
    sitcom = build_sitcom(testdata / "face-api.js", folder, seed=seed, draw=draw, held_out=held_out)
    cached.write_bytes(pickle.dumps(sitcom))
    return sitcom, folder


def with_absent(sitcom: Sitcom, lfw: Path, folder: Path, n: int) -> Path:
    """The sitcom's references plus one photo each of ``n`` people not in the video."""
    if n == 0:
        return sitcom.refs
    refs = folder / f"refs-absent{n}"
    shutil.rmtree(refs, ignore_errors=True)
    shutil.copytree(sitcom.refs, refs)
    singles = [p for p in sorted(lfw.iterdir()) if p.is_dir() and len(list(p.iterdir())) == 1]
    for person in singles[:n]:
        shutil.copytree(person, refs / person.name)
    return refs


def run_rip(
    sitcom: Sitcom, refs: Path, target: Path, min_size: int, threads: int, extra: str
) -> str:
    """One rip run scored as a Markdown row's cells (after the draw and the options)."""
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(refs),
        "--video", str(sitcom.video), "--target-dir", str(target), "--min-size",
        str(min_size), "--threads", str(threads), "--restart", *shlex.split(extra),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        return "failed: " + (done.stderr.strip().splitlines() or ["?"])[-1]
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    m = evaluate(rows, sitcom.truth, sitcom.label_to_identity, min_size)
    return (
        f"{seconds:.0f} | {m.saved} | {m.precision:.3f} | {m.recall:.3f} | "
        f"{m.appearances_found}/{m.eligible_appearances} | {m.on_distractor} | "
        f"{m.wrong_identity - m.on_distractor} | {m.unmatched} | {m.on_blurred}"
    )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-sitcom"))
    parser.add_argument("--seed", type=int, default=1, help="the scenes")
    parser.add_argument(
        "--draw", type=int, action="append", help="strangers and reference crops (repeatable)"
    )
    parser.add_argument("--min-size", type=int, default=100, help="rip's default: 100")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--hog", action="store_true", help="measure what HOG finds first")
    parser.add_argument("--absent", type=int, default=0, help="references of absent people")
    parser.add_argument(
        "--held-out", type=int, default=1, help="crops per character kept out of the video"
    )
    parser.add_argument(
        "--refs-per-person",
        type=int,
        action="append",
        help="reference crops per character, among those held out (repeatable; default 1)",
    )
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    header = (
        "| draw | refs per person | options | s | crops | precision | frame recall | "
        "appearances covered | stranger crops | wrong-person crops | on no face | on blurred |\n"
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = []
    for draw in args.draw or [args.seed]:
        sitcom, folder = load_or_build(args.testdata, args.work, args.seed, draw, args.held_out)
        photos = ", ".join(f"{k} ({v.name})" for k, v in sorted(sitcom.reference_photos.items()))
        print(
            f"draw {draw}: {1 + max(r.frame for r in sitcom.truth)} frames, "
            f"{len(sitcom.truth)} faces, strangers {', '.join(sitcom.strangers)}, references "
            f"{photos}, invisible cuts at {list(sitcom.invisible_cuts)}, folder {folder}",
            flush=True,
        )
        if args.hog:
            scale = detection_scale(args.min_size)
            found = hog_visibility(sitcom.video, sitcom.truth, scale, args.min_size)
            print(
                f"  HOG at scale {scale:.2f} (every 5th frame, faces >= {args.min_size} px): "
                + ", ".join(f"{k} {a}/{b} ({a / max(b, 1):.2f})" for k, (a, b) in found.items()),
                flush=True,
            )
        base = with_absent(sitcom, args.testdata / "lfw_dev", folder, args.absent)
        absent = f" + {args.absent} absent refs" if args.absent else ""
        spares = dict(sitcom.spare_references)
        for k in args.refs_per_person or [1]:
            if any(len(v) < k - 1 for v in spares.values()) or (k > 1 and not spares):
                print(f"  {k} references: the video holds out too few crops", flush=True)
                continue
            refs = base if k == 1 else write_refs(base, spares, k, folder / f"refs-k{k}")
            for index, extra in enumerate(args.runs):
                name = f"faces{absent.replace(' ', '')}" + (f"-k{k}" if k > 1 else "")
                cells = run_rip(sitcom, refs, folder / f"{name}-{index}", args.min_size,
                                args.threads, extra)  # fmt: skip
                rows.append(f"| {draw} | {k} | `{extra or '(defaults)'}`{absent} | {cells} |")
                print(rows[-1], flush=True)
    print("\n" + header + "\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
