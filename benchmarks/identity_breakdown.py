"""Why faces of referenced people are missed on the footage-like ground truth.

Reads the video that ``benchmarks/identity.py`` built (its ``--work`` folder) and the
manifests of its runs, then looks at every *eligible* face (a target person, not blurred
on purpose, drawn at least ``--min-size`` px) on its own: found by a search of the
whole frame at rip's detection scale, its sharpness (:func:`faceripper.blur.sharpness`),
its encoding's distance to each person's reference. Each eligible face a run did not
save is put down to the first cause that explains it:

``not detected``
    no detection overlaps it (IoU >= 0.4) in a search of the whole frame;
``too small``
    its detected box is under ``--min-size``;
``blurry``
    its sharpness is under the default ``--blur`` (75);
``far``
    its own encoding lies more than 0.5 (tolerance + 0.1) from its reference;
``borderline``
    0.4 to 0.5 from it;
``matched, lost``
    within 0.4 (it alone would be saved): its track was split, dropped, lost to another
    track in its frame, or a region search found a different box.

For each appearance (one person through one shot) it also prints the median distance of
its faces to the reference and to the person's *confident* faces elsewhere in the video
(within 0.35 of the reference and 0.1 nearer than to anyone else), which is what the
video-adaptive step (:mod:`faceripper.adaptive`) can use; the same for the stranger;
how much its faces vary (median distance between two of its encodings) and how many of
them are matched with confidence. The faces looked at are kept in
``WORK/seedN/faces-looked-<min size>.pickle`` for the next runs. ``--moving``: the
video of ``benchmarks/identity.py --moving``.

    python benchmarks/identity_breakdown.py --work /tmp/identity2 faces-plain-0 faces-tight-0
"""

from __future__ import annotations

import argparse
import csv
import pickle
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from faceripper.blur import sharpness
from faceripper.config import config_from_refs
from faceripper.detector import detect_faces_scaled, detection_scale
from faceripper.encoder import encode_faces
from faceripper.geometry import as_boxes, box_sizes, iou
from faceripper.references import encode_references
from faceripper.testing.footage import Footage
from faceripper.video import iter_frames, scan_video

BLUR = 75.0
TOLERANCE = 0.4


def reference_encodings(refs: Path) -> dict[str, np.ndarray]:
    """Each person's reference encodings ``(k, 128)``, as rip computes them."""
    config, _ = config_from_refs(refs)
    with tempfile.TemporaryDirectory() as tmp:
        report = encode_references(config, Path(tmp) / "cache.npz")
    refs_set = report.references
    return {
        str(label): refs_set.encodings[refs_set.label == label]
        for label in sorted(set(refs_set.label.tolist()))
    }


def look_at_faces(footage: Footage, min_size: int) -> list[dict[str, object]]:
    """Every target or stranger face of the truth, detected, scored and encoded alone."""
    scan = scan_video(footage.video)
    truth_by_frame = defaultdict(list)
    for row in footage.truth:
        truth_by_frame[row.frame].append(row)
    scale = detection_scale(min_size)
    out: list[dict[str, object]] = []
    for decoded in iter_frames(footage.video, scan, 0, scan.frame_count):
        rows = truth_by_frame.get(decoded.index, [])
        if not rows:
            continue
        image = decoded.rgb()
        boxes = detect_faces_scaled(image, scale)
        for row in rows:
            record: dict[str, object] = {"row": row, "box": None}
            if len(boxes):
                overlap = iou(as_boxes([row.box]), boxes)[0]
                best = int(np.argmax(overlap))
                if overlap[best] >= 0.4:
                    box = boxes[best : best + 1]
                    record["box"] = tuple(int(v) for v in box[0])
                    record["size"] = int(box_sizes(box)[0])
                    record["sharpness"] = float(sharpness(image, box)[0])
                    record["encoding"] = encode_faces(image, box).encodings[0]
            out.append(record)
    return out


def saved_faces(manifest: Path, footage: Footage) -> dict[object, str]:
    """Truth row -> label of the saved crop on it (IoU >= 0.4)."""
    found: dict[object, str] = {}
    with manifest.open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            if record["status"] != "saved":
                continue
            candidates = footage.truth.in_frame(int(record["frame"]))
            if not candidates:
                continue
            box = as_boxes([[int(record[k]) for k in ("top", "right", "bottom", "left")]])
            overlaps = iou(box, as_boxes([c.box for c in candidates]))[0]
            best = int(np.argmax(overlaps))
            if overlaps[best] >= 0.4:
                found[candidates[best]] = record["label"]
    return found


