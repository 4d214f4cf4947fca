"""Sharpness of in-focus and deliberately blurred faces, per track, on footage-like ground truth.

Runs rip's worker over the whole video of ``benchmarks/identity.py`` as one segment
(``--no-dedupe``, ``--min-size``) and keeps every face of every track it decides with the
references (its sharpness, its box, the decision of its track) beside the truth's face at
that place (identity, target or not, blur sigma). Then prints:

- the sharpness of the targets' faces the truth draws in focus and of those it blurs on
  purpose (Gaussian sigma 3-6% of the face height), by face size;
- each face's sharpness relative to its track's (:func:`faceripper.blur.track_sharpness`);
- for a grid of absolute floors and factors, what :func:`faceripper.blur.soft_in_track`
  would keep of the faces under ``--blur``: in-focus faces of tracks decided for their
  own person (gained), blurred faces of decided tracks (must stay 0), and faces of
  tracks decided for another person (never saved anyway: identity is not the blur
  rule's business, listed to see nothing hides there).

    python benchmarks/blur_tracks.py --work /tmp/faceripper-identity --moving --seed 21
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from identity_causes import start_worker

from faceripper import worker
from faceripper.blur import DEFAULT_BLUR_THRESHOLD, TRACK_FACTOR, track_sharpness
from faceripper.geometry import as_boxes, iou
from faceripper.testing.footage import Footage
from faceripper.video import scan_video
from faceripper.worker import decisions as worker_decisions


def collect_faces(
    footage: Footage, refs: Path, min_size: int, floor: float
) -> list[dict[str, Any]]:
    """Every face of every decided track part (after split, join and trim), with its
    truth; ``floor``: the run's ``blur_floor`` (faces under it are not encoded)."""
    settings = worker.RipSettings(min_size_px=min_size, dedupe=False, blur_floor=floor)
    names, _ = start_worker(refs, settings)
    label_to_identity = footage.label_to_identity
    truth_by_frame = defaultdict(list)
    for row in footage.truth:
        truth_by_frame[row.frame].append(row)

    def truth_of(observation: Any) -> Any:
        rows = truth_by_frame.get(observation.frame, [])
        if not rows:
            return None
        overlap = iou(as_boxes([observation.box_trbl]), as_boxes([r.box for r in rows]))[0]
        best = int(np.argmax(overlap))
        return rows[best] if overlap[best] > 0.4 else None

    faces: list[dict[str, Any]] = []
    original = worker_decisions.collect_adaptive

    def collect(parts, decisions, *args):  # type: ignore[no-untyped-def]
        for track, decision in zip(parts, decisions, strict=True):
            scores = np.array([o.sharpness for o in track.observations])
            reference = track_sharpness(scores)
            person = label_to_identity.get(names[decision.person]) if decision.person >= 0 else None
            for o in track.observations:
                row = truth_of(o)
                faces.append(
                    {
                        "track": track.name,
                        "reason": decision.reason,
                        "encoded": sum(x.distances is not None for x in track.observations),
                        "level": reference,
                        "sharpness": o.sharpness,
                        "relative": o.sharpness / reference if reference > 0 else 0.0,
                        "size": o.box_trbl[2] - o.box_trbl[0],
                        "decided": person,
                        "identity": row.identity if row else None,
                        "target": bool(row and row.is_target),
                        "blurred": bool(row and row.blur_sigma_px > 0),
                        "eligible": bool(
                            row
                            and row.is_target
                            and row.blur_sigma_px == 0
                            and row.size_px >= min_size
                        ),
                    }
                )
        return original(parts, decisions, *args)

    worker_decisions.collect_adaptive = collect  # instrumentation: the same call, observed
    try:
        scan = scan_video(footage.video)
        worker.process_segment(worker.SegmentTask(0, "v", footage.video, scan, 0, scan.frame_count))
    finally:
        worker_decisions.collect_adaptive = original
    return faces


