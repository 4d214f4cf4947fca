"""How the tolerance trades recall for precision, measured on Labeled Faces in the Wild.

For every person of ``lfw_dev`` with 10 photos, the last ``--refs`` photos are the
references and the others are queries; every one-photo person is a distractor query
(someone who must never be saved). Each query is matched exactly as ``faceripper rip``
matches a face (nearest person within the tolerance, ambiguity gap 0.04), at several
tolerances. This is a photo-level measurement: a video repeats each face over many
frames, so counts there are larger, but the rates are the same.

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
from faceripper.images import load_rgb
from faceripper.matching import DEFAULT_AMBIGUITY_GAP, match_faces

TOLERANCES = (0.325, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def encode(path: Path) -> npt.NDArray[np.float64] | None:
    image = load_rgb(path)
    boxes = detect_faces(image, upsample=1)
    if len(boxes) == 0:
        return None
    largest = int(np.argmax(box_areas(boxes)))
    return encode_faces(image, boxes[largest : largest + 1]).encodings[0]


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--refs", type=int, default=4, help="reference photos per person")
    args = parser.parse_args()
    lfw = args.testdata / "lfw_dev"
    if not lfw.is_dir():
        print(f"{lfw}: not found (set --testdata)", file=sys.stderr)
        return 2
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    people = [p for p in folders if len(list(p.glob("*.jpg"))) > args.refs + 1]
    distractors = [p for p in folders if len(list(p.glob("*.jpg"))) == 1]
    refs, ref_person, queries, query_person = [], [], [], []
    for index, folder in enumerate(people):
        photos = sorted(folder.glob("*.jpg"))
        for photo in photos[-args.refs :]:
            if (e := encode(photo)) is not None:
                refs.append(e)
                ref_person.append(index)
        for photo in photos[: -args.refs]:
            if (e := encode(photo)) is not None:
                queries.append(e)
                query_person.append(index)
    for folder in distractors:
        for photo in sorted(folder.glob("*.jpg")):
            if (e := encode(photo)) is not None:
                queries.append(e)
                query_person.append(-1)
    r, rp = np.array(refs), np.array(ref_person)
    q, qp = np.array(queries), np.array(query_person)
    distances = np.linalg.norm(q[:, None, :] - r[None, :, :], axis=2)
    targets = qp >= 0
    print(
        f"{len(people)} people ({len(r)} reference photos, {int(targets.sum())} query photos), "
        f"{int((~targets).sum())} distractor photos; ambiguity gap {DEFAULT_AMBIGUITY_GAP}\n"
    )
    columns = (
        "tolerance",
        "recall",
        "saved",
        "wrong person",
        "distractors",
        "ambiguous",
        "precision",
    )
    print("| " + " | ".join(columns) + " |")
    print("|" + "---:|" * len(columns))
    for tolerance in TOLERANCES:
        m = match_faces(distances, rp, len(people), tolerance)
        saved = m.person >= 0
        correct = saved & (m.person == qp)
        wrong = saved & ~correct
        precision = correct.sum() / max(1, saved.sum())
        print(
            f"| {tolerance} | {correct[targets].mean():.3f} | {int(saved.sum())} | "
            f"{int(wrong.sum())} | {int(wrong[~targets].sum())} | {int(m.ambiguous.sum())} | "
            f"{precision:.3f} |"
        )
    nearest_distractor = distances[~targets].min()
    print(
        f"\nNearest distractor to any reference: {nearest_distractor:.3f}. "
        f"A target photo's distance to its own person: median "
        f"{np.median([distances[i][rp == qp[i]].min() for i in np.flatnonzero(targets)]):.3f}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
