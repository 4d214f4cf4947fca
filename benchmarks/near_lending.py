"""What near tracks lend, and what safeguards on that lending would cost.

In a video without an anchor of a person P, a track decided for P by the references
is kept when it comes near P's photo and its second view (reason ``near``), and it
then stands for P's anchors: P's other unconfirmed tracks may be confirmed from it and
borderline tracks adopted from it (:func:`faceripper.adaptive.decide_video`). A
look-alike relative of P (``benchmarks/lookalike.py``) whose one track is kept as near
has his other shots adopted from it. This replays the video step on the worker's own
held-back tracks and anchors (``benchmarks/identity_causes.py``'s ``collect_tracks``,
the whole video as one segment, ``--no-dedupe``) with each candidate safeguard on the
lending from near tracks, and prints, per video, the held-back tracks' crops given to
the right person and to a wrong one, and what each candidate takes from both:

``none``        near tracks lend nothing;
``corr``        a near track lends only when another near track of P, two shots apart,
                corroborates it (:func:`faceripper.adaptive.corroborating`);
``two``         only when P has at least two near tracks;
``r0.30``       only to tracks within 0.3 of a near track (track distance);
``shared2``     only to tracks with 2 faces within 0.3 of a near track's faces;
``asnear``      only to tracks whose median distance to P is at most a near track's;
``agree50``     no near track of P lends when two of them lie more than 0.5 apart.

Arguments: ``PICKLE:VIDEO:REFS`` (``lookalike.py``'s ``footage.pickle``, a dict by
video) or ``PICKLE::REFS`` (``identity.py``'s, one footage); ``REFS`` ``plain`` or
``tight``. ``--cache DIR`` keeps the collected tracks.

    python benchmarks/near_lending.py /tmp/lookalike/04-Julie_Gerberding/footage.pickle:absent:plain
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from identity_causes import collect_tracks

from faceripper import adaptive, heldback
from faceripper.clustering import track_distances
from faceripper.heldback import Adoption, Anchor

CANDIDATES = ["none", "corr", "two", "r0.30", "shared2", "asnear", "agree50"]


def lenders(pending: list, near: list[int], candidate: str) -> list[int]:
    """The near tracks allowed to lend under ``candidate``."""
    by_person: dict[int, list[int]] = defaultdict(list)
    for k in near:
        by_person[pending[k].decided].append(k)
    out: list[int] = []
    for person, ks in by_person.items():
        mine = [pending[k] for k in ks]
        spread = float(track_distances([t.encodings for t in mine]).max())
        if candidate == "none" or (candidate == "two" and len(ks) < 2):
            continue
        if candidate == "agree50" and spread > 0.5:
            continue
        if candidate == "corr":
            said = [Adoption(person, 0.0, "references") for _ in ks]
            out += [ks[i] for i in adaptive.corroborating(mine, said)]
            continue
        out += ks
    return out


def allowed(pending: list, k: int, person: int, lending: list[int], candidate: str) -> bool:
    """May the near tracks ``lending`` lend ``person`` to track ``k``?"""
    mine = [pending[j] for j in lending if pending[j].decided == person]
    if not mine:
        return True  # lent by a real anchor
    track = pending[k]
    if candidate == "r0.30":
        distances = track_distances([track.encodings] + [t.encodings for t in mine])
        return float(distances[0, 1:].min()) <= 0.3
    if candidate == "shared2":
        faces = np.concatenate([t.encodings for t in mine])
        nearest = np.linalg.norm(track.encodings[:, None] - faces[None], axis=2).min(axis=1)
        return int((nearest <= 0.3).sum()) >= 2
    if candidate == "asnear":
        return float(track.ref_distance[person]) <= max(float(t.ref_distance[person]) for t in mine)
    return True


def decide(data: dict[str, Any], candidate: str, tolerance: float = 0.4) -> list[Adoption]:
    """:func:`faceripper.adaptive.decide_video` with ``candidate`` on the near lending."""
    pending = data["pending"]
    anchors = heldback.merge_anchors([data["anchors"]])
    n = len(data["names"])
    if candidate == "base":
        return adaptive.decide_video(pending, anchors, n, tolerance, trust_references=False)
    first = adaptive._decide(pending, anchors, n, tolerance)
    decisions = adaptive.shared_views(pending, anchors, first, n, tolerance)
    alone = [k for k, d in enumerate(decisions) if d.reason == "references"]
    near = [k for k in alone if pending[k].best <= adaptive.VIEW_DISTANCE]
    rest = [k for k in alone if pending[k].best > adaptive.VIEW_DISTANCE]
    final = list(decisions)
    for k in near:
        final[k] = Adoption(pending[k].decided, decisions[k].video_distance, "near")
    lending = lenders(pending, near, candidate)
    stand_in = [
        Anchor(t.decided, t.first_frame, t.last_frame, t.encodings)
        for t in (pending[k] for k in lending)
    ]
    again = (
        adaptive._decide([pending[k] for k in rest], [*anchors, *stand_in], n, tolerance)
        if stand_in
        else [Adoption(-1, 0.0, "no anchor")] * len(rest)
    )
    for k, adoption in zip(rest, again, strict=True):
        if adoption.reason != "confirmed" or not allowed(
            pending, k, adoption.person, lending, candidate
        ):
            adoption = Adoption(-1, adoption.video_distance, "no anchor")
        final[k] = adoption
    if not stand_in:
        return final
    out = adaptive._lend_from(pending, anchors, stand_in, final, n, tolerance)
    for k, adoption in enumerate(out):
        if (
            adoption.person >= 0
            and final[k].person < 0
            and not allowed(pending, k, adoption.person, lending, candidate)
        ):
            out[k] = final[k]
    return out


def crops(data: dict[str, Any], decisions: list[Adoption]) -> Counter[str]:
    """The held-back tracks' crops (cropped, not blurry, on a face of the truth) given to
    the right and a wrong person."""
    names = data["names"]
    by_name = {t["name"]: t for t in data["tracks"]}
    out: Counter[str] = Counter()
    for track, adoption in zip(data["pending"], decisions, strict=True):
        if adoption.person < 0:
            continue
        for face in by_name[track.name]["faces"]:
            _, identity, _, cropped, blurry = face[:5]
            if cropped and not blurry and identity != "?":  # "?": no box of the truth there
                out["right" if identity == names[adoption.person] else "wrong"] += 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("videos", nargs="+", help="PICKLE:VIDEO:REFS")
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--cache", type=Path)
    args = parser.parse_args()
    print("| video | refs | right, wrong | " + " | ".join(CANDIDATES) + " |")
    print("|---|---|---|" + "---|" * len(CANDIDATES))
    for spec in args.videos:
        path, video, refs = spec.rsplit(":", 2)
        label = f"{Path(path).parent.name} {video}".strip()
        cached = args.cache / f"{label.replace(' ', '-')}-{refs}.pickle" if args.cache else None
        if cached and cached.exists():
            data = pickle.loads(cached.read_bytes())
        else:
            footage = pickle.loads(Path(path).read_bytes())
            footage = footage[video] if video else footage
            data = collect_tracks(
                footage,
                footage.refs_tight if refs == "tight" else footage.refs,
                args.min_size,
                0.4,
            )
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_bytes(pickle.dumps(data))
        base = crops(data, decide(data, "base"))
        cells = []
        for candidate in CANDIDATES:
            after = crops(data, decide(data, candidate))
            cells.append(f"-{base['right'] - after['right']}, -{base['wrong'] - after['wrong']}")
        head = f"| {label} | {refs} | {base['right']}, {base['wrong']} | "
        print(head + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
