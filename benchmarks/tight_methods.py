"""Tight-crop references: does any way of encoding them separate people better, or only nearer?

Two parts.

``--methods`` (the default): the 240 LFW photos of the 24 ``lfw_dev`` people with 10
photos, each cut to its HOG box at 200 px (as ``benchmarks/identity.py``'s tight
references are made), and face-api.js's 40 real tight crops (8 people x 5), each encoded
by several candidate methods: the product's (:func:`faceripper.refphoto.encode_reference_face`:
the chip's overhang mirrored, averaged with the mirror image), face_recognition's (black
beyond the photo), and averages of more views of the crop (black and mirrored fills,
small shifts and scales of the landmarks, the chip zoomed in, dlib's ``--jitters``). A
crop is compared with the person's other photos (LFW: the whole photos as
face_recognition encodes them; face-api.js: the other crops, encoded by the same method)
and with everyone else's. Per method: ``same<0.4`` (share of same-person pairs within
0.4), the median same-person distance, the nearest other person (median, 10th
percentile, least) and, threshold-free, the share of same-person pairs within the
distance that lets 0.1% / 0.5% / 1% of different-person pairs through (``TAR@FAR``, its
threshold in brackets): a method that only moves every distance nearer raises
``same<0.4`` and lowers the nearest other person alike, and leaves ``TAR@FAR`` where it was.

``--video WORK``: for the references of an ``identity.py`` work folder, what moves the
tight crop's encoding from the whole photo's: the crop's landmarks (against the whole
photo's, mapped into the crop), its scale (the crop at the photo's own resolution against
the 200 px one) and the fill beyond it (mirrored, black), and how far each encoding lies
from the person's other ``lfw_dev`` photos.

    python benchmarks/tight_methods.py [--cache /tmp/tight-methods] [--jitters 5]
    python benchmarks/tight_methods.py --video /tmp/faceripper-identity/seed21-moving
"""

from __future__ import annotations

import argparse
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceripper.detector import detect_faces
from faceripper.encoder import chip_overhangs, encode_faces, face_chips
from faceripper.geometry import box_areas
from faceripper.images import load_rgb
from faceripper.models import get_models
from faceripper.refcache import EncodeSettings
from faceripper.refphoto import (
    _mirrored_surroundings,
    encode_reference_face,
    encode_reference_file,
    find_reference_face,
)

SETTINGS = EncodeSettings()
Method = Callable[[np.ndarray, np.ndarray], np.ndarray]


def tight_crop(image: np.ndarray, box: np.ndarray, side: int = 200) -> np.ndarray:
    """``footage.write_tight_crop``'s crop: the box alone, ``side`` px square, JPEG 95."""
    top, right, bottom, left = (int(v) for v in box)
    height, width = image.shape[:2]
    crop = image[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    crop = cv2.resize(np.ascontiguousarray(crop), (side, side), interpolation=cv2.INTER_LINEAR)
    _, jpeg = cv2.imencode(".jpg", crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1])


def largest_face(image: np.ndarray) -> np.ndarray | None:
    boxes = detect_faces(image, upsample=1)
    return boxes[int(np.argmax(box_areas(boxes)))] if len(boxes) else None


def crop_face(crop: np.ndarray) -> np.ndarray | None:
    """The face ``encode`` finds in a crop (any search), in the crop's pixels."""
    _, boxes, pad, scale, _ = find_reference_face(crop, SETTINGS)
    if len(boxes) == 0:
        return None
    assert scale == 1.0  # crops are under FALLBACK_SIDE_PX
    return np.asarray(boxes[int(np.argmax(box_areas(boxes)))] - pad)


