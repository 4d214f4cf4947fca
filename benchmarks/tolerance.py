"""How the tolerance trades recall for precision, measured on real photos.

Each trial draws a config of N people from the 24 ``lfw_dev`` people with 10 photos:
their last 4 photos are the references, their first 6 photos are target queries. Every
photo of the people *not* drawn, the 40 one-photo LFW people and the 40 face-api.js
photos are strangers: faces a run meets that must never be saved. Each query is
matched as ``faceripper rip`` matches a face (:func:`faceripper.matching.match_faces`:
nearest person within the tolerance, ambiguity gap 0.04). Configs of 1, 3, 10 and 24
people, 30 random draws each (one for 24).

This is a photo-level measurement: a video repeats each face over many frames, so its
counts are larger, but the rates are the same.

    python benchmarks/tolerance.py [--testdata DIR] > tolerance.md
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper.detector import detect_faces
from faceripper.encoder import encode_faces
from faceripper.geometry import box_areas
from faceripper.images import is_image_name, load_rgb
from faceripper.matching import match_faces

TOLERANCES = (0.325, 0.35, 0.4, 0.45, 0.5, 0.6)
CONFIG_SIZES = ((1, 30), (3, 30), (10, 30), (24, 1))
N_REFS = 4


def encode(path: Path) -> npt.NDArray[np.float64] | None:
    """The encoding of a photo's largest face (None without a face)."""
    image = load_rgb(path)
    boxes = detect_faces(image, upsample=1)
    if len(boxes) == 0:
        return None
    largest = int(np.argmax(box_areas(boxes)))
    return encode_faces(image, boxes[largest : largest + 1]).encodings[0]


def encode_all(paths: list[Path]) -> npt.NDArray[np.float64]:
    found = [e for e in (encode(p) for p in paths) if e is not None]
    return np.array(found).reshape(-1, 128)


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lfw = args.testdata / "lfw_dev"
    if not lfw.is_dir():
        print(f"{lfw}: not found (set --testdata)", file=sys.stderr)
        return 2
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    people = [p for p in folders if len(list(p.glob("*.jpg"))) >= N_REFS + 2]
    refs = [encode_all(sorted(p.glob("*.jpg"))[-N_REFS:]) for p in people]
    queries = [encode_all(sorted(p.glob("*.jpg"))[:-N_REFS]) for p in people]
    others = [p for p in folders if p not in people]
    others += sorted(p for p in (args.testdata / "face-api.js").iterdir() if p.is_dir())
    extra = encode_all([f for p in others for f in sorted(p.iterdir()) if is_image_name(f)])
    rng = np.random.default_rng(args.seed)
    print(
        f"{len(people)} people ({N_REFS} reference and up to {10 - N_REFS} query photos "
        f"each), {len(extra)} more strangers' photos.\n"
    )
    print(
        "| people in config | tolerance | recall | strangers met | strangers saved | "
        "wrong person | precision |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for size, trials in CONFIG_SIZES:
        totals = {t: np.zeros(5, dtype=np.int64) for t in TOLERANCES}
        for _ in range(trials):
            chosen = sorted(rng.choice(len(people), size, replace=False).tolist())
            reference = np.concatenate([refs[p] for p in chosen])
            owner = np.concatenate([[k] * len(refs[p]) for k, p in enumerate(chosen)])
            target = np.concatenate([queries[p] for p in chosen])
            truth = np.concatenate([[k] * len(queries[p]) for k, p in enumerate(chosen)])
            strangers = np.concatenate(
                [queries[p] for p in range(len(people)) if p not in chosen] + [extra]
            )
            for tolerance in TOLERANCES:
                on_targets = match_faces(
                    np.linalg.norm(target[:, None] - reference[None], axis=2),
                    owner,
                    size,
                    tolerance,
                ).person
                on_strangers = match_faces(
                    np.linalg.norm(strangers[:, None] - reference[None], axis=2),
                    owner,
                    size,
                    tolerance,
                ).person
                totals[tolerance] += [
                    int((on_targets == truth).sum()),
                    len(truth),
                    len(strangers),
                    int((on_strangers >= 0).sum()),
                    int(((on_targets >= 0) & (on_targets != truth)).sum()),
                ]
        for tolerance, (correct, n, met, saved, wrong) in totals.items():
            precision = correct / max(1, correct + saved + wrong)
            print(
                f"| {size} | {tolerance} | {correct / n:.3f} | {met} | {saved} | {wrong} | "
                f"{precision:.4f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
