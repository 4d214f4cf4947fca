"""Tight face crops as reference photos: how far their encoding lies from the whole photo's.

For every test photo with one clear face (LFW dev people with 10 photos each, and the
larger photos of face_recognition/, openface/, dlib/), the face box HOG finds is cut out
at several tightnesses (the box, shrunk 10%, enlarged 15%) and sizes (100-300 px, square,
saved as JPEG 95 as :func:`faceripper.testing.footage.write_tight_crop` does), its face
searched as ``encode`` does (:func:`faceripper.refphoto.find_reference_face`), and
encoded by several methods. Each method's encodings ``E_tight`` are compared with the
whole photos' ``E_full``:

* ``self``: ``d(E_tight_i, E_full_i)``, median and p90;
* ``same``: over pairs of one person's photos ``i != j``, ``d(E_tight_i, E_full_j) -
  d(E_full_i, E_full_j)`` (median; > 0: the crop is farther from the person's other
  photos than the photo it was cut from), and the share of those pairs within 0.4 / 0.5
  (what recall depends on), beside the whole photos' share;
* ``diff``: the share of pairs of different people within 0.4 / 0.5 (what precision
  depends on), beside the whole photos' share.

The tight crops of face-api.js (no whole photo) give the "no face" rate and the same /
different separation. Detections and encodings are cached in ``--cache``.

    python benchmarks/tight_encoding.py [--cache /tmp/tightref]
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceripper.encoder import encode_faces, face_chips
from faceripper.geometry import box_areas
from faceripper.images import load_rgb
from faceripper.models import get_models
from faceripper.refcache import EncodeSettings
from faceripper.refphoto import detect_reference_faces, find_reference_face

SETTINGS = EncodeSettings()
#: (tightness name, factor on the box side), (size px)
VARIANTS = [("box", 1.0, s) for s in (100, 150, 200, 300)] + [
    ("box-10%", 0.9, 200),
    ("box+15%", 1.15, 200),
]


def photos(data: Path) -> list[tuple[Path, str]]:
    """(path, person) of the photos with a person's identity and other photos of them."""
    out = []
    for folder in sorted((data / "lfw_dev").iterdir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) >= 10:
            out += [(f, folder.name) for f in files]
    with (data / "identities.csv").open() as fh:
        for row in csv.DictReader(fh):
            name, who = row["file"], row["identity"]
            big = name.startswith(("face_recognition/", "openface/", "dlib/"))
            if big and "|" not in who and name.endswith((".jpg", ".png", ".jpeg")):
                out.append((data / name, "big:" + who))
    return out


def tight_crop(image: np.ndarray, box: np.ndarray, factor: float, side: int) -> np.ndarray:
    """``write_tight_crop``'s crop: the box scaled by ``factor`` about its centre, to ``side``."""
    top, right, bottom, left = (float(v) for v in box)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = (right - left) * factor / 2
    h, w = image.shape[:2]
    t, b = max(round(cy - half), 0), min(round(cy + half), h)
    lft, r = max(round(cx - half), 0), min(round(cx + half), w)
    crop = cv2.resize(
        np.ascontiguousarray(image[t:b, lft:r]), (side, side), interpolation=cv2.INTER_LINEAR
    )
    _, jpeg = cv2.imencode(".jpg", crop[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    return np.ascontiguousarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1])