def detect_stage(data: Path, cache: Path) -> dict[str, list[dict[str, Any]]]:
    path = cache / "detect.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    lfw = []
    for folder in sorted((data / "lfw_dev").iterdir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) < 10:
            continue
        for file in files:
            image = load_rgb(file)
            box = largest_face(image)
            if box is None:
                continue
            crop = tight_crop(image, box)
            whole = encode_faces(image, box[None]).encodings[0]
            lfw.append(
                {"person": folder.name, "whole": whole, "crop": crop, "box": crop_face(crop)}
            )
    faceapi = []
    for folder in sorted(p for p in (data / "face-api.js").iterdir() if p.is_dir()):
        for file in sorted(folder.iterdir()):
            crop = load_rgb(file)
            faceapi.append({"person": folder.name, "crop": crop, "box": crop_face(crop)})
    out = {"lfw": lfw, "faceapi": faceapi}
    path.write_bytes(pickle.dumps(out))
    return out


# ------------------------------------------------------------------ candidate methods


def _landmarks(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    import dlib

    top, right, bottom, left = (int(v) for v in box)
    shape = get_models().landmarks("5")(image, dlib.rectangle(left, top, right, bottom))
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def chip_encodings(image: np.ndarray, points: list[np.ndarray]) -> np.ndarray:
    """The network's encodings of the chips of landmark sets ``points`` in ``image``."""
    import dlib

    shapes = [
        dlib.full_object_detection(
            dlib.rectangle(0, 0, 1, 1), [dlib.point(round(x), round(y)) for x, y in p]
        )
        for p in points
    ]
    chips = face_chips(np.ascontiguousarray(image), shapes)
    return np.asarray(get_models().face_network("auto", "cpu").descriptors(chips))


def views(crop: np.ndarray, box: np.ndarray, fill: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The crop filled beyond its edges (mirrored as the product does, or black), and its
    mirror image, each with its landmarks found there."""
    if fill == "mirrored":
        overhang = max(float(chip_overhangs(crop, box[None])[0]), 1.0)
        canvas, where = _mirrored_surroundings(crop, box, overhang)
    else:
        pad = max(crop.shape[:2])
        canvas, where = np.pad(crop, ((pad, pad), (pad, pad), (0, 0))), box + pad
    canvas = np.ascontiguousarray(canvas)
    flipped = np.ascontiguousarray(canvas[:, ::-1])
    top, right, bottom, left = where
    width = canvas.shape[1]
    mirrored = np.array([top, width - 1 - left, bottom, width - 1 - right])
    return [(canvas, _landmarks(canvas, where)), (flipped, _landmarks(flipped, mirrored))]


def moved(points: np.ndarray, kind: str) -> list[np.ndarray]:
    """Landmark sets around ``points``: itself, shifted, scaled about their centre."""
    centre = points.mean(axis=0)
    eyes = float(np.linalg.norm(points[0:2].mean(axis=0) - points[2:4].mean(axis=0)))
    if kind == "one":
        return [points]
    if kind.startswith("zoom"):
        return [(points - centre) * float(kind[4:]) + centre]
    if kind == "shifts":
        shifts = [points + np.array(d) * 0.06 * eyes for d in ((1, 0), (-1, 0), (0, 1), (0, -1))]
        return [points, *shifts, *((points - centre) * z + centre for z in (0.94, 1.06))]
    if kind == "scales":
        return [(points - centre) * z + centre for z in (0.9, 1.0, 1.1)]
    raise ValueError(kind)


def averaged(crop: np.ndarray, box: np.ndarray, fill: str, kind: str, flip: bool = True) -> Any:
    chosen = views(crop, box, fill)[: 2 if flip else 1]
    return np.concatenate([chip_encodings(img, moved(p, kind)) for img, p in chosen]).mean(axis=0)


def methods(jitters: int) -> dict[str, Method]:
    out: dict[str, Method] = {
        "product (mirrored, + mirror image)": lambda c, b: encode_reference_face(
            c, b[None], SETTINGS
        ),
        "black (face_recognition)": lambda c, b: encode_faces(c, b[None]).encodings[0],
        "mirrored, no mirror image": lambda c, b: averaged(c, b, "mirrored", "one", flip=False),
        "black + mirror image": lambda c, b: averaged(c, b, "black", "one"),
        "product and black + mirror image": lambda c, b: (
            (averaged(c, b, "mirrored", "one") + averaged(c, b, "black", "one")) / 2
        ),
        "product, 7 shifts and scales": lambda c, b: averaged(c, b, "mirrored", "shifts"),
        "product, scales 0.9/1/1.1": lambda c, b: averaged(c, b, "mirrored", "scales"),
        "product, zoomed in 0.9": lambda c, b: averaged(c, b, "mirrored", "zoom0.9"),
        "product, zoomed out 1.1": lambda c, b: averaged(c, b, "mirrored", "zoom1.1"),
    }
    if jitters > 1:
        jittered = EncodeSettings(jitters=jitters, engine="dlib")
        out[f"product, --jitters {jitters}"] = lambda c, b: encode_reference_face(
            c, b[None], jittered
        )
    return out


def encode_stage(
    det: dict[str, list[dict[str, Any]]], cache: Path, chosen: dict[str, Method]
) -> dict[str, dict[str, list[np.ndarray | None]]]:
    path = cache / "encode.pkl"
    done = pickle.loads(path.read_bytes()) if path.exists() else {}
    for name, method in chosen.items():
        if name not in done:
            done[name] = {
                part: [None if e["box"] is None else method(e["crop"], e["box"]) for e in rows]
                for part, rows in det.items()
            }
            path.write_bytes(pickle.dumps(done))
            print("encoded:", name, flush=True)
    return {name: done[name] for name in chosen}


# --------------------------------------------------------------------------- measures


def measures(d: np.ndarray, same: np.ndarray, diff: np.ndarray, fars: tuple[float, ...]) -> str:
    """One row: same<0.4, same median, nearest other (median, p10, least), TAR@FAR."""
    nearest = np.where(diff, d, np.inf).min(axis=1)
    cells = [
        f"{np.mean(d[same] < 0.4):.3f}",
        f"{np.median(d[same]):.3f}",
        f"{np.median(nearest):.3f} / {np.percentile(nearest, 10):.3f} / {nearest.min():.3f}",
    ]
    for far in fars:
        threshold = float(np.quantile(d[diff], far))
        cells.append(f"{np.mean(d[same] <= threshold):.3f} ({threshold:.3f})")
    return " | ".join(cells)


def report(
    det: dict[str, list[dict[str, Any]]], encs: dict[str, dict[str, list[np.ndarray | None]]]
) -> None:
    lfw = det["lfw"]
    whole = np.array([e["whole"] for e in lfw])
    person = np.array([e["person"] for e in lfw])
    found = np.array([e["box"] is not None for e in lfw])
    same = (person[:, None] == person[None]) & ~np.eye(len(lfw), dtype=bool)
    diff = person[:, None] != person[None]
    print(f"\nLFW: {found.sum()} of {len(lfw)} crops with a face, against the whole photos")
    head = "same<0.4 | same median | nearest other: median / p10 / least"
    print(f"| method | self | {head} | TAR@FAR 0.1% | 0.5% | 1% |\n|---|" + "---|" * 8)
    d_whole = np.linalg.norm(whole[:, None] - whole[None], axis=2)
    row = measures(d_whole, same, diff, (0.001, 0.005, 0.01))
    print(f"| the whole photos themselves | 0 | {row} |")
    for name, table in encs.items():
        tight = np.array([e for e in table["lfw"] if e is not None])
        d = np.linalg.norm(tight[:, None] - whole[None], axis=2)
        own = np.median(np.linalg.norm(tight - whole[found], axis=1))
        row = measures(d, same[found], diff[found], (0.001, 0.005, 0.01))
        print(f"| {name} | {own:.3f} | {row} |")
    faceapi = det["faceapi"]
    print(f"\nface-api.js: {len(faceapi)} crops, each against the other 39 (same method)")
    print(f"| method | {head} | TAR@FAR 1% | 5% |\n|---|" + "---|" * 5)
    for name, table in encs.items():
        rows = [i for i, e in enumerate(table["faceapi"]) if e is not None]
        e = np.array([table["faceapi"][i] for i in rows])
        who = np.array([faceapi[i]["person"] for i in rows])
        d = np.linalg.norm(e[:, None] - e[None], axis=2)
        same_fa = (who[:, None] == who[None]) & ~np.eye(len(rows), dtype=bool)
        print(f"| {name} | {measures(d, same_fa, who[:, None] != who[None], (0.01, 0.05))} |")


# ------------------------------------------------------------- one video's references


def decompose(work: Path, lfw: Path) -> None:
    """What moves each tight reference of an ``identity.py`` work folder from its photo."""
    print(
        "| person | crop from | landmarks | encoding | to the whole photo | others: median, <0.4 |"
    )
    print("|---|---|---|---|---:|---|")
    for folder in sorted((work / "refs").iterdir()):
        photo = next(folder.iterdir())
        others = [
            encode_faces(im, b[None]).encodings[0]
            for f in sorted((lfw / folder.name).glob("*.jpg"))
            if f.name != photo.name
            for im in [load_rgb(f)]
            for b in [largest_face(im)]
            if b is not None
        ]
        image = load_rgb(photo)
        box = largest_face(image)
        assert box is not None
        top, right, bottom, left = (int(v) for v in box)
        t0, l0 = max(top, 0), max(left, 0)
        native = np.ascontiguousarray(
            image[t0 : min(bottom, image.shape[0]), l0 : min(right, image.shape[1])]
        )
        points = _landmarks(image, box)
        tight = load_rgb(work / "refs_tight" / folder.name / photo.name)
        factor = np.array([tight.shape[1] / native.shape[1], tight.shape[0] / native.shape[0]])
        tight_box = crop_face(tight)
        assert tight_box is not None
        rows: list[tuple[str, str, str, np.ndarray]] = [
            (
                "the whole photo",
                "the photo's",
                "face_recognition",
                chip_encodings(image, [points])[0],
            )
        ]
        for source, crop, mapped in (
            ("the photo, its own size", native, points - [l0, t0]),
            ("the 200 px reference", tight, (points - [l0, t0]) * factor),
        ):
            pad = max(crop.shape[:2])
            for fill, mode in (("mirrored", "symmetric"), ("black", "constant")):
                canvas = np.pad(crop, ((pad, pad), (pad, pad), (0, 0)), mode=mode)
                encoding = chip_encodings(canvas, [mapped + pad])[0]
                rows.append((source, "the photo's, mapped", f"{fill} beyond", encoding))
        canvas, own = views(tight, tight_box, "mirrored")[0]
        rows.append(
            ("the 200 px reference", "its own", "mirrored beyond", chip_encodings(canvas, [own])[0])
        )
        product = encode_reference_file(
            work / "refs_tight" / folder.name / photo.name, "", SETTINGS
        )
        rows.append(
            ("the 200 px reference", "its own", "the product's", np.asarray(product.encoding))
        )
        for source, marks, how, encoding in rows:
            d = np.linalg.norm(np.array(others) - encoding, axis=1)
            print(
                f"| {folder.name} | {source} | {marks} | {how} | "
                f"{np.linalg.norm(encoding - rows[0][3]):.3f} | "
                f"{np.median(d):.3f}, {np.mean(d < 0.4):.2f} |"
            )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tight-methods"))
    parser.add_argument("--jitters", type=int, default=0, help="also dlib's --jitters N")
    parser.add_argument("--video", type=Path, default=None, help="an identity.py work folder")
    args = parser.parse_args()
    if args.video:
        decompose(args.video, args.testdata / "lfw_dev")
        return 0
    args.cache.mkdir(parents=True, exist_ok=True)
    det = detect_stage(args.testdata, args.cache)
    report(det, encode_stage(det, args.cache, methods(args.jitters)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
