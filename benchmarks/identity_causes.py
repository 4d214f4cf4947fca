"""Why rip misses faces of referenced people, track by track, on the footage-like ground truth.

``benchmarks/identity_breakdown.py`` looks at each face on its own (its encoding's distance
to the reference); this one follows rip's own decisions. It runs rip's worker over the
whole video of ``benchmarks/identity.py`` as one segment (``--no-dedupe``, ``--min-size``),
keeps every track it hands to the video-adaptive step (its faces, encodings, distances and
decision from the references), replays that step (:func:`faceripper.wide.decide`,
as :func:`faceripper.commit` calls it) and puts every eligible face (a target, not blurred
on purpose, at least ``--min-size`` in the truth) down to the first cause that explains a
miss:

``not tracked``
    no track holds a face there (not detected, not followed, or its detected box is
    under ``--min-size`` although the truth's is not);
``blurry``
    under rip's blur threshold (``--blur``), although the truth draws it in focus (a
    hard shot: dark and noisy, soft, or heavily compressed);
``refs: <reason>``
    the references left its track undecided and it is not held back for the video
    (``unknown``/``far``: median more than tolerance + 0.1 from every person;
    ``disagree``, ``same frame``, ``negative``);
``borderline, <where>: <reason>`` / ``unconfirmed, <where>: <reason>``
    held back for the video and not lent its person; ``<where>``: its person (the one
    the references decided, or the nearest) has no anchor in the video, or the nearest
    anchor is within 0.4, 0.4-0.5 or over 0.5 away (:func:`track_distances`);
    ``<reason>`` the step's (``no anchors``: the video has none;
    ``no cluster``: its cluster holds no anchor, or anchors of two people; ``far``: its
    person's anchors are more than 0.4 away; ``unlike the video``; ``beside its person``;
    ``ambiguous``; ``shares a frame``);
``WRONG``
    its track was given to another person.

After the causes, one row per appearance with no face saved (a missed appearance): its
first cause, size, sharpness and nearest distances (:func:`missed_appearances`); then
one row per appearance of a stranger, how near it comes to a reference (:func:`strangers`).
``--cache FILE`` keeps the worker's tracks for replays.

The replay equals a run (the same crops, on the videos measured); the frame recall it
prints is rip's with ``--no-dedupe`` (``--trust-references``: as rip's option). The
step is replayed on the worker's own held-back tracks and anchors (their
:attr:`~faceripper.heldback.PendingTrack.best` included). ``--tracks`` lists the
held-back tracks with their template distance (``benchmarks/templates.py``).

    python benchmarks/identity_causes.py --work /tmp/faceripper-identity --moving --seed 21 \
        --refs tight

The sitcom ground truth of ``benchmarks/sitcom.py`` (its references are tight crops)::

    python benchmarks/identity_causes.py --min-size 100 \
        --footage /tmp/faceripper-sitcom/seed1-draw1/sitcom.pickle
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from faceripper import adaptive, heldback, wide, worker
from faceripper.clustering import track_distances
from faceripper.config import config_from_refs
from faceripper.geometry import as_boxes, iou
from faceripper.pipeline import references_for_run
from faceripper.references import encode_references
from faceripper.testing.footage import Footage
from faceripper.testing.sitcom import Sitcom
from faceripper.video import scan_video
from faceripper.worker import References
from faceripper.worker import decisions as worker_decisions


def start_worker(refs: Path, settings: worker.RipSettings) -> tuple[list[str], References]:
    """rip's worker in this process with ``settings`` and the references of the folder
    ``refs`` (encoded as rip encodes them): their people's names and the references."""
    config, _ = config_from_refs(refs)
    with tempfile.TemporaryDirectory() as tmp:
        encoded = encode_references(config, Path(tmp) / "cache.npz").references
    references = references_for_run(config, encoded)
    worker.init_worker(settings, references)
    return [p.name for p in config.people], references