def detect_stage(data: Path, cache: Path) -> dict[str, Any]:
    """Whole photos' boxes, encodings, landmarks; every crop and how its face was found."""
    path = cache / "detect.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    result: dict[str, Any] = {"photos": [], "crops": {}}
    for file, person in photos(data):
        image = load_rgb(file)
        boxes = detect_reference_faces(image, SETTINGS)
        if len(boxes) != 1 and not person.startswith("big:"):
            pass
        if len(boxes) == 0:
            continue
        box = boxes[int(np.argmax(box_areas(boxes)))]
        faces = encode_faces(image, box[None])
        idx = len(result["photos"])
        result["photos"].append(
            {
                "path": str(file),
                "person": person,
                "box": box,
                "full": faces.encodings[0],
                "landmarks": faces.landmarks_xy[0],
            }
        )
        for name, factor, side in VARIANTS:
            crop = tight_crop(image, box, factor, side)
            searched, found, pad, scale, found_by = find_reference_face(crop, SETTINGS)
            entry: dict[str, Any] = {"crop": crop, "found_by": found_by, "box": None}
            if len(found):
                b = found[int(np.argmax(box_areas(found)))]
                entry["box"] = b - pad  # scale is 1: crops are under FALLBACK_SIDE_PX
                entry["pad"] = pad
            result["crops"][(idx, name, side)] = entry
        print(file.name, flush=True)
    for folder in sorted((data / "face-api.js").iterdir()):
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*")):
            crop = load_rgb(file)
            searched, found, pad, scale, found_by = find_reference_face(crop, SETTINGS)
            entry = {
                "crop": crop,
                "found_by": found_by,
                "box": None,
                "person": folder.name,
                "scale": scale,
            }
            if len(found):
                b = found[int(np.argmax(box_areas(found)))]
                entry["box"] = b - pad
                entry["pad"] = pad
                entry["searched_shape"] = searched.shape
            result["crops"][("faceapi", str(file))] = entry
    path.write_bytes(pickle.dumps(result))
    return result


# ---------------------------------------------------------------- border fills


def fill_edge_blur(image: np.ndarray, pad: int) -> np.ndarray:
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    out = cv2.GaussianBlur(padded, (0, 0), pad / 4)
    out[pad:-pad, pad:-pad] = image
    return np.ascontiguousarray(out)


def fill_reflect(image: np.ndarray, pad: int) -> np.ndarray:
    return np.ascontiguousarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric"))


def fill_mirror_blur(image: np.ndarray, pad: int) -> np.ndarray:
    out = cv2.GaussianBlur(fill_reflect(image, pad), (0, 0), pad / 4)
    out[pad:-pad, pad:-pad] = image
    return np.ascontiguousarray(out)


def fill_mean(image: np.ndarray, pad: int) -> np.ndarray:
    colour = image.reshape(-1, 3).mean(axis=0).round().astype(np.uint8)
    out = np.empty((image.shape[0] + 2 * pad, image.shape[1] + 2 * pad, 3), np.uint8)
    out[:] = colour
    out[pad:-pad, pad:-pad] = image
    return out


def fill_black(image: np.ndarray, pad: int) -> np.ndarray:
    return np.ascontiguousarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0))))


def fill_edge(image: np.ndarray, pad: int) -> np.ndarray:
    return np.ascontiguousarray(np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))


FILLS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "edge+blur": fill_edge_blur,
    "reflect": fill_reflect,
    "mirror+blur": fill_mirror_blur,
    "mean": fill_mean,
    "black": fill_black,
    "edge": fill_edge,
}


def encode_padded(
    crop: np.ndarray,
    box: np.ndarray,
    fill: str,
    fraction: float,
    mirror: bool = False,
    jitters: int = 1,
) -> np.ndarray:
    pad = max(1, round(max(crop.shape[:2]) * fraction))
    canvas = FILLS[fill](crop, pad)
    b = box + pad
    enc = _encode(canvas, b, jitters)
    if mirror:
        flipped = np.ascontiguousarray(canvas[:, ::-1])
        w = canvas.shape[1]
        top, right, bottom, left = b
        enc = (
            enc + _encode(flipped, np.array([top, w - 1 - left, bottom, w - 1 - right]), jitters)
        ) / 2
    return enc


def _encode(image: np.ndarray, box: np.ndarray, jitters: int) -> np.ndarray:
    return encode_faces(
        image, np.asarray(box)[None], jitters=jitters, engine="dlib" if jitters > 1 else "auto"
    ).encodings[0]


