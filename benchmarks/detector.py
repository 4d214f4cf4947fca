"""Cost of each face detector per frame, one thread, and the engine CNN's parity with dlib's.

Run on demand (not part of the test suite)::

    python benchmarks/detector.py [--testdata DIR] [--rounds 3] [--frames 60,150,240]
    python benchmarks/detector.py --parity-only --sizes 720p --frames 0,30,60 --upsample 0,1

The frames are frames of the Hamilton clip (``face_recognition/short_hamilton_clip.mp4``,
640x360) scaled up to 1280x720 and 1920x1080 (bilinear), and a 200x200 region of the
720p frame around its largest face (what a region search around a tracked face sees).
Measured, each on one thread:

* HOG (``dlib.get_frontal_face_detector``, upsample 0) at the scale ``rip`` detects at
  by default (``--min-size 100``: 0.68) and at full size;
* dlib's CNN (``cnn_face_detection_model_v1``, upsample 0: dlib-bin, no BLAS), one round;
* the same CNN on the engines (:mod:`faceripper.mmodnet`): onnxruntime and OpenCV's
  ``cv2.dnn``, at full size and at rip's scale.

Costs are the process's CPU time per call, median over ``--rounds`` rounds and the
frames (the machine is shared: CPU time is the steadier measure; wall time is also
given). The engine CNN's boxes are compared with dlib's on every frame (``--upsample``
values, 0 by default): the report counts the frames whose boxes are all equal and gives
the largest score difference among them. ``--parity-only`` skips the timings.

The Markdown report goes to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

SIZES = {"1080p": (1080, 1920), "720p": (720, 1280)}
RIP_SCALE = 0.68  # detection_scale(100), rip's default


def _frames(testdata: Path, indices: list[int]) -> list[np.ndarray]:
    import av

    wanted, frames = set(indices), []
    with av.open(str(testdata / "face_recognition" / "short_hamilton_clip.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                frames.append(frame.to_ndarray(format="rgb24"))
            if i >= max(indices):
                break
    return frames


def _scaled(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import cv2

    interpolation = cv2.INTER_LINEAR if rows >= image.shape[0] else cv2.INTER_AREA
    return np.ascontiguousarray(cv2.resize(image, (cols, rows), interpolation=interpolation))


def _region(image: np.ndarray, boxes: np.ndarray, side: int = 200) -> np.ndarray:
    """A ``side`` square of ``image`` centred on its largest face (or its centre)."""
    if len(boxes):
        top, right, bottom, left = max(boxes.tolist(), key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))
        cy, cx = (top + bottom) // 2, (left + right) // 2
    else:
        cy, cx = image.shape[0] // 2, image.shape[1] // 2
    y = min(max(0, cy - side // 2), image.shape[0] - side)
    x = min(max(0, cx - side // 2), image.shape[1] - side)
    return np.ascontiguousarray(image[y : y + side, x : x + side])


def _cost(run: Callable[[], object], rounds: int) -> tuple[float, float]:
    """Median CPU seconds and wall seconds of ``rounds`` calls."""
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = time.process_time(), time.perf_counter()
        run()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def _median_cost(
    frames: list[np.ndarray], run: Callable[[np.ndarray], object], rounds: int
) -> tuple[float, float]:
    """Median CPU and wall seconds of ``run`` over the frames and rounds."""
    costs = [_cost(lambda f=frame: run(f), rounds) for frame in frames]
    return statistics.median(c for c, _ in costs), statistics.median(w for _, w in costs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--testdata", type=Path, default=Path("../shared/testdata"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", default="60,150,240", help="frame numbers of the clip")
    parser.add_argument("--upsample", default="0", help="upsample values compared with dlib")
    parser.add_argument("--parity-only", action="store_true", help="compare, do not time")
    parser.add_argument("--sizes", default="1080p,720p,200x200 region", help="which images")
    args = parser.parse_args()

    import dlib

    from faceripper.mmodnet import open_mmod_detector
    from faceripper.models import model_path

    dat = model_path("cnn_detector")
    engines = {e: open_mmod_detector(dat, e, threads=1) for e in ("onnxruntime", "opencv")}
    reference = dlib.cnn_face_detection_model_v1(str(dat))
    clip = _frames(args.testdata, [int(i) for i in args.frames.split(",")])

    images: dict[str, list[np.ndarray]] = {
        name: [_scaled(f, *size) for f in clip] for name, size in SIZES.items()
    }
    images["200x200 region"] = [
        _region(i, engines["onnxruntime"].detect(i)[0]) for i in images["720p"]
    ]
    rows: list[tuple[str, str, float, float]] = []
    parity = []
    for name in args.sizes.split(","):
        frames = images[name]
        if not args.parity_only:
            rows += _timings(name, frames, engines, args.rounds)
        for upsample in (int(u) for u in args.upsample.split(",")):
            started = time.process_time()
            found = [reference(f, upsample) for f in frames]
            if upsample == 0 and not args.parity_only:
                dlib_cpu = (time.process_time() - started) / len(frames)
                rows.append((name, "CNN dlib at 1.0", dlib_cpu, float("nan")))
            for engine, detector in engines.items():
                parity.append((name, upsample, engine, *_parity(frames, found, detector, upsample)))
            print(f"{name} upsample {upsample}: {parity[-1]}", file=sys.stderr)

    print(f"Frames {args.frames} of the Hamilton clip, {args.rounds} rounds, one thread.\n")
    if rows:
        print("| image | detector | CPU s a call | wall s a call |")
        print("|---|---|---:|---:|")
        for name, label, cpu, wall in rows:
            print(f"| {name} | {label} | {cpu:.3f} | {wall:.3f} |")
    print(
        "\n| image | upsample | engine | frames | faces (dlib) | frames with equal boxes "
        "| largest score difference |"
    )
    print("|---|--:|---|--:|--:|--:|--:|")
    for name, upsample, engine, count, faces, equal, diff in parity:
        print(f"| {name} | {upsample} | {engine} | {count} | {faces} | {equal} | {diff:.1e} |")


def _timings(
    name: str, frames: list[np.ndarray], engines: dict[str, Any], rounds: int
) -> list[tuple[str, str, float, float]]:
    """CPU and wall seconds a call of each detector but dlib's CNN, on ``frames``."""
    from faceripper.detector import detect_faces_scaled
    from faceripper.models import get_models

    hog = get_models().hog_detector
    scale = 1.0 if name.endswith("region") else RIP_SCALE
    runs: dict[str, Callable[[np.ndarray], object]] = {
        f"HOG at {scale}": lambda f, s=scale: detect_faces_scaled(f, s),
        "HOG at 1.0": lambda f: hog(f, 0),
    }
    for engine, detector in engines.items():
        runs[f"CNN {engine} at 1.0"] = detector.detect
        if scale != 1.0:
            runs[f"CNN {engine} at {scale}"] = lambda f, d=detector, s=scale: d.detect(
                _scaled(f, *_size(f, s))
            )
    rows = []
    for label, run in runs.items():
        rows.append((name, label, *_median_cost(frames, run, rounds)))
        print(f"{name} {label}: {rows[-1][2]:.3f} s", file=sys.stderr)
    return rows


def _parity(
    frames: list[np.ndarray], found: list[Any], detector: Any, upsample: int
) -> tuple[int, int, int, float]:
    """``(frames, dlib's faces, frames whose boxes are equal, largest score difference)``."""
    equal, faces, largest = 0, 0, 0.0
    for frame, dlib_found in zip(frames, found, strict=True):
        expected = [
            (d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()) for d in dlib_found
        ]
        boxes, scores = detector.detect(frame, upsample)
        faces += len(expected)
        if [tuple(b) for b in boxes.tolist()] == expected:
            equal += 1
            confidences = [d.confidence for d in dlib_found]
            largest = max(largest, float(np.abs(scores - confidences).max(initial=0)))
    return len(frames), faces, equal, largest


def _size(image: np.ndarray, scale: float) -> tuple[int, int]:
    return max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))


if __name__ == "__main__":
    main()
