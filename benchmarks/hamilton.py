"""Identity on real footage: ``faceripper rip`` on the Hamilton clip, scored by hand labels.

``benchmarks/data/hamilton_labels.csv`` labels every face that dlib's HOG detector
(every frame, upsample 1) or its CNN detector (every 5th frame, upsample 0) finds in
``face_recognition/short_hamilton_clip.mp4`` (640x360, 275 frames, shot cuts at frames
20, 82 and 211), identified by eye from contact sheets of the face tracks:

* ``lin_manuel_miranda``: shot 0 (wide, a face of about 50 px), shot 1 (a turned,
  profile close-up that only the CNN finds), shot 2 (a frontal close-up, 82-210);
* ``barack_obama``: shot 3, in the audience, laughing, three-quarter profile (CNN only);
* ``stranger_*``: three other people of shot 3 (Michelle Obama, the woman on her left,
  a blurred face in the back row), who have no reference photos;
* Alex Lacamoire (at the piano in shot 0) is too small for either detector: unlabelled.

The run's references: Lin-Manuel Miranda's and Alex Lacamoire's photos from the same
folder, and Barack Obama's two photos from ``knn_examples/train/obama``. A saved crop
takes the identity of the labelled face of the same frame (within 2 frames for the
CNN's every-5th-frame labels) that its box overlaps most (IoU >= 0.3); a crop with no
such face is ``unlabelled`` (for a human to look at: it counts against precision).
Besides precision and Lin-Manuel Miranda's frames, each run prints how many of the 16
frames of his close-up where HOG loses him during his turns (:data:`HOG_GAP`) have a
right crop, and how many crops were ``followed`` (the manifest's ``detector``).

    python benchmarks/hamilton.py -- "" "--no-dedupe" "--tolerance 0.45"
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
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

LABELS = Path(__file__).resolve().parent / "data" / "hamilton_labels.csv"
REFERENCES = {
    "lin_manuel_miranda": ["face_recognition/lin-manuel-miranda.png"],
    "alex_lacamoire": ["face_recognition/alex-lacamoire.png"],
    "barack_obama": [
        "face_recognition/knn_examples/train/obama/obama.jpg",
        "face_recognition/knn_examples/train/obama/obama2.jpg",
    ],
}


@dataclass(frozen=True)
class Label:
    frame: int
    box_trbl: tuple[int, int, int, int]
    detector: str
    identity: str
    shot: int


def load_labels(path: Path = LABELS) -> list[Label]:
    with path.open(encoding="utf-8", newline="") as stream:
        return [
            Label(
                int(r["frame"]),
                (int(r["top"]), int(r["right"]), int(r["bottom"]), int(r["left"])),
                r["detector"],
                r["identity"],
                int(r["shot"]),
            )
            for r in csv.DictReader(stream)
        ]


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    top, right = max(a[0], b[0]), min(a[1], b[1])
    bottom, left = min(a[2], b[2]), max(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    area = (a[1] - a[3]) * (a[2] - a[0]) + (b[1] - b[3]) * (b[2] - b[0]) - inter
    return inter / area if area > 0 else 0.0


def identify(frame: int, box: tuple[int, int, int, int], labels: list[Label]) -> tuple[str, int]:
    """The identity and shot of the labelled face a crop shows ('unlabelled', -1: none)."""
    best, found = 0.3, ("unlabelled", -1)
    for label in labels:
        near = 0 if label.detector == "hog" else 2
        if abs(label.frame - frame) <= near:
            overlap = _iou(box, label.box_trbl)
            if overlap >= best:
                best, found = overlap, (label.identity, label.shot)
    return found


#: A labelled face at least this large (its smaller side, in pixels of the labels'
#: detections) is one ``rip`` at its defaults should save: HOG's boxes at upsample 1 are
#: smaller than at ``rip``'s detection scale (Lin's close-up: 90 against 106 px), so this
#: is below the default ``--min-size`` of 100. Shot 0's 43-52 px faces are not.
ELIGIBLE_PX = 70
#: The frames of Lin-Manuel Miranda's close-up (shot 2) where HOG loses him at rip's
#: detection scale (his turns): the faces only following can save.
HOG_GAP = range(108, 124)


def score(manifest: Path, labels: list[Label], eligible_px: int = ELIGIBLE_PX) -> dict[str, object]:
    """Precision, per-person frames and appearances of one run's manifest.

    Frame recall counts the frames in which HOG finds an eligible face of the person
    (the faces ``rip`` can see today); appearances (a person through one shot) count
    every detector's labels, so the turned faces only the CNN finds are in it.
    """
    by_frame: dict[int, list[Label]] = defaultdict(list)
    for label in labels:
        by_frame[label.frame].append(label)
    with manifest.open(encoding="utf-8", newline="") as stream:
        rows = [r for r in csv.DictReader(stream) if r["status"] == "saved"]
    outcome: Counter[str] = Counter()
    followed = sum(r.get("detector") == "followed" for r in rows)
    frames: dict[str, set[int]] = defaultdict(set)
    covered: set[tuple[str, int]] = set()
    wrong: list[str] = []
    for row in rows:
        frame = int(row["frame"])
        box = (int(row["top"]), int(row["right"]), int(row["bottom"]), int(row["left"]))
        near = [lab for f in range(frame - 2, frame + 3) for lab in by_frame.get(f, [])]
        identity, shot = identify(frame, box, near)
        if identity == row["person"]:
            outcome["correct"] += 1
            frames[identity].add(frame)
            covered.add((identity, shot))
        else:
            outcome["stranger" if identity.startswith("stranger") else "wrong"] += 1
            wrong.append(f"{row['path']} saved as {row['person']}, is {identity}")
    eligible: dict[str, set[int]] = defaultdict(set)
    appearances: set[tuple[str, int]] = set()
    for label in labels:
        size = min(label.box_trbl[1] - label.box_trbl[3], label.box_trbl[2] - label.box_trbl[0])
        if label.identity in REFERENCES and size >= eligible_px:
            appearances.add((label.identity, label.shot))
            if label.detector == "hog":
                eligible[label.identity].add(label.frame)
    saved = len(rows)
    return {
        "saved": saved,
        "precision": outcome["correct"] / saved if saved else float("nan"),
        "wrong_person": outcome["wrong"],
        "strangers_saved": outcome["stranger"],
        "frames": {p: f"{len(frames[p] & eligible[p])}/{len(eligible[p])}" for p in eligible},
        "appearances": f"{len(covered & appearances)}/{len(appearances)}",
        "followed": followed,
        "gap": f"{len(frames['lin_manuel_miranda'] & set(HOG_GAP))}/{len(HOG_GAP)}",
        "covered": sorted(covered),
        "errors": wrong,
    }


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--min-size", type=int, default=100, help="rip's --min-size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    labels = load_labels()
    work = Path(tempfile.mkdtemp(prefix="faceripper-hamilton-"))
    videos = work / "videos"
    videos.mkdir()
    (videos / "short_hamilton_clip.mp4").symlink_to(
        args.testdata / "face_recognition" / "short_hamilton_clip.mp4"
    )
    for person, photos in REFERENCES.items():
        folder = work / "refs" / person
        folder.mkdir(parents=True)
        for photo in photos:
            (folder / Path(photo).name).symlink_to(args.testdata / photo)
    print(
        "| options | s | saved | precision | wrong person | strangers | Lin frames "
        "| Lin 108-123 | followed | appearances |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for index, extra in enumerate(args.runs):
        target = work / f"faces{index}"
        command = [
            sys.executable, "-m", "faceripper", "rip", "--refs", str(work / "refs"),
            "--video-dir", str(videos), "--target-dir", str(target), "--cache",
            str(work / "refs.npz"), "--threads", str(args.threads), "--min-size",
            str(args.min_size), *shlex.split(extra),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        if done.returncode != 0:
            print(f"| `{extra}` | failed: {done.stderr.strip()[-300:]} |")
            continue
        result = score(target / "manifest.csv", labels)
        frames = result["frames"]
        assert isinstance(frames, dict)
        print(
            f"| `{extra or 'defaults'}` | {seconds:.0f} | {result['saved']} | "
            f"{result['precision']:.3f} | {result['wrong_person']} | "
            f"{result['strangers_saved']} | {frames.get('lin_manuel_miranda', '-')} | "
            f"{result['gap']} | {result['followed']} | {result['appearances']} |"
        )
        for line in result["errors"][:10]:  # type: ignore[index]
            print(f"    {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
