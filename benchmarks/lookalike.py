"""Look-alike strangers made by face morphs: is a relative of a referenced person saved?

For each of ``--pairs`` people A of ``lfw_dev`` (drawn by ``--seed``), a *relative*
(:func:`faceripper.testing.morph.relative_photos`: 6 morphs of A's other photos with the
photos of another person B, each at the weight of B that puts it 0.38-0.48 from the
nearest of A's photos and within 0.5 of A's reference photo) appears without references
in two footage-like videos (:func:`faceripper.testing.footage.build_footage`, faces
moving within a shot):

``present``
    A (referenced, with confident faces) and two other referenced people; the relative
    in 4 shots, the first beside A.
``absent``
    the same without A's shots, A's reference photo still given (a father in a video
    his son is not in).

By default (``--morph-from unseen``) the relative is morphed from 4 of A's photos that
neither the video nor A's reference uses (a relative resembles A, not A's shots);
``--morph-from shown`` morphs him from the photos the video shows of A (each of his faces
then shares a pose, light and background with one of A's shots: harder than a real
relative).

Then ``faceripper rip`` per video, reference kind (plain, tight) and option set; one
Markdown row each: the relative's crops saved (must be 0), A's frame recall, and the
run's precision and frame recall, and the video-adaptive step's counts of tracks by
reason (``near``, ``confirmed``, ``adopted``, ``shared_view``, ... from the run's journal).

    python benchmarks/lookalike.py --work /tmp/lookalike --pairs 6 -- "--no-dedupe"

``--refs-per-person K`` (repeatable): each referenced person's reference plus their K - 1
most typical photos that the video does not show
(:func:`faceripper.testing.more_refs.footage_spares`; A's are those the ``present`` video
does not show, and never the photos the relative is morphed from): does a second photo,
which may give A confident faces, stop the relative?
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import itertools
import json
import os
import pickle
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from faceripper.images import is_image_name
from faceripper.testing import Truth, evaluate, load_face_sources
from faceripper.testing.footage import (
    MOVING,
    Footage,
    _encode_photo,
    build_footage,
    medoid,
    write_tight_crop,
)
from faceripper.testing.more_refs import footage_spares, write_refs
from faceripper.testing.morph import relative_photos
from faceripper.testing.scenes import FaceSource


def make_pair(
    lfw: Path,
    work: Path,
    a: str,
    b: str,
    others: list[str],
    seed: int,
    unseen: bool,
    zone: tuple[float, float] = (0.38, 0.48),
    zone_of: str = "nearest",
) -> dict[str, Footage] | None:
    """The two videos (``present``, ``absent``) of A's relative, built once in ``work``;
    ``None`` when fewer than 3 morphs of A land in the zone. ``unseen``: 4 of A's photos
    (drawn by ``seed``) are kept out of the video and A's reference (the most typical of
    the rest), and the relative is morphed from them; otherwise from A's photos the video
    shows."""
    cached = work / "footage.pickle"
    if cached.is_file():
        return pickle.loads(cached.read_bytes())  # type: ignore[no-any-return]
    people = work / "people"
    people.mkdir(parents=True, exist_ok=True)
    for name in others:
        if not (people / name).exists():
            (people / name).symlink_to(lfw / name)
    all_sources = load_face_sources(lfw / a, identity=a)
    all_encodings = np.stack([_encode_photo(s) for s in all_sources])
    held_out: list[int] = []
    if unseen:
        held_out = sorted(
            int(i) for i in np.random.default_rng(seed).permutation(len(all_sources))[:4]
        )
    (people / a).mkdir(exist_ok=True)
    keep = [i for i in range(len(all_sources)) if i not in held_out]
    for i in keep:
        link = people / a / all_sources[i].path.name
        if not link.exists():
            link.symlink_to(all_sources[i].path)
    sources = [all_sources[i] for i in keep]
    encodings = all_encodings[keep]
    typical = medoid(encodings)
    morph_from = [all_sources[i].path for i in held_out] or [
        s.path for i, s in enumerate(sources) if i != typical
    ]
    relative = f"Relative_of_{a}"
    morphs = relative_photos(
        morph_from,
        sorted(p for p in (lfw / b).iterdir() if is_image_name(p)),
        encodings[typical],
        all_encodings,
        people / relative,
        np.random.default_rng(seed),
        zone=zone,
        zone_of=zone_of,
    )
    if len(morphs) < 3:
        print(f"{relative} (B = {b}): {len(morphs)} morphs in the zone, skipped", flush=True)
        return None
    print(
        f"{relative} (B = {b}): alphas {[m.alpha for m in morphs]}, "
        f"distances to A's reference {[round(m.distance, 3) for m in morphs]}, "
        f"to A's nearest photo {[round(m.nearest, 3) for m in morphs]}",
        flush=True,
    )
    options = dict(
        shots_per_person=4, stranger_shots=4, invisible_cuts=1, stranger=relative, **MOVING
    )
    present = build_footage(
        people,
        work / "present",
        seed=seed,
        targets=[a, *others],
        **options,  # type: ignore[arg-type]
    )
    absent = build_footage(
        people,
        work / "absent",
        seed=seed,
        targets=others,
        **options,  # type: ignore[arg-type]
    )
    reference = sources[typical]
    (absent.refs / a).mkdir(parents=True, exist_ok=True)
    shutil.copy(reference.path, absent.refs / a / reference.path.name)
    write_tight_crop(reference, absent.refs_tight / a / reference.path.name)
    absent = dataclasses.replace(absent, label_to_identity={**absent.label_to_identity, a: a})
    footage = {"present": present, "absent": absent}
    cached.write_bytes(pickle.dumps(footage))
    return footage


def more_references(
    work: Path, a: str, others: list[str], seed: int
) -> dict[str, dict[str, list[FaceSource]]]:
    """Per video (``present``, ``absent``): each referenced person's photos that the video
    does not show (:func:`footage_spares`); A's are those ``present`` does not show."""
    views = int(MOVING["views_per_shot"])
    present = footage_spares(work / "people", [a, *others], seed=seed, views_per_shot=views)
    absent = footage_spares(work / "people", others, seed=seed, views_per_shot=views)
    for name, extra in sorted(present.items()):
        print(f"{name}: photos not shown {[s.path.name for s in extra]}", flush=True)
    return {"present": present, "absent": {**absent, a: present[a]}}


