"""FaceRipper v1's per-frame method, rebuilt on ``face_recognition``, for the benchmark.

This script runs in its own virtual environment, which has ``face_recognition`` and not
faceripper (see benchmarks/README.md); ``benchmarks/perf.py`` starts it as a subprocess.
It processes one video in one process and writes:

* ``--faces CSV``: one row per face found, with everything needed to replay any of v1's
  decisions afterwards (box, Laplacian variance of the crop, the distance to every
  reference photo), so one run can be scored at several tolerances and minimum sizes;
* ``--summary JSON``: the references (labels in order), frames processed and the time
  spent on them (decoding, detection, encoding, the rest), crops written.

Two modes:

``faithful`` (default), as FaceRipper v1's worker did it per frame:

1. ``cv2.VideoCapture.read()``, BGR -> RGB (``frame[:, :, ::-1]``; v1 sent frames to its
   workers through a ``multiprocessing.Manager`` list, which pickles a contiguous copy:
   here the copy is made with ``numpy.ascontiguousarray``, without the IPC).
2. ``face_recognition.face_locations(rgb, model="hog")`` (upsample 1).
3. ``face_recognition.face_encodings(rgb, model="large")``: no locations are passed, so
   face_recognition runs the HOG detector (upsample 1) a second time, then the
   68-point landmarks and one encoding per face (``num_jitters=1``). Face ``i`` of step
   2 is paired with encoding ``i``.
4. For every reference photo whose distance is ``<= --tolerance`` (not only the
   nearest), the face is a match for that reference's label: a face close to several
   reference photos is saved several times, under each of their labels.
5. Each match: the crop is the face box; ``cv2.Laplacian(crop, CV_64F).var()`` on the
   RGB crop, below ``--blur`` is blurry; saved with PIL (JPEG quality 75) only if its
   width and height are ``> 100`` (here: ``>= --min-size``, 101 by default) and it is
   not blurry.

References (faithful): ``face_locations(image, model="hog")`` then
``face_encodings(image, locations, num_jitters=0, model="large")[0]``: the first face
found, not the largest.

``brief``: the method as the benchmark issue describes v1: the locations of step 2 are
passed to ``face_encodings`` (no second detection), the 5-point model (``"small"``), a
face is one match, labelled with the nearest reference, if that one is within the
tolerance; references are ``face_encodings(load_image_file(p))[0]``.

Usage (normally through perf.py)::

    /tmp/bench-v1/bin/python benchmarks/v1_method.py --refs REFS --video V.mp4 \\
        --faces faces.csv --summary summary.json --target-dir /tmp/v1-crops [--step 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import string
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import face_recognition
import numpy as np
import numpy.typing as npt
from PIL import Image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def reference_encodings(
    refs_dir: Path, mode: str
) -> tuple[list[npt.NDArray[np.float64]], list[str], list[str]]:
    """Encodings, labels and file names of the reference photos (person folders, sorted)."""
    encodings, labels, files = [], [], []
    for folder in sorted(p for p in refs_dir.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            image = face_recognition.load_image_file(str(path))
            try:
                if mode == "faithful":
                    locations = face_recognition.face_locations(image, model="hog")
                    encoding = face_recognition.face_encodings(
                        image, locations, num_jitters=0, model="large"
                    )[0]
                else:
                    encoding = face_recognition.face_encodings(image)[0]
            except IndexError:
                print(f"[ERROR] no face in {path}", file=sys.stderr)
                continue
            encodings.append(encoding)
            labels.append(folder.name)
            files.append(str(path))
    return encodings, labels, files


def random_name(folder: Path, length: int = 16) -> str:
    """v1's crop names: 16 random letters and digits, retried while taken."""
    chars = string.ascii_letters + string.digits
    while True:
        name = "".join(random.choice(chars) for _ in range(length)) + ".jpg"
        if not (folder / name).exists():
            return name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=Path, required=True, help="folder of person folders")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--faces", type=Path, required=True, help="output CSV, one row a face")
    parser.add_argument("--summary", type=Path, required=True, help="output JSON")
    parser.add_argument("--target-dir", type=Path, required=True, help="where crops go")
    parser.add_argument("--mode", choices=("faithful", "brief"), default="faithful")
    parser.add_argument("--tolerance", type=float, default=0.325)
    parser.add_argument("--blur", type=float, default=250.0)
    parser.add_argument("--min-size", type=int, default=101, help="v1: width, height > 100")
    parser.add_argument("--step", type=int, default=1, help="process every STEP-th frame")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames")
    args = parser.parse_args()

    started = time.monotonic()
    ref_encodings, ref_labels, ref_files = reference_encodings(args.refs, args.mode)
    ref_seconds = time.monotonic() - started
    if not ref_encodings:
        print("[ERROR] no reference encodings", file=sys.stderr)
        return 2
    known = np.array(ref_encodings)
    for label in set(ref_labels):
        (args.target_dir / label).mkdir(parents=True, exist_ok=True)

    timing = dict.fromkeys(("decode", "detect", "encode", "rest", "skip"), 0.0)
    processed_cpu = 0.0
    frames_read = frames_processed = faces_found = crops_written = 0
    capture = cv2.VideoCapture(str(args.video))
    args.faces.parent.mkdir(parents=True, exist_ok=True)
    with args.faces.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["frame", "top", "right", "bottom", "left", "laplacian_var", "distances"])
        while capture.isOpened():
            if args.max_frames and frames_read >= args.max_frames:
                break
            index = frames_read
            if index % args.step:
                t0 = time.perf_counter()
                ok = capture.grab()
                timing["skip"] += time.perf_counter() - t0
                if not ok:
                    break
                frames_read += 1
                continue
            c0 = time.process_time()
            t0 = time.perf_counter()
            ok, frame = capture.read()
            if not ok:
                break
            frames_read += 1
            item = np.ascontiguousarray(frame[:, :, ::-1])
            t1 = time.perf_counter()
            faces = face_recognition.face_locations(item, model="hog")
            t2 = time.perf_counter()
            if args.mode == "faithful":
                encodings = face_recognition.face_encodings(item, model="large")
            else:
                encodings = face_recognition.face_encodings(item, faces)
            t3 = time.perf_counter()
            for face, encoding in zip(faces, encodings, strict=False):
                faces_found += 1
                top, right, bottom, left = face
                crop = item[top:bottom, left:right]
                distances = face_recognition.face_distance(known, encoding)
                laplacian = float(cv2.Laplacian(crop, cv2.CV_64F).var())
                listed = " ".join(f"{d:.5f}" for d in distances)
                out.writerow([index, top, right, bottom, left, f"{laplacian:.2f}", listed])
                if args.mode == "faithful":
                    matches = [i for i, d in enumerate(distances) if d <= args.tolerance]
                else:
                    nearest = int(np.argmin(distances))
                    matches = [nearest] if distances[nearest] <= args.tolerance else []
                for ref in matches:
                    image = Image.fromarray(crop)
                    width, height = image.size
                    blurry = cv2.Laplacian(crop, cv2.CV_64F).var() < args.blur
                    if width >= args.min_size and height >= args.min_size and not blurry:
                        folder = args.target_dir / ref_labels[ref]
                        image.save(folder / random_name(folder))
                        crops_written += 1
            t4 = time.perf_counter()
            processed_cpu += time.process_time() - c0
            frames_processed += 1
            timing["decode"] += t1 - t0
            timing["detect"] += t2 - t1
            timing["encode"] += t3 - t2
            timing["rest"] += t4 - t3
    capture.release()
    processed_seconds = timing["decode"] + timing["detect"] + timing["encode"] + timing["rest"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    summary: dict[str, Any] = {
        "mode": args.mode,
        "video": str(args.video),
        "step": args.step,
        "reference_labels": ref_labels,
        "reference_files": ref_files,
        "reference_seconds": round(ref_seconds, 3),
        "frames_read": frames_read,
        "frames_processed": frames_processed,
        "processed_seconds": round(processed_seconds, 3),
        "frames_per_s": frames_processed / processed_seconds if processed_seconds else 0.0,
        "processed_cpu_seconds": round(processed_cpu, 3),
        "seconds": {k: round(v, 3) for k, v in timing.items()},
        "faces_found": faces_found,
        "crops_written": crops_written,
        "max_rss_kib": usage.ru_maxrss,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "wall_seconds": round(time.monotonic() - started, 3),
        "pid": os.getpid(),
    }
    args.summary.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
