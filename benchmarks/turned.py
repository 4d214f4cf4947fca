"""Faces HOG cannot see: known people turned, tilted, looking down, a hand over the mouth.

Builds (once, then reuses from ``--work``) the clip of
:func:`faceripper.testing.turned.build_turned`: real ``lfw_dev`` photos, four referenced
people (one reference photo each, never shown) frontal part of the time and, in between,
in poses HOG misses at ``rip``'s detection scale and the CNN finds (their LFW photos HOG
misses, in-plane tilt 45-70 degrees, looking down, a hand over mouth and chin), two
strangers doing the same beside them, and twice a stranger taking a person's HOG-lost
place; H.264, 640x360, 30 frames/s; every face of every decoded frame labelled with its
pose and whether HOG finds it. Then runs ``faceripper rip`` once per option set
(``--min-size 80``) and prints, per run:

- per pose, the referenced people's HOG-lost faces saved under the right label / all of
  them (crossfade frames left out), and those saved under a wrong label;
- crops on strangers, on a stranger who took a person's place, on no face; precision;
  frame recall (sharp referenced faces of 80 px and more with a right crop: every frame
  counts, so compare it with ``--no-dedupe``);
- the manifest's ``detector`` column (``hog`` / ``followed``) for all crops and for the
  HOG-lost ones saved right;
- why the other HOG-lost faces were lost (:data:`faceripper.testing.turned_eval.LOSS_CAUSES`,
  the first cause that applies, read from the truth and the manifest);
- with ``--replay``, for each run of HOG-lost frames that follows a saved crop of the
  same face: the forward-following rules of *this* tree (``follow.choose`` on
  ``detector.detect_cnn_around``, the encoding check left out) replayed from ``rip``'s
  last saved box (searched again around the last saved HOG box where nothing continues
  it), and where the chain stops (CNN score, box under ``--min-size``, no link), with
  the unsaved faces of such runs per pose and stop.

    python benchmarks/turned.py -- "" "--no-dedupe" "--no-follow"

Other versions of ``rip`` in the same run (the clip and the scoring stay this tree's)::

    python benchmarks/turned.py --code main=/tmp/main --code follow2=/tmp/follow2 -- ""

Each ``--code NAME=DIR`` runs ``rip`` from ``DIR`` (a copy of a version: its
``PYTHONPATH`` and working folder).
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
from collections import Counter
from pathlib import Path

import numpy as np

from faceripper.testing.poses import POSES
from faceripper.testing.turned import PoseRow, Turned, build_turned
from faceripper.testing.turned_eval import LOSS_CAUSES, evaluate_turned, match_rows


def describe(turned: Turned) -> str:
    """The clip in a few lines: frames, faces, HOG-lost faces per pose."""
    frames = 1 + max(r.frame for r in turned.poses)
    lost = Counter(r.pose for r in turned.poses if r.is_target and r.lost)
    found = Counter(r.pose for r in turned.poses if r.is_target and r.hog and not r.fading)
    strangers = Counter(r.pose for r in turned.poses if not r.is_target and r.lost)
    far = sum(r.own_distance > 0.65 for r in turned.poses if r.is_target and r.lost)
    missed = ", ".join(f"{s.path.name}" for s in turned.lfw_missed)
    return (
        f"{frames} frames, {len(turned.poses)} faces; referenced: "
        f"{', '.join(turned.label_to_identity.values())}\n"
        f"referenced faces HOG finds (out of crossfades): {dict(found)}\n"
        f"referenced faces HOG misses: {dict(lost)}, {far} of them over 0.65 from the "
        f"same face's HOG encodings\nstrangers' faces HOG misses: {dict(strangers)}\n"
        f"lfw_dev photos HOG misses and the CNN finds: {missed}\npose settings: "
        f"{turned.settings}\n"
    )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-turned"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--replay", action="store_true", help="replay forward following on the lost runs"
    )
    parser.add_argument(
        "--code", action="append", default=[], help="NAME=DIR: run rip from DIR (repeatable)"
    )
    parser.add_argument("runs", nargs="*", default=["", "--no-dedupe", "--no-follow"])
    args = parser.parse_args()
    cached = args.work / "turned.pickle"
    if cached.is_file():
        turned: Turned = pickle.loads(cached.read_bytes())
    else:
        turned = build_turned(args.testdata / "lfw_dev", args.work)
        cached.write_bytes(pickle.dumps(turned))
    print(describe(turned))
    header = " | ".join(f"{p} lost saved" for p in POSES if p != "frontal")
    print(
        f"| options | s | crops | {header} | all lost saved | wrong label | on strangers "
        "| on a replacing stranger | on no face | precision | frame recall | detector "
        "| detector of lost saved |"
    )
    print("|---|" + "---:|" * (len(POSES) + 8) + "---|---|")
    losses = []
    replays: list[tuple[str, Counter[tuple[str, str]]]] = []
    versions = [tuple(c.split("=", 1)) for c in args.code] or [("", "")]
    runs = [(v, d, extra) for v, d in versions for extra in args.runs]
    for index, (version, code, extra) in enumerate(runs):
        target = args.work / f"faces-{index}"
        env = dict(os.environ)
        if code:
            env["PYTHONPATH"] = code
        command = [
            sys.executable, "-m", "faceripper", "rip", "--refs", str(turned.refs),
            "--video", str(turned.video), "--target-dir", str(target), "--min-size", "80",
            "--threads", str(args.threads), "--restart", *shlex.split(extra),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code or None)
        seconds = time.monotonic() - started
        name = (f"{version} " if version else "") + f"`{extra or '(defaults)'}`"
        if done.returncode != 0:
            print(f"| {name} | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]} |")
            continue
        with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        m = evaluate_turned(rows, turned)
        per_pose = " | ".join(
            f"{m.lost_saved.get(p, 0)}/{m.lost.get(p, 0)}" for p in POSES if p != "frontal"
        )
        total = sum(m.lost.values())
        wrong = m.base.wrong_identity
        print(
            f"| {name} | {seconds:.0f} | {m.base.saved} | {per_pose} | "
            f"{sum(m.lost_saved.values())}/{total} | {wrong} | {m.base.on_distractor} | "
            f"{m.on_replaced} | {m.base.unmatched} | {m.base.precision:.3f} | "
            f"{m.base.recall:.3f} | {_counts(m.detectors)} | {_counts(m.lost_detectors)} |",
            flush=True,
        )
        losses.append((name, m.losses))
        if args.replay and "--no-follow" not in extra:
            stopped = replay(turned, rows, 80)
            replays.append((name, stopped))
    print("\n| options | " + " | ".join(LOSS_CAUSES) + " |")
    print("|---|" + "---:|" * len(LOSS_CAUSES))
    for name, counts in losses:
        print(f"| {name} | " + " | ".join(str(counts.get(c, 0)) for c in LOSS_CAUSES) + " |")
    for name, stopped in replays:
        print(f"\n{name}, forward runs replayed: unsaved faces by pose and where the chain stops")
        for (pose, stop), count in sorted(stopped.items()):
            print(f"- {pose}: {stop}: {count}")
    return 0


def replay(turned: Turned, rows: list[dict[str, str]], min_size: int) -> Counter[tuple[str, str]]:
    """Replay forward following on each run of HOG-lost frames after a saved crop of the
    same face (module doc); the unsaved faces per ``(pose, where the chain stops)``."""
    from faceripper.detector import detect_cnn_around
    from faceripper.follow import FOLLOW_MIN_SCORE, choose
    from faceripper.geometry import box_sizes
    from faceripper.video import iter_frames, scan_video

    saved: dict[tuple[int, int], np.ndarray] = {}
    hog_saved: dict[int, list[tuple[int, np.ndarray]]] = {}
    for record, face in match_rows(rows, turned.truth):
        if face is not None and turned.label_to_identity.get(record["label"]) == face.identity:
            box = np.array([int(record[k]) for k in ("top", "right", "bottom", "left")])
            saved[(face.frame, face.appearance)] = box
            if record.get("detector", "hog") == "hog":
                hog_saved.setdefault(face.appearance, []).append((face.frame, box))
    lost: dict[int, list[PoseRow]] = {}
    for row in turned.poses:
        if row.is_target and not row.hog:
            lost.setdefault(row.appearance, []).append(row)
    runs: list[list[PoseRow]] = []
    for faces in lost.values():
        faces.sort(key=lambda r: r.frame)
        run = [faces[0]]
        for row in faces[1:]:
            if row.frame != run[-1].frame + 1:
                runs.append(run)
                run = []
            run.append(row)
        runs.append(run)
    runs = [r for r in runs if (r[0].frame - 1, r[0].appearance) in saved]
    chains = {id(r): saved[(r[0].frame - 1, r[0].appearance)] for r in runs}
    # The last HOG box before each run, searched around when the last box finds nothing.
    hogs: dict[int, np.ndarray] = {}
    for r in runs:
        before = [(f, b) for f, b in hog_saved.get(r[0].appearance, []) if f < r[0].frame]
        hogs[id(r)] = max(before, key=lambda fb: fb[0])[1] if before else chains[id(r)]
    stops: dict[int, str] = {}
    by_frame: dict[int, list[tuple[list[PoseRow], PoseRow]]] = {}
    for run in runs:
        for row in run:
            by_frame.setdefault(row.frame, []).append((run, row))
    scan = scan_video(turned.video)
    for decoded in iter_frames(turned.video, scan, 0, scan.frame_count):
        for run, row in by_frame.get(decoded.index, []):
            if id(run) in stops:
                continue
            key = (row.frame, row.appearance)
            if key in saved:
                chains[id(run)] = saved[key]
                continue
            last = chains[id(run)]
            boxes, scores = detect_cnn_around(decoded.rgb(), last)
            chosen = choose(last, boxes, scores, np.zeros((0, 4), np.int64), min_size)
            if chosen < 0 and not np.array_equal(hogs[id(run)], last):
                boxes, scores = detect_cnn_around(decoded.rgb(), hogs[id(run)])
                chosen = choose(last, boxes, scores, np.zeros((0, 4), np.int64), min_size)
            if chosen >= 0:
                chains[id(run)] = boxes[chosen]
            elif len(boxes) == 0 or float(scores.max()) < FOLLOW_MIN_SCORE:
                stops[id(run)] = "CNN score under 0.3 around the last box and the last HOG box"
            elif (box_sizes(boxes) < min_size).all():
                stops[id(run)] = "CNN box under --min-size"
            else:
                stops[id(run)] = "no link to the last box"
    out: Counter[tuple[str, str]] = Counter()
    for run in runs:
        unsaved = [r for r in run if not r.fading and (r.frame, r.appearance) not in saved]
        if unsaved:
            stop = stops.get(id(run), "continued to the end by the rules (not saved)")
            out[(run[len(run) // 2].pose, stop)] += len(unsaved)
    return out


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"


if __name__ == "__main__":
    sys.exit(main())