def collect_tracks(
    footage: Footage | Sitcom, refs: Path, min_size: int, tolerance: float
) -> dict[str, Any]:
    """Every track rip's worker decides on the whole video, with its faces' truth."""
    settings = worker.RipSettings(min_size_px=min_size, dedupe=False, tolerance=tolerance)
    names, references = start_worker(refs, settings)
    truth_by_frame = defaultdict(list)
    for row in footage.truth:
        truth_by_frame[row.frame].append(row)

    def truth_of(observation: Any) -> tuple[str, int]:
        rows = truth_by_frame.get(observation.frame, [])
        if not rows:
            return ("?", -1)
        overlap = iou(as_boxes([observation.box_trbl]), as_boxes([r.box for r in rows]))[0]
        best = int(np.argmax(overlap))
        return (rows[best].identity, rows[best].appearance) if overlap[best] > 0.4 else ("?", -1)

    tracks: list[dict[str, Any]] = []
    original = worker_decisions.collect_adaptive

    def collect(parts, decisions, settings, result, *rest):  # type: ignore[no-untyped-def]
        for track, decision in zip(parts, decisions, strict=True):
            encoded = [
                o for o in track.observations if o.distances is not None and o.encoding is not None
            ]
            faces = [
                (o.frame, *truth_of(o), o.jpeg is not None, bool(o.blurry), o.sharpness)
                for o in track.observations
            ]
            tracks.append(
                {
                    "name": track.name,
                    "first": track.observations[0].frame,
                    "last": track.observations[-1].frame,
                    "person": decision.person,
                    "reason": decision.reason,
                    "encodings": np.stack([o.encoding for o in encoded]) if encoded else None,
                    "distances": np.stack([o.distances for o in encoded]) if encoded else None,
                    "faces": faces,
                    "encoded_appearances": [truth_of(o)[1] for o in encoded],
                }
            )
        return original(parts, decisions, settings, result, *rest)

    worker_decisions.collect_adaptive = collect  # instrumentation: the same call, observed
    try:
        scan = scan_video(footage.video)
        result = worker.process_segment(
            worker.SegmentTask(0, "v", footage.video, scan, 0, scan.frame_count)
        )
    finally:
        worker_decisions.collect_adaptive = original
    return {
        "names": names,
        "tracks": tracks,
        "pending": [replace(p, hits=[], own_distances=[]) for p in result.pending],
        "anchors": list(result.anchors),
        "photos": [references.photos_of(i) for i in range(references.n_people)],
    }


def replay(data: dict[str, Any], tolerance: float, trust_references: bool) -> None:
    """The video-adaptive step on the worker's own held-back tracks and anchors, as rip
    runs it (sets each held-back track's ``adoption``, ``summary`` and ``median``); the
    tracks kept for the notes only are left out, as :func:`faceripper.commit` leaves them
    (a track past the window has one beside it under the same name)."""
    pending: list[heldback.PendingTrack] = [t for t in data["pending"] if not t.notes_only]
    decided = wide.decide(
        pending,
        heldback.merge_anchors([data["anchors"]]),
        len(data["names"]),
        tolerance,
        trust_references=trust_references,
    )
    by_name = {t["name"]: t for t in data["tracks"]}
    for track, adoption in zip(pending, decided, strict=True):
        t = by_name[track.name]
        t["adoption"], t["summary"], t["median"] = adoption, track.encodings, track.ref_distance
        t["best"] = track.best


def why_not_lent(data: dict[str, Any], track: dict[str, Any]) -> str:
    """How far a held-back track is from its person's anchors (the person it was decided
    for, or the nearest by the references)."""
    person = track["person"]
    if person < 0:
        person = int(np.argmin(track["median"][: len(data["names"])]))
    mine = [a.encodings for a in data["anchors"] if a.person == person]
    if not mine:
        return "no anchor of the person"
    distances = track_distances([track["summary"], *mine])[0, 1:]
    nearest = float(distances.min())
    if nearest <= adaptive.VIDEO_TOLERANCE:
        return "anchor within 0.4"
    return "anchor 0.4-0.5 away" if nearest <= 0.5 else "anchor over 0.5 away"


def causes(
    data: dict[str, Any], footage: Footage | Sitcom, min_size: int
) -> tuple[Counter[str], dict]:
    """First cause per eligible face, in all and per appearance."""
    names = data["names"]
    where: dict[tuple[int, int], list[tuple[dict[str, Any], tuple]]] = defaultdict(list)
    for t in data["tracks"]:
        for face in t["faces"]:
            where[(face[0], face[2])].append((t, face))
    total: Counter[str] = Counter()
    per_appearance: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for row in footage.truth:
        if not row.is_target or row.blur_sigma_px != 0 or row.size_px < min_size:
            continue
        found = where.get((row.frame, row.appearance))
        if not found:
            cause = "not tracked"
        else:
            t, face = found[0]
            adoption = t.get("adoption")
            person = adoption.person if adoption is not None else t["person"]
            if face[4]:
                cause = "blurry"
            elif not face[3]:
                cause = "not cropped"
            elif person >= 0:
                cause = "saved" if names[person] == row.identity else "WRONG"
            elif adoption is not None:
                kind = "unconfirmed" if t["person"] >= 0 else "borderline"
                cause = f"{kind}, {why_not_lent(data, t)}: {adoption.reason}"
            else:
                cause = f"refs: {t['reason']}"
        total[cause] += 1
        per_appearance[(row.appearance, row.identity)][cause] += 1
    return total, per_appearance