def percentiles(values: list[float]) -> str:
    if not values:
        return "| 0 | | | | | |"
    p = np.percentile(values, [5, 25, 50, 75, 95])
    return f"| {len(values)} | " + " | ".join(f"{v:.0f}" for v in p) + " |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-identity"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--moving", action="store_true", help="the --moving video")
    parser.add_argument("--refs", choices=("plain", "tight"), default="plain")
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--floor", type=float, default=20.0, help="blur_floor of the run")
    args = parser.parse_args()
    work = args.work / (f"seed{args.seed}" + ("-moving" if args.moving else ""))
    footage: Footage = pickle.loads((work / "footage.pickle").read_bytes())
    refs = footage.refs_tight if args.refs == "tight" else footage.refs
    cache = work / f"blur_tracks-{args.refs}-{args.floor:g}.pickle"
    if cache.is_file():
        faces = pickle.loads(cache.read_bytes())
    else:
        faces = collect_faces(footage, refs, args.min_size, args.floor)
        cache.write_bytes(pickle.dumps(faces))
    threshold = DEFAULT_BLUR_THRESHOLD
    print(f"{work} {args.refs}: {len(faces)} faces in tracks\n")
    print("| faces | n | p5 | p25 | p50 | p75 | p95 |\n|---|---:|---:|---:|---:|---:|---:|")
    groups = {
        "target, in focus": [f for f in faces if f["target"] and not f["blurred"]],
        "target, blurred": [f for f in faces if f["target"] and f["blurred"]],
        "stranger/other, in focus": [
            f for f in faces if f["identity"] and not f["target"] and not f["blurred"]
        ],
        "stranger/other, blurred": [
            f for f in faces if f["identity"] and not f["target"] and f["blurred"]
        ],
    }
    for name, group in groups.items():
        print(f"| {name} | " + percentiles([f["sharpness"] for f in group])[2:])
        print(f"| {name}, / track | " + percentiles([100 * f["relative"] for f in group])[2:])
    under = [f for f in faces if f["sharpness"] < threshold and f["identity"]]
    print(f"\nunder {threshold:g}: {len(under)} faces")
    print(
        "| faces under --blur | n | p5 | p25 | p50 | p75 | p95 |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    for name, group in {
        "in focus, decided right": [
            f for f in under if f["eligible"] and f["decided"] == f["identity"]
        ],
        "in focus, not decided": [f for f in under if f["eligible"] and f["decided"] is None],
        "blurred, decided": [f for f in under if f["blurred"] and f["decided"]],
        "blurred, not decided": [f for f in under if f["blurred"] and not f["decided"]],
    }.items():
        print(f"| {name} | " + percentiles([f["sharpness"] for f in group])[2:])
        print(f"| {name}, % of track | " + percentiles([100 * f["relative"] for f in group])[2:])
    print(
        "\n| floor | factor | in focus gained (decided right) | blurred saved (decided) | "
        "other decided | min blurred decided |\n|---:|---:|---:|---:|---:|---:|"
    )
    decided_blurred = [f["sharpness"] for f in under if f["blurred"] and f["decided"]]
    for floor in (30, 40, 45, 50, 55):
        for factor in (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5):
            kept = [
                f
                for f in under
                if f["decided"] and f["sharpness"] >= floor and f["relative"] >= factor
            ]
            gained = sum(f["eligible"] and f["decided"] == f["identity"] for f in kept)
            blurred = sum(f["blurred"] for f in kept)
            other = sum(not f["blurred"] and f["decided"] != f["identity"] for f in kept)
            low = min(decided_blurred) if decided_blurred else float("nan")
            print(f"| {floor} | {factor} | {gained} | {blurred} | {other} | {low:.0f} |")
    lost = [
        f
        for f in under
        if f["eligible"]
        and not (f["decided"] and f["sharpness"] >= args.floor and f["relative"] >= TRACK_FACTOR)
    ]
    print(f"\nin-focus faces under {threshold:g} still lost at floor {args.floor:g}, by track:")
    print(
        "| track | faces | decided | reason | encoded | track level | scores |\n"
        "|---|---:|---|---|---:|---:|---|"
    )
    by_track: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in lost:
        by_track[f["track"]].append(f)
    for name, group in sorted(by_track.items()):
        g = group[0]
        scores = " ".join(f"{f['sharpness']:.0f}" for f in group)
        print(
            f"| {name} | {len(group)} | {g['decided']} | {g['reason']} | {g['encoded']} | "
            f"{g['level']:.0f} | {scores} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
