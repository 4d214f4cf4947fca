"""Track templates: does a track's mean encoding tell a person never matched with
confidence from a look-alike better than its faces do?

A track's *template* is the mean of its encodings, each scaled to unit length, scaled
back to their mean length (:func:`faceripper.adaptive.template`). Averaging a shot's
faces (a head turning, the light changing) removes what is particular to each view; a
person's template then lies nearer to their own reference photo than most of their
faces do, while a look-alike's template lies where the look-alike's own face is. The
statistic is :func:`faceripper.adaptive.template_distance`: the larger of the template's
distances to a reference photo and to that photo's second view
(:func:`faceripper.references.encode_reference_view`), the least over the person's photos.

The study uses the simulation of ``benchmarks/unconfirmed.py`` (``lfw_dev``: every photo
of the 24 people with 10 photos as P's one reference; 6 videos of P in 4 shots of 1-4
views each, each view a photo seen as a video shows it, twice; every other person once
as a stranger in 4 shots, P absent) and counts, among the tracks the references hold
back for P in a video without an anchor of P (decided for P without a confident face,
or undecided with P nearest within the tolerance + 0.1), those whose template distance
is within a bar, for the same person and for a different one.

    python benchmarks/templates.py [--refs plain|tight] [--cache /tmp/lfw_dev_encodings.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from unconfirmed import SHOTS, classify, encode_lfw, encode_references_as

from faceripper.heldback import REFERENCE_SLACK
from faceripper.template import template_distance

BARS = (0.36, 0.37, 0.38, 0.39, 0.40, 0.42)


def held_back(
    faces: npt.NDArray[np.float64], refs: npt.NDArray[np.float64], tolerance: float
) -> bool:
    """Whether the references hold the track back for P (reference 0) in a video
    without an anchor of P: unconfirmed for P, or undecided with P nearest by median
    within the tolerance + :data:`REFERENCE_SLACK`."""
    kind, _ = classify(faces, refs, tolerance)
    if kind == "unconfirmed":
        return True
    if kind == "confirmed":
        return False
    median = np.median(np.linalg.norm(faces[:, None] - refs[None], axis=2), axis=0)
    return int(np.argmin(median)) == 0 and float(median[0]) <= tolerance + REFERENCE_SLACK


def study(
    data: dict[str, npt.NDArray[np.float64]],
    references: dict[str, npt.NDArray[np.float64]],
    tolerance: float,
    seed: int = 1,
) -> tuple[list[float], list[tuple[float, str]]]:
    """Template distances of held-back tracks without an anchor: same person; different
    person (with who~whom). P's reference alone in the run (the margin to other
    references plays no part in the statistic)."""
    rng = np.random.default_rng(seed)
    person, video = data["person"], data["video"]
    plain, views = references["enc"], references["view"]
    names = sorted(set(person.tolist()))
    rows = {n: np.flatnonzero(person == n) for n in names}
    main = [n for n in names if len(rows[n]) >= 5]
    same: list[float] = []
    different: list[tuple[float, str]] = []

    def shots(who: str, exclude: int) -> list[npt.NDArray[np.float64]]:
        pool = [r for r in rows[who] if r != exclude]
        out = []
        for _ in range(SHOTS):
            pick = rng.choice(pool, min(int(rng.integers(1, 5)), len(pool)), replace=False)
            out.append(video[pick].reshape(-1, 128))
        return out

    for target in main:
        for ref in rows[target]:
            if np.isnan(plain[ref]).any():
                continue
            refs, view = plain[ref][None], views[ref][None]
            for _ in range(6):
                tracks = shots(target, int(ref))
                kinds = [classify(t, refs, tolerance)[0] for t in tracks]
                if "confirmed" in kinds:
                    continue
                same += [
                    template_distance(t, refs, view)
                    for t in tracks
                    if held_back(t, refs, tolerance)
                ]
            for stranger in names:
                if stranger == target:
                    continue
                for t in shots(stranger, -1):
                    if held_back(t, refs, tolerance):
                        different.append((template_distance(t, refs, view), f"{stranger}~{target}"))
    return same, different


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/lfw_dev_encodings.npz"))
    parser.add_argument("--refs", choices=("plain", "tight"), default="plain")
    args = parser.parse_args()
    data = encode_lfw(args.testdata / "lfw_dev", args.cache)
    cache = args.cache.with_name(f"{args.cache.stem}-refs-{args.refs}.npz")
    references = encode_references_as(args.testdata / "lfw_dev", cache, args.refs)
    for tolerance in (0.40, 0.45):
        same, different = study(data, references, tolerance)
        d = np.array([x for x, _ in different]) if different else np.zeros(0)
        s = np.array(same)
        print(f"\n## {args.refs} references, tolerance {tolerance:.2f}")
        print(f"held back without an anchor: same person {len(s)}, different person {len(d)}")
        if s.size:
            q = " ".join(f"{v:.3f}" for v in np.quantile(s, [0, 0.1, 0.5, 0.9, 1]))
            print(f"same person, template distance (0/10/50/90/100 %): {q}")
        for value, who in sorted(different)[:6]:
            print(f"  different: {who} {value:.3f}")
        print("| template distance within | same person | different person |\n|---|---:|---:|")
        for bar in BARS:
            kept = f"{int((s <= bar).sum())}/{len(s)} | {int((d <= bar).sum())}/{len(d)}"
            print(f"| {bar:.2f} | {kept} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
