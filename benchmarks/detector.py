"""Cost of each face detector per frame, one thread, and the engine CNN's parity with dlib's.

Run on demand (not part of the test suite)::

    python benchmarks/detector.py [--testdata DIR] [--rounds 3] [--frames 60,150,240]

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
given). The engine CNN's boxes are compared with dlib's on every frame measured: the
report says whether they are equal and the largest score difference.

The Markdown report goes to stdout.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
    args = parser.parse_args()

    import dlib

    from faceripper.detector import detect_faces_scaled
    from faceripper.mmodnet import open_mmod_detector
    from faceripper.models import get_models, model_path

    dat = model_path("cnn_detector")
    engines = {e: open_mmod_detector(dat, e, threads=1) for e in ("onnxruntime", "opencv")}
    reference = dlib.cnn_face_detection_model_v1(str(dat))
    hog = get_models().hog_detector
    clip = _frames(args.testdata, [int(i) for i in args.frames.split(",")])

    images: dict[str, list[np.ndarray]] = {
        name: [_scaled(f, *size) for f in clip] for name, size in SIZES.items()
    }
    images["200x200 region"] = [
        _region(i, engines["onnxruntime"].detect(i)[0]) for i in images["720p"]
    ]
    rows: list[tuple[str, str, float, float]] = []
    parity = []
    for name, frames in images.items():
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
        for label, run in runs.items():
            rows.append((name, label, *_median_cost(frames, run, args.rounds)))
            print(f"{name} {label}: {rows[-1][2]:.3f} s", file=sys.stderr)
        found: list[object] = []
        keep = found.append
        dlib_cost = _median_cost(frames, lambda f, keep=keep: keep(reference(f, 0)), 1)
        rows.append((name, "CNN dlib at 1.0", *dlib_cost))
        print(f"{name} dlib: {rows[-1][2]:.3f} s", file=sys.stderr)
        for frame, dlib_found in zip(frames, found, strict=True):
            expected = [
                (d.rect.top(), d.rect.right(), d.rect.bottom(), d.rect.left()) for d in dlib_found
            ]
            confidences = [d.confidence for d in dlib_found]
            for engine, detector in engines.items():
                boxes, scores = detector.detect(frame)
                same = [tuple(b) for b in boxes.tolist()] == expected
                diff = float(np.abs(scores - confidences).max(initial=0)) if same else float("nan")
                parity.append((name, engine, len(expected), same, diff))

    print(f"Frames {args.frames} of the Hamilton clip, {args.rounds} rounds, one thread.\n")
    print("| image | detector | CPU s a call | wall s a call |")
    print("|---|---|---:|---:|")
    for name, label, cpu, wall in rows:
        print(f"| {name} | {label} | {cpu:.3f} | {wall:.3f} |")
    print("\n| image | engine | faces (dlib) | boxes equal | largest score difference |")
    print("|---|---|---:|---|---:|")
    for name, engine, count, same, diff in parity:
        print(f"| {name} | {engine} | {count} | {'yes' if same else 'NO'} | {diff:.1e} |")


def _size(image: np.ndarray, scale: float) -> tuple[int, int]:
    return max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale))


if __name__ == "__main__":
    main()
