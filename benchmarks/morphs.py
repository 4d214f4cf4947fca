"""How far face morphs lie from the two people they morph (``faceripper.testing.morph``).

For each person A of ``lfw_dev`` with at least 8 photos: A's reference is their most
typical photo (``footage.medoid``, as the footage-like videos take it); ``--pairs`` times,
another photo of A is morphed with a photo of another such person B (drawn by the seed)
at each weight of B in ``--alphas``. Prints, per alpha, the distance of the morphs to A's
reference photo, to A's nearest other photo and to B's nearest photo (min, median, max),
and the share in the look-alike zone 0.38-0.5 from A's reference.

    python benchmarks/morphs.py --pairs 2
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from faceripper.images import is_image_name, load_rgb
from faceripper.testing.footage import medoid
from faceripper.testing.morph import encode_largest, landmarks68, morph_faces


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=2, help="morphs per person A")
    parser.add_argument("--alphas", default="0.3,0.4,0.5,0.6,0.7")
    args = parser.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    rng = np.random.default_rng(args.seed)
    people: dict[str, list[tuple[Path, np.ndarray]]] = {}
    for folder in sorted(p for p in (args.testdata / "lfw_dev").iterdir() if p.is_dir()):
        photos = sorted(q for q in folder.iterdir() if is_image_name(q))
        if len(photos) < 8:
            continue
        encoded = [(p, encode_largest(load_rgb(p))) for p in photos]
        people[folder.name] = [(p, e) for p, e in encoded if e is not None]
    names = sorted(people)
    stats: dict[float, list[tuple[float, float, float]]] = defaultdict(list)
    for a in names:
        encodings = np.stack([e for _, e in people[a]])
        ref = medoid(encodings)
        others_a = [i for i in range(len(encodings)) if i != ref]
        for _ in range(args.pairs):
            b = names[int(rng.choice([i for i, n in enumerate(names) if n != a]))]
            a_path = people[a][others_a[int(rng.integers(len(others_a)))]][0]
            b_path = people[b][int(rng.integers(len(people[b])))][0]
            a_image, b_image = load_rgb(a_path), load_rgb(b_path)
            a_points, b_points = landmarks68(a_image), landmarks68(b_image)
            if a_points is None or b_points is None:
                continue
            b_encodings = np.stack([e for _, e in people[b]])
            rest_a = encodings[[i for i in others_a if people[a][i][0] != a_path]]
            for alpha in alphas:
                encoding = encode_largest(morph_faces(a_image, a_points, b_image, b_points, alpha))
                if encoding is None:
                    continue
                stats[alpha].append(
                    (
                        float(np.linalg.norm(encoding - encodings[ref])),
                        float(np.linalg.norm(rest_a - encoding, axis=1).min()),
                        float(np.linalg.norm(b_encodings - encoding, axis=1).min()),
                    )
                )
    print(f"{len(names)} people A, {args.pairs} morphs each, seed {args.seed}\n")
    print(
        "| alpha (B's weight) | morphs | to A's reference | to A's nearest other photo | "
        "to B's nearest photo | in 0.38-0.5 of A's reference |"
    )
    print("|---:|---:|---|---|---|---:|")

    def spread(values: np.ndarray) -> str:
        return f"{values.min():.2f} / {np.median(values):.2f} / {values.max():.2f}"

    for alpha in alphas:
        rows = np.array(stats[alpha])
        if len(rows) == 0:
            continue
        zone = np.mean((rows[:, 0] >= 0.38) & (rows[:, 0] <= 0.5))
        print(
            f"| {alpha:.2f} | {len(rows)} | {spread(rows[:, 0])} | {spread(rows[:, 1])} | "
            f"{spread(rows[:, 2])} | {zone:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
