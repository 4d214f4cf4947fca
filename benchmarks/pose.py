"""Heads that turn away for most of a shot: are their tracks still decided, and right?

Ground truth from real photos (``lfw_dev``): every person with at least 2 turned photos
(``|yaw| >= --turned`` degrees by :func:`faceripper.pose.yaw_degrees`, which HOG still
finds) and 3 frontal ones (``|yaw| <= 10``). Their most frontal photo is their one
reference; the first ``--referenced`` of them (by name) are referenced, the others are
strangers (shown, never referenced). Each person gets one shot of ``--frames`` frames,
alone, a face of 110 px: another frontal photo for the first quarter, then their two
turned photos (crossfades of 6 frames), so that three quarters of the track are turned.
Where the turned faces' distances to the reference photo sink the track's median, the
whole track, frontal faces included, used to be lost.

For each option set, ``faceripper rip`` (``--min-size 80``) and, against the truth:
crops, precision, frame recall, appearances covered, crops in the turned part of the
shots, stranger crops, wrong labels; with the manifest's ``yaw`` column (when the
version writes it), the yaws of the saved crops.

    python benchmarks/pose.py -- "" "--no-dedupe"

Compare two versions by running it with each first on ``PYTHONPATH``.
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

import numpy as np

from faceripper.encoder import encode_faces
from faceripper.images import load_rgb
from faceripper.testing import PlacedFace, Shot, evaluate, load_face_sources, render_video

FRONTAL = 10.0
FIRST_VIEW = 0.25
FADE_FRAMES = 6


def _yaws(testdata: Path) -> dict[str, list[tuple[float, object]]]:
    """Each lfw_dev person's photos that HOG finds, with their yaw."""
    from faceripper.pose import head_pose  # (here: the rest runs with versions without it)

    people: dict[str, list[tuple[float, object]]] = {}
    for folder in sorted(p for p in (testdata / "lfw_dev").iterdir() if p.is_dir()):
        for source in load_face_sources(folder):
            faces = encode_faces(
                load_rgb(source.path),
                np.array([source.box]),
                landmark_model="5",
                encode=np.array([False]),
            )
            pose = head_pose(faces.landmarks_xy[0])
            if pose is not None:
                people.setdefault(folder.name, []).append((pose.yaw, source))
    return people


def build(testdata: Path, work: Path, turned: float, referenced: int, frames: int) -> dict:
    """Render the clip and write the references; what scoring needs."""
    chosen: list[tuple[str, object, object, list[object]]] = []
    for person, photos in _yaws(testdata).items():
        ordered = sorted(photos, key=lambda p: abs(p[0]))
        frontal = [s for y, s in ordered if abs(y) <= FRONTAL]
        turned_photos = [s for y, s in ordered if abs(y) >= turned][::-1][:2]
        if len(frontal) >= 3 and len(turned_photos) == 2:
            chosen.append((person, frontal[0], frontal[1], turned_photos))
    shots, labels = [], {}
    refs = work / "refs"
    for index, (person, reference, shown, turned_photos) in enumerate(chosen):
        is_target = index < referenced
        if is_target:
            folder = refs / person.lower()
            folder.mkdir(parents=True, exist_ok=True)
            (folder / reference.path.name).write_bytes(reference.path.read_bytes())
            labels[person.lower()] = person
        face = PlacedFace(
            shown,
            (300.0, 180.0),
            (340.0, 185.0),
            110.0,
            112.0,
            is_target=is_target,
            views=tuple(turned_photos),
            view_changes=(FIRST_VIEW, FIRST_VIEW + (1 - FIRST_VIEW) / 2),
            fade=round(FADE_FRAMES / frames, 4),
        )
        shots.append(Shot(frames, (face,), (90 + 20 * index % 120, 110, 100), texture_seed=index))
    video = work / "videos" / "turning.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    truth = render_video(video, shots)
    return {
        "video": video,
        "refs": refs,
        "truth": truth,
        "labels": labels,
        "people": [c[0] for c in chosen],
        "frames": frames,
    }


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-pose"))
    parser.add_argument("--turned", type=float, default=20.0, help="least |yaw| of a turned photo")
    parser.add_argument("--referenced", type=int, default=4, help="people with references")
    parser.add_argument("--frames", type=int, default=120, help="frames per shot")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    cached = args.work / "clip.pickle"
    if cached.is_file():
        clip = pickle.loads(cached.read_bytes())
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        clip = build(args.testdata, args.work, args.turned, args.referenced, args.frames)
        cached.write_bytes(pickle.dumps(clip))
    people, frames = clip["people"], clip["frames"]
    print(f"{len(people)} people, referenced: {', '.join(clip['labels'].values())}; strangers: ")
    print(", ".join(people[len(clip["labels"]) :]) + f"; {frames} frames a shot\n")
    print(
        "| options | s | crops | precision | frame recall | appearances | turned-part crops "
        "| stranger crops | wrong | yaw of crops |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    turned_from = int((FIRST_VIEW + FADE_FRAMES / frames / 2) * frames)
    for index, extra in enumerate(args.runs):
        target = args.work / f"faces-{index}"
        command = [
            sys.executable, "-m", "faceripper", "rip", "--refs", str(clip["refs"]),
            "--video", str(clip["video"]), "--target-dir", str(target), "--min-size", "80",
            "--threads", str(args.threads), "--restart", *shlex.split(extra),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            print(f"| `{extra}` | failed: {(done.stderr.strip().splitlines() or ['?'])[-1]} |")
            continue
        with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["status"] == "saved"]
        m = evaluate(rows, clip["truth"], clip["labels"], 80)
        turned_part = sum(int(r["frame"]) % frames >= turned_from for r in rows)
        yaws = [abs(float(r["yaw"])) for r in rows if r.get("yaw")]
        shown = f"{min(yaws):.0f}-{max(yaws):.0f}, median {np.median(yaws):.0f}" if yaws else "-"
        print(
            f"| `{extra or '(defaults)'}` | {seconds:.0f} | {m.saved} | {m.precision:.3f} | "
            f"{m.recall:.3f} | {m.appearances_found}/{m.eligible_appearances} | {turned_part} | "
            f"{m.on_distractor} | {m.wrong_identity} | {shown} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
