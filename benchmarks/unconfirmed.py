"""Unconfirmed tracks without an anchor: which statistics tell a person from a look-alike.

A track the references decide for person P without a single face matched with
confidence (:func:`faceripper.heldback.confident_faces`) is *unconfirmed*; in a video
with no anchor of P (no track of P matched with confidence) nothing but the references
can decide it. This study simulates such tracks with ``lfw_dev`` (24 people x 10 photos,
40 more with one photo each) and measures, for same-person and different-person tracks,
the statistics rip has (median and minimum distance to P's reference, the fraction of
faces within the tolerance, the track's spread, the margin to the nearest other
reference of the run, and ``view``: the near rule's distance to the reference photo
and its second view, :func:`faceripper.adaptive.view_distance`), then how many of each
a rule keeps (``rip``: :func:`faceripper.adaptive.decide_video` as rip runs it).

- A reference: one plain photo of P (as users give them), encoded as rip does.
- A track: ``k`` (1-4) other photos of one person, each seen twice as a video shows it
  (downscaled, JPEG, softened, noise: two draws), the way a shot with head turns shows
  several views. Same person: P's other photos; different person: one of the other 23
  people or the 40 one-photo people (``k = 1``), none of them referenced in the run.
- The run's other references: 7 other people (one photo each), or none (one reference).
- The track is decided for P as :func:`faceripper.tracks.decide` does (a face votes for
  its nearest reference within the tolerance and 0.04 clear of the next; most votes;
  median within tolerance + 0.1), and unconfirmed when no face is confident.

    python benchmarks/unconfirmed.py [--tolerance 0.4] [--cache /tmp/lfw_dev_encodings.npz]
        [--refs plain|tight|black]

``--refs tight`` makes every reference a tight crop of its photo instead (the face box
alone, 200 px square, JPEG 95, as :func:`faceripper.testing.footage.write_tight_crop`
makes the identity benchmark's), encoded as rip does (searched with the fallbacks, the
chip's overhang mirrored and averaged with the mirror image); ``--refs black`` the same
crops encoded as face_recognition does (``--tight-crops black``). The tracks are the same.

Encodings are cached (about a minute to make on 2 cores, as much again for the tight
crops); the simulation takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.adaptive import (
    VIEW_DISTANCE,
    decide_video,
    view_distance,
)
from faceripper.heldback import (
    CONFIDENT_DISTANCE,
    CONFIDENT_MARGIN,
    Anchor,
    PendingTrack,
)
from faceripper.matching import DEFAULT_AMBIGUITY_GAP
from faceripper.tracks import MEDIAN_SLACK

VARIANTS = 2


def encode_lfw(folder: Path, cache: Path) -> dict[str, npt.NDArray[np.float64]]:
    """Per photo: its plain encoding and :data:`VARIANTS` encodings of it as a video shows it.

    Returns arrays ``person`` (n,) str, ``plain`` (n, 128), ``video`` (n, VARIANTS, 128).
    """
    if cache.is_file():
        with np.load(cache) as data:
            return {k: data[k] for k in data.files}
    import cv2

    from faceripper.encoder import encode_faces
    from faceripper.geometry import as_boxes
    from faceripper.images import load_rgb
    from faceripper.testing import load_face_sources

    rng = np.random.default_rng(0)
    people, plain, video = [], [], []
    for source in load_face_sources(folder):
        image = load_rgb(source.path)
        box = as_boxes([source.box])
        plain.append(encode_faces(image, box).encodings[0])
        views = []
        for _ in range(VARIANTS):
            scale = rng.uniform(0.6, 0.85)
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 45])
            decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if ok else None
            small = small if decoded is None else decoded
            soft = cv2.GaussianBlur(small.astype(np.float32), (0, 0), rng.uniform(0.3, 0.9))
            noisy = soft + rng.normal(0, 3.0, soft.shape)
            frame = np.ascontiguousarray(np.clip(noisy, 0, 255).astype(np.uint8))
            scaled = as_boxes([tuple(round(v * scale) for v in source.box)])
            views.append(encode_faces(frame, scaled).encodings[0])
        people.append(source.identity)
        video.append(np.stack(views))
    out = {"person": np.array(people), "plain": np.stack(plain), "video": np.stack(video)}
    np.savez(cache, person=out["person"], plain=out["plain"], video=out["video"])
    return out


def encode_references_as(
    folder: Path, cache: Path, kind: str
) -> dict[str, npt.NDArray[np.float64]]:
    """Every photo (the order of :func:`encode_lfw`) as a reference: ``enc`` ``(n, 128)``
    its encoding as rip makes it and ``view`` ``(n, 128)`` its second view
    (:func:`faceripper.refphoto.encode_reference_view`); NaN rows where no face is found.

    ``kind``: ``plain`` (the photo), ``tight`` (its face box alone, 200 px, JPEG 95, as
    :func:`faceripper.testing.footage.write_tight_crop` makes the identity benchmark's
    tight references; encoded as rip does) or ``black`` (the same crop encoded as
    face_recognition does, ``--tight-crops black``).
    """
    if cache.is_file():
        with np.load(cache) as data:
            return {k: data[k] for k in data.files}
    import tempfile

    from faceripper.images import load_rgb
    from faceripper.refcache import EncodeSettings
    from faceripper.refphoto import (
        encode_reference_face,
        encode_reference_view,
        find_reference_face,
    )
    from faceripper.testing import load_face_sources
    from faceripper.testing.footage import write_tight_crop

    settings = EncodeSettings(tight_crops="black" if kind == "black" else "mirrored")
    enc, view = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, source in enumerate(load_face_sources(folder)):
            path = source.path
            if kind != "plain":
                path = Path(tmp) / f"{i}.jpg"
                write_tight_crop(source, path)
            image = load_rgb(path)
            searched, boxes, pad, _, _ = find_reference_face(image, settings)
            if len(boxes) == 0:
                enc.append(np.full(128, np.nan))
                view.append(np.full(128, np.nan))
                continue
            box = boxes[:1] - pad
            unpadded = np.ascontiguousarray(
                searched[pad : searched.shape[0] - pad, pad : searched.shape[1] - pad]
            )
            enc.append(encode_reference_face(unpadded, box, settings))
            view.append(encode_reference_view(unpadded, box, settings))
    out = {"enc": np.stack(enc), "view": np.stack(view)}
    np.savez(cache, **out)
    return out


def classify(
    faces: npt.NDArray[np.float64],
    refs: npt.NDArray[np.float64],
    tolerance: float,
    view: npt.NDArray[np.float64] | None = None,
) -> tuple[str, dict[str, float]]:
    """How the references decide a track of ``faces`` ``(n, 128)`` with ``refs`` ``(r, 128)``
    (reference 0 is P, ``view`` ``(128,)`` its second view): ``"other"`` (not decided for
    P), ``"confirmed"`` (decided for P with a confident face: an anchor) or
    ``"unconfirmed"``; and the track's statistics (``view``: the distance to P's view of
    the nearest face within the tolerance of P, as
    :func:`faceripper.adaptive.view_distance`)."""
    d = np.linalg.norm(faces[:, None] - refs[None], axis=2)  # (n, r)
    order = np.sort(d, axis=1)
    second = order[:, 1] if d.shape[1] > 1 else np.full(len(d), np.inf)
    nearest = np.argmin(d, axis=1)
    votes = (order[:, 0] <= tolerance) & (second > order[:, 0] + DEFAULT_AMBIGUITY_GAP)
    counts = np.bincount(nearest[votes], minlength=d.shape[1])
    own = d[:, 0]
    median = float(np.median(own))
    rest = np.delete(d, 0, axis=1)
    others = rest.min(axis=1) if rest.shape[1] else np.full(len(own), np.inf)
    pair = np.linalg.norm(faces[:, None] - faces[None], axis=2)
    stats = {
        "median": median,
        "min": float(own.min()),
        "within": float((own <= tolerance).mean()),
        "spread": float(np.median(pair[np.triu_indices(len(faces), 1)])) if len(faces) > 1 else 0,
        "margin": (float(np.median(rest, axis=0).min()) if rest.shape[1] else np.inf) - median,
        "view": np.inf,
    }
    if view is not None:
        stats["view"] = view_distance(faces, refs[:1], view[None], tolerance)
    if counts.sum() == 0 or int(np.argmax(counts)) != 0:
        return "other", stats
    if counts.sum() - counts[0] > 0.1 * counts[0] or median > tolerance + MEDIAN_SLACK:
        return "other", stats
    if ((own <= CONFIDENT_DISTANCE) & (others >= own + CONFIDENT_MARGIN)).any():
        return "confirmed", stats
    return "unconfirmed", stats


#: Tracks (shots) of one person in a simulated video.
SHOTS = 4


def video_step(
    tracks: list[npt.NDArray[np.float64]],
    decided: list[tuple[str, dict[str, float]]],
    refs: npt.NDArray[np.float64],
    tolerance: float,
) -> list[bool]:
    """rip's video step (:func:`faceripper.adaptive.decide_video`) on one simulated
    video, shot ``i`` at frames ``100 i`` to ``100 i + 50``: whether each unconfirmed
    track keeps P."""
    anchors, pending = [], []
    for i, (faces, (kind, stats)) in enumerate(zip(tracks, decided, strict=True)):
        span = (100 * i, 100 * i + 50)
        if kind == "confirmed":
            anchors.append(Anchor(0, *span, faces))
        elif kind == "unconfirmed":
            distance = np.median(np.linalg.norm(faces[:, None] - refs[None], axis=2), axis=0)
            track = PendingTrack(f"{span[0]}.0", *span, distance, faces, decided=0)
            track.best = stats["view"]
            pending.append(track)
    return [
        d.person == 0
        for d in decide_video(pending, anchors, len(refs), tolerance, trust_references=False)
    ]


def simulate(
    data: dict[str, npt.NDArray[np.float64]],
    tolerance: float,
    n_other_refs: int,
    seed: int = 1,
    references: dict[str, npt.NDArray[np.float64]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Simulated videos: per person P and reference photo, 6 videos showing P in
    :data:`SHOTS` shots of 1-4 views each; per stranger, one video showing only them
    (P absent) in :data:`SHOTS` shots. Returns the unconfirmed tracks' statistics (same
    person, different person; ``anchor``: the video has an anchor of P) and counts.
    ``references``: the photos as references, :func:`encode_references_as` (default: the
    plain encodings, each its own view; a NaN row, a photo whose reference gave no face,
    is never a reference)."""
    rng = np.random.default_rng(seed)
    person, video = data["person"], data["video"]
    plain = data["plain"] if references is None else references["enc"]
    views = plain if references is None else references["view"]
    usable = ~np.isnan(plain).any(axis=1)
    names = sorted(set(person.tolist()))
    rows = {n: np.flatnonzero(person == n) for n in names}
    main = [n for n in names if len(rows[n]) >= 5]
    same: list[dict[str, Any]] = []
    different: list[dict[str, Any]] = []
    counts = {"same tracks": 0, "same confirmed": 0, "different tracks": 0}
    counts["different confirmed"] = 0

    def shots(who: str, exclude: int) -> list[npt.NDArray[np.float64]]:
        pool = [r for r in rows[who] if r != exclude]  # the video shows the photos
        out = []
        for _ in range(SHOTS):
            k = int(rng.integers(1, 5))
            pick = rng.choice(pool, min(k, len(pool)), replace=False)
            out.append(video[pick].reshape(-1, 128))
        return out

    def unconfirmed(
        tracks: list[npt.NDArray[np.float64]],
        refs: npt.NDArray[np.float64],
        view: npt.NDArray[np.float64],
        kind_of_pair: str,
    ) -> list[dict[str, Any]]:
        """One video of ``tracks``: its unconfirmed tracks' statistics, whether the video
        has an anchor, and what rip's video step does with each; ``counts`` updated."""
        decided = [classify(t, refs, tolerance, view) for t in tracks]
        anchor = any(kind == "confirmed" for kind, _ in decided)
        kept = iter(video_step(tracks, decided, refs, tolerance))
        counts[f"{kind_of_pair} tracks"] += len(decided)
        counts[f"{kind_of_pair} confirmed"] += sum(kind == "confirmed" for kind, _ in decided)
        return [
            {**s, "anchor": anchor, "rip": next(kept)}
            for kind, s in decided
            if kind == "unconfirmed"
        ]

    for target in main:
        others = [n for n in main if n != target]
        for ref in rows[target]:
            if not usable[ref]:
                continue
            for _ in range(6):
                run = list(rng.choice(others, n_other_refs, replace=False))
                refs = np.stack(
                    [plain[ref]] + [plain[_usable_row(rng, rows[n], usable)] for n in run]
                )
                same += unconfirmed(shots(target, int(ref)), refs, views[ref], "same")
            run = list(rng.choice(others, n_other_refs, replace=False))
            picks = [_usable_row(rng, rows[n], usable) for n in run]
            refs = np.stack([plain[ref]] + [plain[r] for r in picks])
            for stranger in names:
                if stranger == target or stranger in run:
                    continue
                tracks = shots(stranger, -1)
                found = unconfirmed(tracks, refs, views[ref], "different")
                different += [{**f, "who": f"{stranger}~{target}"} for f in found]
    return same, different, counts


