"""Track templates: does a track's mean encoding tell a person never matched with
confidence from a look-alike better than its faces do?

A track's *template* is the mean of its encodings, each scaled to unit length, scaled
back to their mean length (:func:`template`). Averaging a shot's
faces (a head turning, the light changing) removes what is particular to each view; a
person's template then lies nearer to their own reference photo than most of their
faces do, while a look-alike's template lies where the look-alike's own face is. The
statistic is :func:`template_distance`: the larger of the template's
distances to a reference photo and to that photo's second view
(:func:`faceripper.refphoto.encode_reference_view`), the least over the person's photos.

The study uses the simulation of ``benchmarks/unconfirmed.py`` (``lfw_dev``: every photo
of the 24 people with 10 photos as P's one reference; 6 videos of P in 4 shots of 1-4
views each, each view a photo seen as a video shows it, twice; every other person once
as a stranger in 4 shots, P absent; the 40 people with one photo are references for
the strangers' videos too, Kim Hong-up's for Hu Jintao's) and counts, among the tracks
the references hold back for P in a video without an anchor of P (decided for P without
a confident face, or undecided with P nearest within the tolerance + 0.1), those whose
template distance is within a bar, for the same person and for a different one (and
for a different one by the template's distance to the photo alone).

    python benchmarks/templates.py [--refs plain|tight] [--cache /tmp/lfw_dev_encodings.npz]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
from unconfirmed import SHOTS, classify, encode_lfw, encode_references_as

from faceripper.heldback import REFERENCE_SLACK

BARS = (0.36, 0.37, 0.38, 0.39, 0.40, 0.42)


def template(encodings: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The mean direction of ``encodings`` ``(n, 128)`` (each scaled to unit length
    first), at their mean length."""
    lengths = np.linalg.norm(encodings, axis=1, keepdims=True)
    mean = (encodings / np.maximum(lengths, 1e-12)).mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12) * float(lengths.mean())


def template_distance(
    encodings: npt.NDArray[np.float64],
    photos: npt.NDArray[np.float64],
    views: npt.NDArray[np.float64],
) -> float:
    """The least, over a person's reference ``photos`` ``(r, 128)``, of the larger of the
    track's template's distances to the photo and to its second view (``views``, the
    same rows; pass ``photos`` again for the photo alone)."""
    centre = template(encodings)
    to_photo = np.linalg.norm(photos - centre, axis=1)
    to_view = np.linalg.norm(views - centre, axis=1)
    return float(np.maximum(to_photo, to_view).min())


def nearest_choice(
    data: dict[str, npt.NDArray[np.float64]],
    references: dict[str, npt.NDArray[np.float64]],
    shown: str,
    reference: str,
) -> tuple[float, list[int]]:
    """The nearest a track of ``shown``'s photos (any 1-5 of them, as photographed) can
    come to ``reference``'s first photo by :func:`template_distance`, and which."""
    from itertools import combinations

    rows = np.flatnonzero(data["person"] == shown)
    ref = int(np.flatnonzero(data["person"] == reference)[0])
    photo, view = references["enc"][ref][None], references["view"][ref][None]
    best: tuple[float, list[int]] = (np.inf, [])
    for k in range(1, 6):
        for pick in combinations(range(len(rows)), k):
            value = template_distance(data["plain"][rows[list(pick)]], photo, view)
            best = min(best, (value, list(pick)))
    return best


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
) -> tuple[list[float], list[tuple[float, float, str]]]:
    """Template distances of held-back tracks without an anchor: same person; different
    person (the template distance, the same to the photo alone, and who~whom). P's
    reference alone in the run (the margin to other
    references plays no part in the statistic)."""
    rng = np.random.default_rng(seed)
    person, video = data["person"], data["video"]
    plain, views = references["enc"], references["view"]
    names = sorted(set(person.tolist()))
    rows = {n: np.flatnonzero(person == n) for n in names}
    main = [n for n in names if len(rows[n]) >= 5]
    same: list[float] = []
    different: list[tuple[float, float, str]] = []

    def shots(who: str, exclude: int) -> list[npt.NDArray[np.float64]]:
        pool = [r for r in rows[who] if r != exclude]
        out = []
        for _ in range(SHOTS):
            pick = rng.choice(pool, min(int(rng.integers(1, 5)), len(pool)), replace=False)
            out.append(video[pick].reshape(-1, 128))
        return out

    for target in names:  # the one-photo people are references only for strangers
        for ref in rows[target]:
            if np.isnan(plain[ref]).any():
                continue
            refs, view = plain[ref][None], views[ref][None]
            for _ in range(6 if target in main else 0):
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
                        both = template_distance(t, refs, view)
                        alone = template_distance(t, refs, refs)
                        different.append((both, alone, f"{stranger}~{target}"))
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
    value, pick = nearest_choice(data, references, "Hu_Jintao", "Kim_Hong-up")
    print(f"Hu Jintao's photos {pick} as one track: {value:.3f} from Kim Hong-up's photo")
    for tolerance in (0.40, 0.45):
        same, different = study(data, references, tolerance)
        d = np.array([x for x, _, _ in different]) if different else np.zeros(0)
        photo = np.array([x for _, x, _ in different]) if different else np.zeros(0)
        s = np.array(same)
        print(f"\n## {args.refs} references, tolerance {tolerance:.2f}")
        print(f"held back without an anchor: same person {len(s)}, different person {len(d)}")
        if s.size:
            q = " ".join(f"{v:.3f}" for v in np.quantile(s, [0, 0.1, 0.5, 0.9, 1]))
            print(f"same person, template distance (0/10/50/90/100 %): {q}")
        for both, alone, who in dict.fromkeys(sorted(different)[:3]):
            print(f"  different: {who} {both:.3f} (photo alone {alone:.3f})")
        print("| within | same person | different person | different, photo alone |")
        print("|---|---:|---:|---:|")
        for bar in BARS:
            kept = f"{int((s <= bar).sum())}/{len(s)} | {int((d <= bar).sum())}/{len(d)}"
            print(f"| {bar:.2f} | {kept} | {int((photo <= bar).sum())}/{len(d)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