def rip(footage: Footage, refs: Path, target: Path, threads: int, min_size: int, extra: str) -> int:
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(refs), "--video",
        str(footage.video), "--target-dir", str(target), "--min-size", str(min_size),
        "--threads", str(threads), "--restart", *shlex.split(extra),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print((done.stderr.strip().splitlines() or ["?"])[-1], file=sys.stderr)
    return done.returncode


def score(footage: Footage, target: Path, a: str, min_size: int) -> str:
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    m = evaluate(rows, footage.truth, footage.label_to_identity, min_size)
    only_a = Truth(
        tuple(dataclasses.replace(r, is_target=r.identity == a) for r in footage.truth.rows)
    )
    a_rows = [r for r in rows if r["label"] == a]
    recall_a = (
        evaluate(a_rows, only_a, {a: a}, min_size).recall
        if a in {r.identity for r in footage.truth.rows}
        else float("nan")
    )
    counts: dict[str, int] = {}
    for line in (target / ".faceripper-journal.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "adapted" in record:
            counts = record["counts"]
    rules = ", ".join(f"{k[6:]} {v}" for k, v in sorted(counts.items()) if k.startswith("adapt_"))
    return (
        f"{m.on_distractor} | {recall_a:.3f} | {m.saved} | {m.precision:.3f} | {m.recall:.3f} | "
        f"{m.wrong_identity} | {rules}"
    )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-lookalike"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=6, help="people A with a relative")
    parser.add_argument("--first", type=int, default=0, help="skip the first pairs drawn")
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--refs", choices=("plain", "tight", "both"), default="both")
    parser.add_argument("--videos", default="present,absent")
    parser.add_argument("--zone", default="0.38,0.48", help="the relative's distances, LOW,HIGH")
    parser.add_argument(
        "--zone-of",
        choices=("nearest", "reference"),
        default="nearest",
        help="--zone is the distance to A's nearest photo, or to A's reference photo",
    )
    parser.add_argument(
        "--morph-from",
        choices=("shown", "unseen"),
        default="unseen",
        help="morph the relative from A's photos the video shows, or from 4 it never shows",
    )
    parser.add_argument(
        "--refs-per-person", type=int, action="append", help="reference photos per person"
    )
    parser.add_argument("runs", nargs="*", default=["--no-dedupe"], help="rip options per run")
    args = parser.parse_args()
    lfw = args.testdata / "lfw_dev"
    names = sorted(
        p.name for p in lfw.iterdir() if p.is_dir() and sum(map(is_image_name, p.iterdir())) >= 8
    )
    rng = np.random.default_rng(args.seed)
    order = [names[int(i)] for i in rng.permutation(len(names))]
    print(
        "| A | video | refs | options | relative's crops | A's frame recall | crops | "
        "precision | frame recall | wrong | the video step's tracks |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|")
    made = 0
    for k in range(args.first, args.first + len(order)):
        if made == args.pairs:
            break
        a, b = order[k % len(order)], order[(k + len(order) // 2) % len(order)]
        rest = [n for n in order if n not in (a, b)]
        others = sorted(rest[int(i)] for i in np.random.default_rng(args.seed + k).permutation(
            len(rest))[:2])  # fmt: skip
        work = args.work / f"{k:02d}-{a}"
        footage = make_pair(
            lfw,
            work,
            a,
            b,
            others,
            args.seed * 100 + k,
            args.morph_from == "unseen",
            (float(args.zone.split(",")[0]), float(args.zone.split(",")[1])),
            args.zone_of,
        )
        if footage is None:
            continue
        made += 1
        ks = args.refs_per_person or [1]
        spares = more_references(work, a, others, args.seed * 100 + k) if max(ks) > 1 else {}
        kinds = ["plain", "tight"] if args.refs == "both" else [args.refs]
        for video, kind, n_refs, (index, extra) in itertools.product(
            args.videos.split(","), kinds, ks, enumerate(args.runs)
        ):
            f = footage[video]
            suffix = f"-k{n_refs}" if n_refs > 1 else ""
            target = work / f"faces-{video}-{kind}-{index}{suffix}"
            refs = f.refs if kind == "plain" else f.refs_tight
            if n_refs > 1:
                refs = write_refs(
                    refs, spares[video], n_refs, work / f"refs-{video}-{kind}{suffix}",
                    kind == "tight",
                )  # fmt: skip
            label = kind + (f" x{n_refs}" if n_refs > 1 else "")
            if rip(f, refs, target, args.threads, args.min_size, extra) != 0:
                print(f"| {a} | {video} | {label} | `{extra}` | failed |", flush=True)
                continue
            print(
                f"| {a} | {video} | {label} | `{extra or '(defaults)'}` | "
                f"{score(f, target, a, args.min_size)} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