def reference_distances(data: dict[str, Any]) -> dict[int, float]:
    """Per appearance: the median distance of its encoded faces to its person's reference
    (appearances of people with references only)."""
    names = data["names"]
    found: dict[int, list[float]] = defaultdict(list)
    for t in data["tracks"]:
        if t["distances"] is None:
            continue
        people = {f[2]: f[1] for f in t["faces"]}
        for row, appearance in zip(t["distances"], t["encoded_appearances"], strict=True):
            if people.get(appearance) in names:
                found[appearance].append(float(row[names.index(people[appearance])]))
    return {a: float(np.median(v)) for a, v in found.items()}


def _fmt(values: list[float], how: Any) -> str:
    return f"{how(values):.3f}" if values else "-"


def missed_appearances(
    data: dict[str, Any],
    footage: Footage | Sitcom,
    min_size: int,
    per_appearance: dict[tuple[int, str], Counter[str]],
) -> None:
    """One row per appearance with no face saved: its first cause (that of most of its
    eligible faces), the median size (the truth's) and sharpness (rip's, of its tracked
    faces) of its eligible faces, and the distances of its encoded faces: median and
    nearest to its person's reference, nearest to a face of its person's anchors in the
    video (none: the person is never matched with confidence there), and nearest to
    another person's reference."""
    names = data["names"]
    sizes: dict[int, list[int]] = defaultdict(list)
    for row in footage.truth:
        if row.is_target and row.blur_sigma_px == 0 and row.size_px >= min_size:
            sizes[row.appearance].append(row.size_px)
    sharp: dict[int, list[float]] = defaultdict(list)
    encoded: dict[int, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    for t in data["tracks"]:
        for face in t["faces"]:
            sharp[face[2]].append(face[5])
        if t["encodings"] is not None:
            for enc, dist, a in zip(
                t["encodings"], t["distances"], t["encoded_appearances"], strict=True
            ):
                encoded[a].append((enc, dist))
    print(
        "\n| appearance | person | faces | first cause | size | sharpness | median to ref | "
        "nearest to ref | nearest to an anchor face | nearest other ref |"
        "\n|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"
    )
    for (appearance, identity), counts in sorted(per_appearance.items()):
        if counts["saved"] or identity not in names:
            continue
        person = names.index(identity)
        rows = encoded.get(appearance, [])
        own = [float(d[person]) for _, d in rows]
        other = [float(np.delete(d[: len(names)], person).min()) for _, d in rows]
        anchors = [a.encodings for a in data["anchors"] if a.person == person]
        to_anchor = "none"
        if anchors and rows:
            faces = np.stack([e for e, _ in rows])
            mine = np.concatenate(anchors)
            to_anchor = f"{np.linalg.norm(faces[:, None] - mine[None], axis=2).min():.3f}"
        sharpness = sharp.get(appearance)
        print(
            f"| {appearance} | {identity} | {sum(counts.values())} | "
            f"{counts.most_common(1)[0][0]} | {int(np.median(sizes[appearance]))} | "
            f"{f'{np.median(sharpness):.0f}' if sharpness else '-'} | {_fmt(own, np.median)} | "
            f"{_fmt(own, np.min)} | {to_anchor} | {_fmt(other, np.min)} |"
        )


def strangers(data: dict[str, Any], footage: Footage | Sitcom) -> None:
    """One row per appearance of a person without references (a stranger): the person
    whose reference its encoded faces are nearest (median), the median and nearest face
    distance to that reference, the nearest to a face of that person's anchors, and how
    many of its faces were given a person (its tracks' decisions after the replay)."""
    names = data["names"]
    shown = {r.appearance: r.identity for r in footage.truth if not r.is_target}
    rows: dict[int, list[np.ndarray]] = defaultdict(list)
    faces: dict[int, list[np.ndarray]] = defaultdict(list)
    given: Counter[int] = Counter()
    for t in data["tracks"]:
        adoption = t.get("adoption")
        person = adoption.person if adoption is not None else t["person"]
        given.update(f[2] for f in t["faces"] if f[2] in shown and person >= 0 and f[3])
        if t["encodings"] is None:
            continue
        for enc, dist, a in zip(
            t["encodings"], t["distances"], t["encoded_appearances"], strict=True
        ):
            if a in shown:
                rows[a].append(dist[: len(names)])
                faces[a].append(enc)
    print(
        "\n| stranger's appearance | shown | nearest reference | median to it | nearest face | "
        "nearest to an anchor face | faces given a person |\n|---:|---|---|---:|---:|---:|---:|"
    )
    for appearance in sorted(rows):
        distances = np.stack(rows[appearance])
        person = int(np.argmin(np.median(distances, axis=0)))
        anchors = [a.encodings for a in data["anchors"] if a.person == person]
        to_anchor = "none"
        if anchors:
            mine = np.concatenate(anchors)
            near = np.linalg.norm(np.stack(faces[appearance])[:, None] - mine[None], axis=2)
            to_anchor = f"{near.min():.3f}"
        print(
            f"| {appearance} | {shown[appearance]} | {names[person]} | "
            f"{np.median(distances[:, person]):.3f} | {distances[:, person].min():.3f} | "
            f"{to_anchor} | {given[appearance]} |"
        )


def held_back_tracks(data: dict[str, Any]) -> None:
    """One row per held-back track: who it shows (the truth, most of its faces), the
    person it is held back for, the step's decision, its median and nearest face to that
    person's references, and its template's distance to them (photo and second view)."""
    from templates import template_distance

    names = data["names"]
    by_name = {t["name"]: t for t in data["tracks"]}
    print("\n| track | frames | shows | held back for | decision | median | nearest | template |")
    print("|---|---|---|---|---|---:|---:|---:|")
    for track in (t for t in data["pending"] if not t.notes_only):
        t = by_name[track.name]
        shows = Counter(f[1] for f in t["faces"] if f[1] != "?").most_common(1)
        person = track.decided
        if person < 0:
            person = int(np.argmin(track.ref_distance[: len(names)]))
        photos, views = data["photos"][person]
        nearest = float(np.linalg.norm(t["encodings"][:, None] - photos[None], axis=2).min())
        adoption = t["adoption"]
        print(
            f"| {track.name} | {track.first_frame}-{track.last_frame} | "
            f"{shows[0][0] if shows else '?'} | {names[person]} | "
            f"{names[adoption.person] if adoption.person >= 0 else '-'} ({adoption.reason}) | "
            f"{track.ref_distance[person]:.3f} | {nearest:.3f} | "
            f"{template_distance(t['encodings'], photos, views):.3f} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-identity"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--moving", action="store_true", help="the --moving video")
    parser.add_argument("--refs", choices=("plain", "tight"), default="plain")
    parser.add_argument(
        "--refs-dir", type=Path, help="this reference folder instead (the absent-person video's)"
    )
    parser.add_argument(
        "--footage", type=Path, help="a pickled ground truth instead (benchmarks/sitcom.py's)"
    )
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--tolerance", type=float, default=0.4)
    parser.add_argument("--trust-references", action="store_true", help="as rip's option")
    parser.add_argument(
        "--tracks",
        action="store_true",
        help="list the held-back tracks with their template distance (benchmarks/templates.py)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        help="keep the worker's tracks in this file and replay from it when it exists",
    )
    args = parser.parse_args()
    work = args.work / (f"seed{args.seed}" + ("-moving" if args.moving else ""))
    if args.footage is not None:
        work = args.footage.parent
    footage: Footage | Sitcom = pickle.loads((args.footage or work / "footage.pickle").read_bytes())
    refs = footage.refs_tight if args.refs == "tight" else footage.refs
    if args.refs_dir is not None:
        refs = args.refs_dir
    if args.cache is not None and args.cache.is_file():
        data = pickle.loads(args.cache.read_bytes())
    else:
        data = collect_tracks(footage, refs, args.min_size, args.tolerance)
        if args.cache is not None:
            args.cache.write_bytes(pickle.dumps(data))
    replay(data, args.tolerance, args.trust_references)
    total, per_appearance = causes(data, footage, args.min_size)
    eligible = sum(total.values())
    print(
        f"{work} {args.refs}: {eligible} eligible faces, frame recall "
        f"{total['saved'] / eligible:.3f}\n"
    )
    print("| first cause | faces |\n|---|---:|")
    for cause, n in total.most_common():
        print(f"| {cause} | {n} |")
    print(
        "\n| appearance | person | faces | saved | median distance to the reference | "
        "missed because |\n|---:|---|---:|---:|---:|---|"
    )
    median = reference_distances(data)
    for (appearance, identity), counts in sorted(per_appearance.items()):
        missed = ", ".join(f"{c} {n}" for c, n in counts.most_common() if c != "saved")
        if missed:
            print(
                f"| {appearance} | {identity} | {sum(counts.values())} | {counts['saved']} | "
                f"{median.get(appearance, float('nan')):.2f} | {missed} |"
            )
    missed_appearances(data, footage, args.min_size, per_appearance)
    strangers(data, footage)
    if args.tracks:
        held_back_tracks(data)
    values = list(median.values())
    spread: list[float] = list(np.percentile(values, [0, 50, 100])) if values else []
    print(
        "\nmedian distance of an appearance's faces to its reference, over "
        f"{len(median)} appearances: min, median, max {', '.join(f'{v:.2f}' for v in spread)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