def median_pairwise(encodings: list[np.ndarray]) -> float:
    """Median distance between two of ``encodings`` (each ``(128,)``); NaN for fewer than 2."""
    if len(encodings) < 2:
        return float("nan")
    stacked = np.stack(encodings)
    pairs = np.linalg.norm(stacked[:, None] - stacked[None], axis=2)
    return float(np.median(pairs[np.triu_indices(len(stacked), 1)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-identity"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--moving", action="store_true", help="the --moving video")
    parser.add_argument("runs", nargs="+", help="target folders (faces-plain-0 ...)")
    args = parser.parse_args()
    work = args.work / (f"seed{args.seed}" + ("-moving" if args.moving else ""))
    footage: Footage = pickle.loads((work / "footage.pickle").read_bytes())
    looked = work / f"faces-looked-{args.min_size}.pickle"
    faces: list[dict[str, object]]
    if looked.is_file():
        faces = pickle.loads(looked.read_bytes())
    else:
        faces = look_at_faces(footage, args.min_size)
        looked.write_bytes(pickle.dumps(faces))
    for run in args.runs:
        refs = footage.refs_tight if "tight" in run else footage.refs
        references = reference_encodings(refs)
        names = sorted(references)
        found = saved_faces(work / run / "manifest.csv", footage)
        for face in faces:
            encoding = face.get("encoding")
            if encoding is not None:
                face["d"] = {
                    n: float(np.linalg.norm(references[n] - encoding, axis=1).min()) for n in names
                }
        # Confident faces per person: own <= 0.35, 0.1 nearer than anyone else.
        confident: dict[str, list[tuple[int, np.ndarray]]] = defaultdict(list)
        for face in faces:
            row = face["row"]
            if "d" not in face or not row.is_target:  # type: ignore[attr-defined]
                continue
            d = face["d"]
            own = d[row.identity]  # type: ignore[index, attr-defined]
            rest = min(v for k, v in d.items() if k != row.identity)  # type: ignore[union-attr, attr-defined]
            if own <= 0.35 and rest >= own + 0.1:
                confident[row.identity].append((row.appearance, face["encoding"]))  # type: ignore[attr-defined, arg-type]
        causes: Counter[str] = Counter()
        per_app: dict[int, list[dict[str, object]]] = defaultdict(list)
        for face in faces:
            row = face["row"]
            per_app[row.appearance].append(face)  # type: ignore[attr-defined]
            eligible = row.is_target and row.blur_sigma_px == 0 and row.size_px >= args.min_size  # type: ignore[attr-defined]
            if not eligible:
                continue
            if found.get(row) == row.identity:  # type: ignore[attr-defined]
                cause = "saved"
            elif row in found:
                cause = "saved wrong"
            elif face["box"] is None:
                cause = "not detected"
            elif face["size"] < args.min_size:  # type: ignore[operator]
                cause = "too small"
            elif face["sharpness"] < BLUR:  # type: ignore[operator]
                cause = "blurry"
            else:
                own = face["d"][row.identity]  # type: ignore[index, attr-defined]
                if own > TOLERANCE + 0.1:
                    cause = "far (> 0.5)"
                elif own > TOLERANCE:
                    cause = "borderline (0.4-0.5)"
                else:
                    cause = "matched, lost"
            causes[cause] += 1
            face["cause"] = cause
        total = sum(causes.values())
        print(f"\n## {run}: {total} eligible faces\n")
        print("| cause | faces | share |\n|---|---:|---:|")
        for cause, n in causes.most_common():
            print(f"| {cause} | {n} | {n / total:.3f} |")
        print(
            "\n| appearance | shot | person | target | faces | eligible | saved | causes of misses"
            " | sharpness p50 | d ref p50 | d ref min | d video p50 | spread p50 | confident |"
        )
        print("|---:|---:|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
        for app, group in sorted(per_app.items()):
            row = group[0]["row"]
            who = row.identity if row.is_target else footage.lookalike  # type: ignore[attr-defined]
            encoded = [f for f in group if "d" in f]
            d_ref = [f["d"][who] for f in encoded]  # type: ignore[index]
            others = [e for a, e in confident.get(who, []) if a != app]
            d_video = [
                float(np.linalg.norm(np.stack(others) - f["encoding"], axis=1).min())  # type: ignore[operator]
                for f in encoded
                if others
            ]
            sharp = [f["sharpness"] for f in group if "sharpness" in f]
            # How much one face varies through its shot: median pairwise distance.
            spread = median_pairwise([np.asarray(f["encoding"]) for f in encoded])
            n_confident = sum(a == app for a, _ in confident.get(who, []))
            misses = Counter(
                str(f["cause"]) for f in group if "cause" in f and f["cause"] != "saved"
            )
            kind = "yes" if row.is_target else "STRANGER"  # type: ignore[attr-defined]
            print(
                f"| {app} | {row.shot} | {row.identity} | {kind} | "  # type: ignore[attr-defined]
                f"{len(group)} | {sum('cause' in f for f in group)} | "
                f"{sum(f.get('cause') == 'saved' for f in group)} | "
                f"{', '.join(f'{k} {v}' for k, v in misses.most_common()) or '-'} | "
                f"{np.median(sharp) if sharp else float('nan'):.0f} | "
                f"{np.median(d_ref) if d_ref else float('nan'):.2f} | "
                f"{min(d_ref) if d_ref else float('nan'):.2f} | "
                f"{np.median(d_video) if d_video else float('nan'):.2f} | {spread:.2f} | "
                f"{n_confident} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
