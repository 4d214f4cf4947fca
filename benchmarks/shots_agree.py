"""A rule for people never matched with confidence, replayed: shots that agree (not adopted).

Every appearance rip misses on the ground truth of ``benchmarks/identity_causes.py`` is
a person the video never matches with confidence (no anchor: the one-photo limit). The
rule tried here asks the video's cluster structure instead of a confident face: for a
person P without an anchor in the video, the held-back tracks the step left undecided
and nearest P by the references (median within the held-back windows) are grouped by
:func:`faceripper.clustering.track_distances` within ``--link`` (single linkage); a
group of at least ``--shots`` tracks in different shots (no two sharing a frame: two
faces in one frame are two people), each within ``--median`` of P's photo, is lent P.

It reads the tracks that ``identity_causes.py --cache FILE`` kept (the worker's own, the
step replayed) and counts, per video, the faces and appearances it would add, right and
wrong, strangers included::

    python benchmarks/shots_agree.py --data /tmp/appear/data-s1.pickle \\
        --footage /tmp/misses/sitcom/seed1-draw1/sitcom.pickle --min-size 100
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from identity_causes import replay

from faceripper.clustering import track_distances


def groups(members: list[int], distances: np.ndarray, link: float) -> list[list[int]]:
    """Single-linkage groups of ``members`` (indices into ``distances``) within ``link``."""
    left, out = set(members), []
    while left:
        todo, group = [left.pop()], []
        while todo:
            k = todo.pop()
            group.append(k)
            near = {j for j in left if distances[k, j] <= link}
            left -= near
            todo += near
        out.append(sorted(group))
    return out


def lend(data: dict[str, Any], args: argparse.Namespace) -> dict[str, int]:
    """The tracks the rule would lend, by name -> person."""
    names = data["names"]
    anchored = {a.person for a in data["anchors"]}
    by_name = {t["name"]: t for t in data["tracks"]}
    free = [
        p
        for p in data["pending"]
        if by_name[p.name]["adoption"].person < 0 and not p.notes_only and len(p.encodings)
    ]
    lent: dict[str, int] = {}
    for person in range(len(names)):
        if person in anchored:
            continue
        mine = [
            p
            for p in free
            if int(np.argmin(p.ref_distance[: len(names)])) == person
            and p.ref_distance[person] <= args.median
        ]
        if len(mine) < args.shots:
            continue
        distances = track_distances([p.encodings for p in mine])
        for group in groups(list(range(len(mine))), distances, args.link):
            tracks = [mine[k] for k in group]
            spans = sorted((t.first_frame, t.last_frame) for t in tracks)
            apart = all(a[1] < b[0] for a, b in itertools.pairwise(spans))
            if len(tracks) >= args.shots and apart:
                lent.update((t.name, person) for t in tracks)
    return lent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="identity_causes.py --cache")
    parser.add_argument("--footage", type=Path, required=True, help="its pickled ground truth")
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--tolerance", type=float, default=0.4)
    parser.add_argument("--link", type=float, default=0.4)
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--median", type=float, default=0.6)
    args = parser.parse_args()
    data = pickle.loads(args.data.read_bytes())
    footage = pickle.loads(args.footage.read_bytes())
    replay(data, args.tolerance, trust_references=False)
    lent = lend(data, args)
    eligible = {
        (r.frame, r.appearance)
        for r in footage.truth
        if r.is_target and r.blur_sigma_px == 0 and r.size_px >= args.min_size
    }
    covered = set()
    for t in data["tracks"]:
        adoption = t.get("adoption")
        person = adoption.person if adoption is not None else t["person"]
        if person >= 0:
            covered |= {f[2] for f in t["faces"] if f[3] and f[1] == data["names"][person]}
    faces: Counter[str] = Counter()
    appearances: dict[str, set[int]] = {"right": set(), "wrong": set(), "stranger": set()}
    targets = {r.appearance for r in footage.truth if r.is_target}
    for t in data["tracks"]:
        person = lent.get(t["name"])
        if person is None:
            continue
        for frame, identity, appearance, cropped, blurry, *_ in t["faces"]:
            if not cropped or blurry or identity == "?":
                continue
            kind = "right" if identity == data["names"][person] else "wrong"
            if appearance not in targets:
                kind = "stranger"
            faces[kind] += 1
            appearances[kind].add(appearance)
            faces["eligible right"] += kind == "right" and (frame, appearance) in eligible
    print(
        f"{args.data.name}: {len(lent)} tracks lent; faces right {faces['right']} "
        f"(eligible {faces['eligible right']}), wrong {faces['wrong']}, stranger "
        f"{faces['stranger']}; appearances right {sorted(appearances['right'])}, wrong "
        f"{sorted(appearances['wrong'])}, stranger {sorted(appearances['stranger'])}; "
        f"newly covered {sorted(appearances['right'] - covered)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