def encode_oracle(
    crop: np.ndarray, box: np.ndarray, photo: dict[str, Any], name: str, fill: str, fraction: float
) -> np.ndarray:
    """The chip made with the landmarks the whole photo gave, mapped into the padded crop."""
    import dlib

    factor = dict((n, f) for n, f, _ in VARIANTS)[name]
    top, right, bottom, left = (float(v) for v in photo["box"])
    cy, cx = (top + bottom) / 2, (left + right) / 2
    half = (right - left) * factor / 2
    t, lft = max(round(cy - half), 0), max(round(cx - half), 0)
    # the crop resized (b - t) px to side: assume square and not clipped (LFW: centred)
    side = crop.shape[0]
    span = 2 * half
    pad = max(1, round(side * fraction))
    canvas = FILLS[fill](crop, pad)
    pts = (photo["landmarks"] - [lft, t]) * side / span + pad
    rect = dlib.rectangle(0, 0, 1, 1)
    shape = dlib.full_object_detection(rect, [dlib.point(round(x), round(y)) for x, y in pts])
    chips = face_chips(canvas, [shape])
    return get_models().face_network("auto", "cpu").descriptors(chips)[0]


# ---------------------------------------------------------------- measures


def summarise(
    full: np.ndarray, tight: np.ndarray, person: np.ndarray, rows: np.ndarray
) -> dict[str, float]:
    """Measures of ``tight[rows]`` (NaN: no face) against the whole photos ``full``."""
    d_ff = np.linalg.norm(full[:, None] - full[None], axis=2)
    out: dict[str, float] = {}
    ok = rows[~np.isnan(tight[rows, 0])]
    out["n"] = len(rows)
    out["found"] = len(ok)
    selfd = np.linalg.norm(tight[ok] - full[ok], axis=1)
    out["self_med"], out["self_p90"] = float(np.median(selfd)), float(np.percentile(selfd, 90))
    d_tf = np.linalg.norm(tight[ok][:, None] - full[None], axis=2)
    same = person[ok][:, None] == person[None]
    same &= ok[:, None] != np.arange(len(full))[None]
    diff = person[ok][:, None] != person[None]
    dff = d_ff[ok]
    out["same_delta_med"] = float(np.median((d_tf - dff)[same]))
    for t in (0.4, 0.5, 0.6):
        out[f"same<{t}"] = float(np.mean(d_tf[same] < t))
        out[f"same<{t}_full"] = float(np.mean(dff[same] < t))
        out[f"diff<{t}"] = float(np.mean(d_tf[diff] < t))
        out[f"diff<{t}_full"] = float(np.mean(dff[diff] < t))
    out["diff_min_med"] = float(np.median(np.where(diff, d_tf, np.inf).min(axis=1)))
    out["diff_min_med_full"] = float(np.median(np.where(diff, dff, np.inf).min(axis=1)))
    return out


def current(crop: np.ndarray, box: np.ndarray, found_by: str) -> np.ndarray:
    """What ``encode`` does now: the face encoded in the copy its search found it in."""
    from faceripper.detector import pad_for_detection
    from faceripper.refcache import FALLBACK_STEPS

    step = {s.name: s for s in FALLBACK_STEPS}.get(found_by)
    searched, pad = pad_for_detection(crop, step.pad) if step and step.pad else (crop, 0)
    return _encode(searched, box + pad, 1)


