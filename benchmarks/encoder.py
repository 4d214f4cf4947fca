"""Per-face cost of the face encoder on each engine: batch 1, 8 and 32; 1 and 2 threads.

Run on demand (not part of the test suite)::

    python benchmarks/encoder.py [--testdata DIR] [--rounds 5] [--device cuda]

The faces are 32 real faces (Labeled Faces in the Wild, ``lfw_dev``), cut out as
faceripper does it (dlib's 5-point landmarks, ``dlib.get_face_chips(image, shapes, 150,
0.25)``). Measured per engine, batch size and thread count: the network alone, per face
(median of ``--rounds`` rounds, 3 by default; the configurations are interleaved within
each round so that a change of the machine's load hits them all alike). dlib is measured through its
own batch call (``compute_face_descriptor`` on a list of chips), one thread only
(dlib-bin has no thread setting and no BLAS). Wall time and the process's CPU time are
both given: on a shared, loaded machine CPU time is the steadier of the two.
Also: the largest difference to dlib's descriptor over the faces, and the whole
``encode_faces`` call (landmarks, chips and network) per face at batch 1 and 8.

The Markdown report goes to stdout.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

BATCHES = (1, 8, 32)
THREADS = (1, 2)


def _faces(testdata: Path, count: int) -> tuple[list, list, np.ndarray]:
    import dlib

    from faceripper.detector import detect_faces
    from faceripper.encoder import face_chips
    from faceripper.images import load_rgb
    from faceripper.models import get_models

    predictor = get_models().landmarks("5")
    images, boxes, chips = [], [], []
    for folder in sorted((testdata / "lfw_dev").iterdir()):
        for photo in sorted(folder.iterdir())[:2]:
            image = load_rgb(photo)
            found = detect_faces(image, upsample=1)
            if not len(found):
                continue
            top, right, bottom, left = (int(v) for v in found[0])
            shape = predictor(image, dlib.rectangle(left, top, right, bottom))
            images.append(image)
            boxes.append(found[:1])
            chips.append(face_chips(image, [shape])[0])
            if len(chips) == count:
                return images, boxes, np.stack(chips)
    return images, boxes, np.stack(chips)


def _time_per_face(
    run: Callable[[], object], faces: int, min_s: float = 0.4
) -> tuple[float, float]:
    """Wall and CPU seconds a face: ``run`` (``faces`` faces a call), warmed up, then
    repeated for at least ``min_s`` of wall time. CPU time (all threads of the process)
    is what a loaded machine disturbs least."""
    run()  # warm up
    calls, wall, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        run()
        calls += 1
        elapsed = time.perf_counter() - wall
        if elapsed >= min_s:
            return elapsed / (calls * faces), (time.process_time() - cpu) / (calls * faces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testdata", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    testdata = args.testdata or Path(
        os.environ.get("FACERIPPER_TESTDATA")
        or Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    import cv2
    import dlib

    from faceripper.encoder import encode_faces
    from faceripper.engines import OnnxRuntimeNetwork, OpenCVNetwork, convert_cached
    from faceripper.models import get_models, model_path

    images, boxes, chips = _faces(testdata, max(BATCHES))
    model = convert_cached(model_path("encoder"))
    dlib_net = get_models().encoder
    networks: dict[tuple[str, int], Callable[[np.ndarray], np.ndarray]] = {}
    for threads in THREADS:
        ort = OnnxRuntimeNetwork(model, args.device, threads=threads)
        networks[("onnxruntime", threads)] = ort.descriptors
        if args.device == "cpu":
            ocv = OpenCVNetwork(model, threads=None)

            def run_opencv(batch: np.ndarray, net: OpenCVNetwork = ocv, n: int = threads):
                cv2.setNumThreads(n)
                return net.descriptors(batch)

            networks[("opencv", threads)] = run_opencv
            if threads == 1:  # dlib-bin has no thread setting
                networks[("dlib", threads)] = lambda batch: np.array(
                    dlib_net.compute_face_descriptor([np.ascontiguousarray(c) for c in batch])
                )

    reference = np.array(dlib_net.compute_face_descriptor([np.ascontiguousarray(c) for c in chips]))
    accuracy = {
        engine: float(np.abs(networks[(engine, 1)](chips) - reference).max())
        for engine in ("onnxruntime", "opencv", "dlib")
        if (engine, 1) in networks
    }

    times: dict[tuple[str, int, int], list[tuple[float, float]]] = {}
    for round_ in range(args.rounds):
        for (engine, threads), run in networks.items():
            for batch in BATCHES:
                part = chips[:batch]
                seconds = _time_per_face(lambda r=run, p=part: r(p), batch)
                times.setdefault((engine, threads, batch), []).append(seconds)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    whole: dict[tuple[str, int], tuple[float, float]] = {}
    for engine in ("onnxruntime", "opencv", "dlib"):
        if args.device == "cuda" and engine != "onnxruntime":
            continue
        for batch in (1, 8):
            if batch == 1:

                def call(e: str = engine) -> None:
                    encode_faces(images[0], boxes[0], engine=e, device=args.device)  # type: ignore[arg-type]

                whole[(engine, batch)] = _time_per_face(call, 1)
            else:
                # 8 faces of one image: the same photo's face 8 times (one batch).
                eight = np.repeat(boxes[0], 8, axis=0)

                def call8(e: str = engine, b: np.ndarray = eight) -> None:
                    encode_faces(images[0], b, engine=e, device=args.device)  # type: ignore[arg-type]

                whole[(engine, batch)] = _time_per_face(call8, 8)
    cv2.setNumThreads(1)

    def median(values: list[tuple[float, float]], which: int) -> float:
        return statistics.median(v[which] for v in values)

    def ms(values: list[tuple[float, float]]) -> str:
        return f"{1000 * median(values, 0):.1f} ({1000 * median(values, 1):.1f})"

    print(
        f"Encoder engines, per face, {len(chips)} LFW faces, median of {args.rounds} rounds; "
        f"device {args.device}; onnxruntime "
        f"{__import__('onnxruntime').__version__}, OpenCV {cv2.__version__}, "
        f"dlib {dlib.__version__}\n"
    )
    print("ms a face: wall (CPU of all the process's threads).\n")
    print("| engine | threads | batch 1 | batch 8 | batch 32 | CPU vs dlib (batch 32) |")
    print("|---|--:|--:|--:|--:|--:|")
    for (engine, threads), _ in networks.items():
        row = [ms(times[(engine, threads, b)]) for b in BATCHES]
        dlib_key = ("dlib", 1, 32)
        ratio = (
            median(times[dlib_key], 1) / median(times[(engine, threads, 32)], 1)
            if dlib_key in times
            else float("nan")
        )
        print(f"| {engine} | {threads} | {' | '.join(row)} | {ratio:.1f}x |")
    print("\nLargest difference to dlib's descriptor, any component, over the faces:\n")
    for engine, value in accuracy.items():
        print(f"* {engine}: {value:.2g}")
    print("\nWhole `encode_faces` (landmarks + chips + network), ms a face, wall (CPU):\n")
    print("| engine | 1 face a call | 8 faces a call |")
    print("|---|--:|--:|")
    for engine in ("onnxruntime", "opencv", "dlib"):
        if (engine, 1) in whole:
            one, eight = whole[(engine, 1)], whole[(engine, 8)]
            print(
                f"| {engine} | {1000 * one[0]:.1f} ({1000 * one[1]:.1f}) | "
                f"{1000 * eight[0]:.1f} ({1000 * eight[1]:.1f}) |"
            )


if __name__ == "__main__":
    main()
