"""Reference photos cut tight to the face: which detection searches find their face.

For every test photo in which HOG (upsample 1) finds a face, two tight crops are made:
the face box itself, and the box shrunk by 10%. For each crop HOG at upsample 1 misses,
every fallback search of :data:`faceripper.refcache.FALLBACK_STEPS` (and plain edge
padding, for comparison) is tried; a face found is checked by its landmarks
(:func:`faceripper.detector.plausible_face`) and its encoding compared with the whole
photo's. Prints one line per missed crop, then the chain's totals.

    python benchmarks/tight_crops.py
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from faceripper.detector import detect_faces, pad_for_detection, plausible_face
from faceripper.encoder import encode_faces, face_landmarks
from faceripper.geometry import box_areas
from faceripper.images import load_rgb
from faceripper.references import FALLBACK_STEPS


def edge_padded(image: np.ndarray, fraction: float) -> tuple[np.ndarray, int]:
    pad = round(max(image.shape[:2]) * fraction)
    return np.ascontiguousarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), "edge")), pad


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    data = parser.parse_args().testdata
    photos = sorted(data.glob("lfw_dev/*/*.jpg")) + sorted(data.glob("openface/*.jpg"))
    photos += sorted(data.glob("face_recognition/knn_examples/train/*/*"))
    photos += [data / "dlib" / "Tom_Cruise_avp_2014_4.jpg"]
    photos += [data / "face_recognition" / "obama3.jpg"]
    photos += sorted(data.glob("face_recognition/*.png"))
    crops, missed = Counter(), Counter()
    first: Counter[tuple[str, str]] = Counter()
    edge_found: Counter[str] = Counter()
    distances: list[float] = []
    for path in photos:
        image = load_rgb(path)
        boxes = detect_faces(image, upsample=1)
        if len(boxes) == 0:
            continue
        box = boxes[int(np.argmax(box_areas(boxes)))]
        whole = encode_faces(image, box[None]).encodings[0]
        top, right, bottom, left = box
        for kind, shrink in (("box", 0.0), ("box-10%", 0.1)):
            inset = int((right - left) * shrink / 2)
            crop = np.ascontiguousarray(
                image[max(0, top + inset) : bottom - inset, max(0, left + inset) : right - inset]
            )
            if min(crop.shape[:2]) < 40:
                continue
            crops[kind] += 1
            if len(detect_faces(crop, upsample=1)):
                continue
            missed[kind] += 1
            found = ""
            for step in FALLBACK_STEPS:
                searched, pad = pad_for_detection(crop, step.pad) if step.pad else (crop, 0)
                found_boxes = detect_faces(searched, upsample=step.upsample)
                if len(found_boxes) == 0:
                    continue
                face = found_boxes[int(np.argmax(box_areas(found_boxes)))]
                points = face_landmarks(searched, face[None])[0]
                why = plausible_face(points - pad, face - pad, crop.shape)
                if why:
                    print(f"  {path.name} {kind}: {step.name} rejected: {why}")
                    continue
                found = step.name
                encoding = encode_faces(searched, face[None]).encodings[0]
                distances.append(float(np.linalg.norm(encoding - whole)))
                break
            first[(kind, found or "none")] += 1
            for fraction in (0.5, 0.25):
                padded, _ = edge_padded(crop, fraction)
                if any(len(detect_faces(padded, upsample=u)) for u in (1, 0)):
                    edge_found[kind] += 1
                    break
            print(f"{path.name} {kind} {crop.shape[1]}x{crop.shape[0]}: {found or 'no face'}")
    print(f"\ncrops: {dict(crops)}; HOG upsample 1 misses: {dict(missed)}")
    for (kind, step), n in sorted(first.items()):
        print(f"  {kind}: {step}: {n}")
    print(f"  found with plain edge padding (50% or 25%, upsample 1 or 0): {dict(edge_found)}")
    if distances:
        print(
            f"fallback encoding to the whole photo's: median {np.median(distances):.3f}, "
            f"max {max(distances):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