def _usable_row(
    rng: np.random.Generator, rows: npt.NDArray[np.int64], usable: npt.NDArray[np.bool_]
) -> int:
    """One of a person's photos that gave a reference encoding, drawn at random."""
    return int(rng.choice(rows[usable[rows]]))


def describe(label: str, values: list[dict[str, float]]) -> None:
    """Quantiles of each statistic."""
    print(f"{label}: {len(values)} unconfirmed tracks")
    for key in ("median", "min", "within", "spread", "margin"):
        v = np.array([s[key] for s in values])
        v = v[np.isfinite(v)]
        if v.size:
            q = np.quantile(v, [0, 0.1, 0.5, 0.9, 1])
            print(f"  {key:7s} " + " ".join(f"{x:.3f}" for x in q))


def report(
    data: dict[str, npt.NDArray[np.float64]],
    tolerance: float,
    n_other: int,
    references: dict[str, npt.NDArray[np.float64]] | None = None,
) -> None:
    """Print one simulation: statistics, then what each rule keeps without an anchor."""
    same_all, different_all, counts = simulate(data, tolerance, n_other, references=references)
    print(f"\n## tolerance {tolerance:.2f}, {n_other + 1} reference(s) in the run: {counts}")
    same = [s for s in same_all if not s["anchor"]]
    different = [s for s in different_all if not s["anchor"]]
    print(f"unconfirmed, same person: {len(same_all)}, {len(same)} in a video without anchor")
    print(f"unconfirmed, different: {len(different_all)}, {len(different)} without anchor")
    describe("same person, no anchor", same)
    describe("different person, no anchor", different)
    for s in sorted(different, key=lambda s: s["min"])[:5]:
        print(f"  {s['who']} median {s['median']:.3f} min {s['min']:.3f}")
    print("| rule | same kept | different kept |")
    print("|---|---:|---:|")
    rules: dict[str, Any] = {
        "keep all (before)": lambda s: True,
        "refuse all": lambda s: False,
        f"near (view <= {VIEW_DISTANCE}) only": lambda s: s["view"] <= VIEW_DISTANCE,
        "rip: near, others confirmed by a near track": lambda s: s["rip"],
    }
    for m in (0.38, 0.39, 0.40):
        rules[f"median <= {m}"] = lambda s, m=m: s["median"] <= m
    for m in (0.36, 0.37, 0.38, 0.39, 0.40):
        rules[f"min <= {m}"] = lambda s, m=m: s["min"] <= m
    for m in (0.42, 0.44, 0.45, 0.46, 0.48):
        rules[f"view <= {m}"] = lambda s, m=m: s["view"] <= m
    for f in (0.5, 0.8):
        rules[f"within >= {f}"] = lambda s, f=f: s["within"] >= f
    for name, rule in rules.items():
        a = sum(map(rule, same))
        b = sum(map(rule, different))
        print(f"| {name} | {a}/{len(same)} | {b}/{len(different)} |")


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/lfw_dev_encodings.npz"),
        help="the tracks' encodings; the references' are kept beside it",
    )
    parser.add_argument("--tolerance", type=float, default=0.4)
    parser.add_argument(
        "--refs",
        choices=("plain", "tight", "black"),
        default="plain",
        help="references: the photos, or their tight crops encoded as rip does (tight) "
        "or as face_recognition does (black)",
    )
    args = parser.parse_args()
    data = encode_lfw(args.testdata / "lfw_dev", args.cache)
    cache = args.cache.with_name(f"{args.cache.stem}-refs-{args.refs}.npz")
    references = encode_references_as(args.testdata / "lfw_dev", cache, args.refs)
    missing = int(np.isnan(references["enc"]).any(axis=1).sum())
    print(f"{args.refs} references: {missing} of {len(references['enc'])} gave no face")
    for tolerance in (args.tolerance, args.tolerance + 0.05):
        for n_other in (7, 0):
            report(data, tolerance, n_other, references)
    return 0


if __name__ == "__main__":
    sys.exit(main())
