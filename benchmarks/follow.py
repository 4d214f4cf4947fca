"""Following known faces where HOG loses them: what ``rip`` saves and what it costs.

A real video (MJPG, 640x360, 30 frames/s) made from real photos: Barack Obama
(``obama3.jpg``) first tilted 60 degrees and coming upright (HOG first sees him on
the way), then tilting his head from 0 to ``--peak`` degrees (70; held there
``--hold`` frames) and back, 5 degrees a frame, ``--cycles`` times, next to Amy Adams (a stranger,
frontal, 170 px away). His references are two other photos
(``knn_examples/train/obama``); Joe Biden is referenced too. The truth of every frame
is known: his tilt, and where each face is.

For ``--no-follow`` and ``--follow`` (in one run, so the machine's load is shared):
wall time and CPU time (of rip's processes, workers included), the crops saved per
detector, the tilts they show, how many were followed backwards (before their track's
first HOG face), wrong labels, crops not on his face, and the CNN region searches made
(the journal's ``follow_searches``).

    python benchmarks/follow.py --cycles 3
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from faceripper.detector import detect_faces
from faceripper.images import load_rgb

KNOWN_X, NEIGHBOUR_X, FACE_Y = 225, 395, 180
PATCH = (170, 220)


def tilted_patch(photo: Path, face_px: int, angle: float) -> np.ndarray:
    """A ``PATCH`` view of ``photo`` centred on its face, ``face_px`` wide, turned."""
    image = load_rgb(photo)
    top, right, bottom, left = detect_faces(image, upsample=0)[0]
    side = right - left
    cx, cy = (left + right) / 2, (top + bottom) / 2 + 0.1 * side
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, face_px / side)
    matrix[0, 2] += PATCH[0] / 2 - cx
    matrix[1, 2] += PATCH[1] / 2 - cy
    return cv2.warpAffine(
        image, matrix, PATCH, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT_101
    )


def make_clip(testdata: Path, work: Path, cycles: int, hold: int = 6, peak: int = 70) -> list[int]:
    """Write the clip and the references under ``work``; the tilt of every frame."""
    train = testdata / "face_recognition" / "knn_examples" / "train"
    for person, photos in {
        "barack_obama": [train / "obama" / "obama.jpg", train / "obama" / "obama2.jpg"],
        "joe_biden": [train / "biden" / "biden.jpg"],
    }.items():
        (work / "refs" / person).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, work / "refs" / person)
    (work / "videos").mkdir()
    up = list(range(5, peak + 5, 5))
    cycle = [0] * 6 + up + [peak] * hold + up[-2::-1] + [0] * 4
    tilts = [60] * 3 + list(range(55, 0, -5)) + cycle * cycles
    patches = {
        a: tilted_patch(testdata / "face_recognition" / "obama3.jpg", 110, a) for a in set(tilts)
    }
    neighbour = tilted_patch(testdata / "openface" / "adams.jpg", 110, 0)
    writer = cv2.VideoWriter(
        str(work / "videos" / "tilt.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360)
    )
    for angle in tilts:
        frame = np.full((360, 640, 3), (120, 130, 110), np.uint8)
        for patch, x in ((patches[angle], KNOWN_X), (neighbour, NEIGHBOUR_X)):
            top, left = FACE_Y - PATCH[1] // 2, x - PATCH[0] // 2
            frame[top : top + PATCH[1], left : left + PATCH[0]] = patch
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return tilts


def _children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _backwards(rows: list[dict[str, str]]) -> int:
    """Followed crops found backwards: in a run of followed frames that does not follow a
    saved HOG face of the frame before (tracks joined again share one name, so the
    frames tell, not the track)."""
    detector = {int(r["frame"]): r["detector"] for r in rows}
    count, forwards = 0, False
    for frame in sorted(detector):
        if detector[frame] != "followed":
            continue
        if detector.get(frame - 1) != "followed":
            forwards = detector.get(frame - 1) == "hog"
        count += not forwards
    return count


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument(
        "--hold", type=int, default=6, help="frames the head stays at --peak a cycle"
    )
    parser.add_argument("--peak", type=int, default=70, help="largest tilt, degrees (of 5)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="faceripper-follow-"))
    tilts = make_clip(args.testdata, work, args.cycles, args.hold, args.peak)
    hog_limit = 45
    print(
        f"{len(tilts)} frames, {sum(t >= hog_limit for t in tilts)} tilted {hog_limit}+ degrees "
        f"(work folder {work})"
    )
    print(
        "| options | s | CPU s | saved | hog | followed | backwards | tilts followed "
        "| wrong label | off face | CNN searches |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for extra in ["--no-follow", "--follow"]:
        target = work / extra.strip("-")
        command = [
            sys.executable, "-m", "faceripper", "rip", "--refs", str(work / "refs"),
            "--video-dir", str(work / "videos"), "--target-dir", str(target),
            "--cache", str(work / "refs.npz"), "--min-size", "80", "--no-dedupe",
            "--threads", str(args.threads), extra,
        ]  # fmt: skip
        started, cpu = time.monotonic(), _children_cpu()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
        if done.returncode != 0:
            print(f"| `{extra}` | failed: {done.stderr.strip()[-300:]} |")
            continue
        with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        detectors = Counter(r["detector"] for r in rows)
        followed = [tilts[int(r["frame"])] for r in rows if r["detector"] == "followed"]
        backwards = _backwards(rows)
        wrong = sum(r["person"] != "barack_obama" for r in rows)
        off = sum(abs((int(r["left"]) + int(r["right"])) / 2 - KNOWN_X) > 40 for r in rows)
        searches = 0
        for line in (target / ".faceripper-journal.jsonl").read_text().splitlines():
            searches += json.loads(line).get("counts", {}).get("follow_searches", 0)
        span = f"{min(followed)}-{max(followed)}" if followed else "-"
        print(
            f"| `{extra}` | {seconds:.1f} | {cpu:.1f} | {len(rows)} | {detectors['hog']} | "
            f"{detectors['followed']} | {backwards} | {span} | {wrong} | {off} | {searches} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