def methods() -> dict[str, Callable[..., np.ndarray]]:
    out: dict[str, Callable[..., np.ndarray]] = {"current": lambda c, b, f, p, n: current(c, b, f)}
    out["as is (no pad)"] = lambda c, b, f, p, n: _encode(c, b, 1)
    for fill in FILLS:
        out[f"{fill} 50%"] = lambda c, b, f, p, n, fill=fill: encode_padded(c, b, fill, 0.5)
    for fill in ("reflect", "edge+blur"):
        out[f"{fill} 50% +mirror"] = lambda c, b, f, p, n, fill=fill: encode_padded(
            c, b, fill, 0.5, mirror=True
        )
    out["reflect 50% oracle landmarks"] = lambda c, b, f, p, n: encode_oracle(
        c, b, p, n, "reflect", 0.5
    )
    out["as is +mirror"] = lambda c, b, f, p, n: encode_padded(c, b, "black", 0.5, mirror=True)
    for frac in (0.25, 1.0):
        out[f"reflect {frac:.0%}"] = lambda c, b, f, p, n, frac=frac: encode_padded(
            c, b, "reflect", frac
        )
    return out


def encode_stage(
    det: dict[str, Any], cache: Path, only: set[str] | None = None
) -> dict[str, dict[Any, np.ndarray]]:
    path = cache / "encode.pkl"
    done: dict[str, dict[Any, np.ndarray]] = (
        pickle.loads(path.read_bytes()) if path.exists() else {}
    )
    for name, fn in methods().items():
        if name in done or (only and name not in only):
            continue
        encs: dict[Any, np.ndarray] = {}
        for key, entry in det["crops"].items():
            if entry["box"] is None:
                continue
            if key[0] == "faceapi":
                if "oracle" in name:
                    continue
                encs[key] = fn(entry["crop"], entry["box"], entry["found_by"], None, None)
            else:
                encs[key] = fn(
                    entry["crop"], entry["box"], entry["found_by"], det["photos"][key[0]], key[1]
                )
        done[name] = encs
        path.write_bytes(pickle.dumps(done))
        print("encoded", name, flush=True)
    return done


def jitter_stage(det: dict[str, Any], cache: Path, jitters: int) -> dict[Any, np.ndarray]:
    """The product's method (mirrored 50%, averaged with the mirror image) with dlib's
    jitters, the (box, 200) and face-api.js crops only."""
    path = cache / f"jitter{jitters}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    encs = {}
    for key, entry in det["crops"].items():
        if entry["box"] is not None and (key[0] == "faceapi" or key[1:] == ("box", 200)):
            encs[key] = encode_padded(
                entry["crop"], entry["box"], "reflect", 0.5, mirror=True, jitters=jitters
            )
    path.write_bytes(pickle.dumps(encs))
    return encs


def report(det: dict[str, Any], encs: dict[str, dict[Any, np.ndarray]]) -> None:
    photos_ = det["photos"]
    full = np.array([p["full"] for p in photos_])
    person = np.array([p["person"] for p in photos_])
    lfw = np.array([not p.startswith("big:") for p in person])
    found = defaultdict(int)
    for key, e in det["crops"].items():
        if key[0] != "faceapi":
            found[(key[1], key[2], e["found_by"] if e["box"] is not None else "NO FACE")] += 1
    print("how the crops' faces were found (variant, size, step: count):")
    for k, v in sorted(found.items()):
        print("  ", k, v)
    cols = [
        "n",
        "found",
        "self_med",
        "self_p90",
        "same_delta_med",
        "same<0.4",
        "same<0.4_full",
        "same<0.5",
        "same<0.5_full",
        "diff<0.6",
        "diff<0.6_full",
        "diff_min_med",
    ]
    for name, _factor, side in VARIANTS:
        for group in ("fallback", "hog", "all"):
            for subset in ("lfw", "big"):
                rows = []
                for i in range(len(photos_)):
                    e = det["crops"][(i, name, side)]
                    if (subset == "lfw") != lfw[i]:
                        continue
                    fb = e["found_by"] != ""
                    if group == "all" or (group == "fallback") == fb:
                        rows.append(i)
                rows_a = np.array(rows, dtype=int)
                if len(rows_a) == 0:
                    continue
                print(f"\n== {name} {side}px, {subset}, found by {group}: {len(rows_a)} photos")
                print(f"{'method':34s}" + "".join(f"{c:>14s}" for c in cols))
                for method, table in encs.items():
                    tight = np.full_like(full, np.nan)
                    for i in rows_a:
                        if (i, name, side) in table:
                            tight[i] = table[(i, name, side)]
                    if np.isnan(tight[rows_a, 0]).all():
                        continue
                    m = summarise(full, tight, person, rows_a)
                    print(f"{method:34s}" + "".join(f"{m[c]:14.3f}" for c in cols))
    # face-api.js: crops only
    keys = [k for k in det["crops"] if k[0] == "faceapi"]
    fa_person = np.array([det["crops"][k]["person"] for k in keys])
    steps = defaultdict(int)
    for k in keys:
        e = det["crops"][k]
        steps[e["found_by"] if e["box"] is not None else "NO FACE"] += 1
    print("\n== face-api.js crops:", len(keys), dict(steps))
    print(f"{'method':34s}  same<0.4  same<0.5  diff<0.4  diff<0.5  same_med  diff_med")
    for method, table in encs.items():
        rows = [i for i, k in enumerate(keys) if k in table]
        if not rows:
            continue
        e = np.array([table[keys[i]] for i in rows])
        p = fa_person[rows]
        d = np.linalg.norm(e[:, None] - e[None], axis=2)
        same = (p[:, None] == p[None]) & ~np.eye(len(rows), dtype=bool)
        diff = p[:, None] != p[None]
        print(
            f"{method:34s}"
            + "".join(
                f"{v:10.3f}"
                for v in (
                    np.mean(d[same] < 0.4),
                    np.mean(d[same] < 0.5),
                    np.mean(d[diff] < 0.4),
                    np.mean(d[diff] < 0.5),
                    np.median(d[same]),
                    np.median(d[diff]),
                )
            )
        )


def compact(
    det: dict[str, Any],
    encs: dict[str, dict[Any, np.ndarray]],
    subset: str = "lfw",
    group: str = "all",
) -> None:
    """One row per method: per crop variant, self median and same<0.4 (tight, whole)."""
    photos_ = det["photos"]
    full = np.array([p["full"] for p in photos_])
    person = np.array([p["person"] for p in photos_])
    keep = np.array([(not p.startswith("big:")) == (subset == "lfw") for p in person])
    head = "".join(f" | {n} {s}" for n, _, s in VARIANTS)
    print(f"\n{subset}, found by {group}: self median / p90 / same-person pairs < 0.4 / < 0.5")
    print(f"| method{head} |")
    for method, table in encs.items():
        cells = []
        for name, _, side in VARIANTS:
            rows = [
                i
                for i in np.flatnonzero(keep)
                if (i, name, side) in table
                and (
                    group == "all"
                    or (det["crops"][(i, name, side)]["found_by"] != "") == (group == "fallback")
                )
            ]
            if not rows:
                cells.append("-")
                continue
            tight = np.full_like(full, np.nan)
            for i in rows:
                tight[i] = table[(i, name, side)]
            m = summarise(full, tight, person, np.array(rows))
            keys = ("self_med", "self_p90", "same<0.4", "same<0.5")
            cells.append(" / ".join(f"{m[k]:.3f}" for k in keys))
        print(f"| {method} | " + " | ".join(cells) + " |")
    rows = np.flatnonzero(keep)
    m = summarise(full, full.copy(), person, rows)
    print(
        f"| whole photos | same<0.4 {m['same<0.4_full']:.3f}, same<0.5 {m['same<0.5_full']:.3f} |"
    )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tightref"))
    parser.add_argument("--jitters", type=int, default=0)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    det = detect_stage(args.testdata, args.cache)
    print("detections done", len(det["photos"]), flush=True)
    encs = encode_stage(det, args.cache)
    if args.jitters:
        encs[f"reflect 50% +mirror, jitters {args.jitters}"] = jitter_stage(
            det, args.cache, args.jitters
        )
    report(det, encs)
    for subset in ("lfw", "big"):
        for group in ("all", "fallback"):
            compact(det, encs, subset, group)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
