"""The user's path for people never matched with confidence, measured on ground truth.

For each video (a footage-like one of ``benchmarks/identity.py --moving`` or a sitcom one
of ``benchmarks/sitcom.py``), runs ``faceripper rip`` (``--no-dedupe`` and any extra
options), then reads what rip said (its ``note:`` lines) and showed (the candidates of
``TARGET-review/unsure``, from the journal, in the order of their sheets) and prints:

- the referenced people in the video and the ones it missed (frame recall under 0.5),
  with and without a notice; notices for people not missed;
- the candidates shown, how many of them are really that person (the truth's face at
  their box), and the rank of the first one that is;
- the user's confirmation simulated: the first candidate that truly is the person is
  copied into a copy of their reference folder, and rip rerun with ``--restart``:
  precision, frame recall, appearances covered, stranger crops and wrong-person crops
  before and after, and each rescued person's frame recall before and after.

    python benchmarks/unsure.py --footage 21 --footage 29 --sitcom 1:1 --sitcom 2:4
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceripper.testing import Truth, evaluate
from faceripper.unsure import PER_SHEET, Candidate, journal_candidates


@dataclass
class Video:
    name: str
    video: Path
    truth: Truth
    label_to_identity: Mapping[str, str]
    refs: Path
    strangers: tuple[str, ...]
    work: Path


def footage_video(testdata: Path, work: Path, seed: int, tight: bool) -> Video:
    from faceripper.testing.footage import MOVING, build_footage

    folder = work / f"seed{seed}-moving"
    cached = folder / "footage.pickle"
    if cached.is_file():
        footage = pickle.loads(cached.read_bytes())
    else:
        footage = build_footage(testdata / "lfw_dev", folder, seed=seed, **MOVING)  # type: ignore[arg-type]
        cached.write_bytes(pickle.dumps(footage))
    refs = footage.refs_tight if tight else footage.refs
    name = f"footage seed {seed} {'tight' if tight else 'plain'}"
    return Video(
        name, footage.video, footage.truth, footage.label_to_identity, refs,
        (footage.stranger,), folder,
    )  # fmt: skip


def built_footage(folder: Path) -> Video:
    """A footage video built before (``FOLDER/footage.pickle``), with ``FOLDER/refs`` (for
    the absent-person video: Hu Jintao's folder copied in there)."""
    footage = pickle.loads((folder / "footage.pickle").read_bytes())
    video = footage.video if footage.video.is_file() else folder / "videos" / footage.video.name
    return Video(
        f"footage {folder.parent.name}/{folder.name}", video, footage.truth,
        footage.label_to_identity, folder / "refs", (footage.stranger,), folder,
    )  # fmt: skip


def sitcom_video(testdata: Path, work: Path, seed: int, draw: int) -> Video:
    sys.path.insert(0, str(Path(__file__).parent))
    from sitcom import load_or_build  # type: ignore[import-not-found]

    sitcom, folder = load_or_build(testdata, work, seed, draw)
    return Video(
        f"sitcom seed {seed} draw {draw}", sitcom.video, sitcom.truth,
        sitcom.label_to_identity, sitcom.refs, tuple(sitcom.strangers), folder,
    )  # fmt: skip


def rip(video: Video, refs: Path, target: Path, args: argparse.Namespace) -> str:
    """Run rip; its stderr."""
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(refs), "--video",
        str(video.video), "--target-dir", str(target), "--min-size", str(args.min_size),
        "--threads", str(args.threads), "--restart", "--no-dedupe", *args.extra,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{video.name}: rip failed: {done.stderr.strip()[-500:]}")
    return done.stderr


def manifest(target: Path) -> list[dict[str, str]]:
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def per_person(video: Video, rows: Sequence[dict[str, str]], min_size: int) -> dict[str, float]:
    """Frame recall of each referenced person shown in the video."""
    out = {}
    for label, identity in video.label_to_identity.items():
        mine = Truth(tuple(r for r in video.truth.rows if r.identity == identity))
        if not mine.rows:
            continue
        metrics = evaluate(
            [r for r in rows if r["label"] == label], mine, {label: identity}, min_size
        )
        if metrics.eligible_faces:
            out[label] = metrics.recall
    return out


def candidates(target: Path) -> dict[str, list[Candidate]]:
    """Each person's candidates, in the order of their sheet (the first PER_SHEET)."""
    found: dict[str, list[Candidate]] = {}
    for candidate in journal_candidates(target):
        found.setdefault(candidate.person, []).append(candidate)
    return {
        p: sorted(c, key=lambda c: (c.distance, c.video, c.frame, c.face))[:PER_SHEET]
        for p, c in found.items()
    }


def scores(video: Video, rows: Sequence[dict[str, str]], min_size: int) -> str:
    m = evaluate(rows, video.truth, video.label_to_identity, min_size)
    return (
        f"{m.saved}, {m.precision:.3f}, {m.recall:.3f}, {m.appearances_found}/"
        f"{m.eligible_appearances}, {m.on_distractor}, {m.wrong_identity - m.on_distractor}, "
        f"{m.unmatched}"
    )


def measure(video: Video, args: argparse.Namespace) -> dict[str, Any]:
    root = args.work / "runs" / video.name.replace(" ", "-")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    target = root / "faces"
    stderr = rip(video, video.refs, target, args)
    rows = manifest(target)
    recall = per_person(video, rows, args.min_size)
    noticed = {
        line[len("note: ") :].split(":", 1)[0]
        for line in stderr.splitlines()
        if line.startswith("note: ")
    }
    missed = sorted(p for p, r in recall.items() if r < 0.5)
    shown = candidates(target)
    refs = root / "refs"
    shutil.copytree(video.refs, refs)
    ranks: dict[str, int] = {}
    true_count = total = 0
    for person, listed in shown.items():
        identity = video.label_to_identity.get(person, person)  # absent: in no frame
        truths = [video.truth.identity_at(c.frame, c.box_trbl) == identity for c in listed]
        total += len(listed)
        true_count += sum(truths)
        if any(truths):
            first = listed[truths.index(True)]
            ranks[person] = truths.index(True) + 1
            shutil.copy(root / "faces-review" / "unsure" / first.file, refs / person)
    after_rows = rows
    if ranks:
        rip(video, refs, root / "faces-after", args)
        after_rows = manifest(root / "faces-after")
    after = per_person(video, after_rows, args.min_size)
    return {
        "video": video.name,
        "before": scores(video, rows, args.min_size),
        "after": scores(video, after_rows, args.min_size) if ranks else "(nothing added)",
        "present": len(recall),
        "missed": ", ".join(f"{p} {recall[p]:.2f}" for p in missed) or "-",
        "missed_noticed": f"{len([p for p in missed if p in noticed])}/{len(missed)}",
        "other_notices": ", ".join(sorted(noticed - set(missed))) or "-",
        "shown": f"{true_count}/{total}",
        "ranks": ", ".join(f"{p} {r}" for p, r in sorted(ranks.items())) or "-",
        "rescued": ", ".join(
            f"{p} {recall.get(p, 0):.2f} -> {after.get(p, 0):.2f}" for p in sorted(ranks)
        )
        or "-",
    }


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-unsure"))
    parser.add_argument("--footage", type=int, action="append", default=[], help="seed (moving)")
    parser.add_argument("--tight", action="store_true", help="footage: tight-crop references")
    parser.add_argument("--sitcom", action="append", default=[], help="SEED:DRAW")
    parser.add_argument(
        "--footage-dir", type=Path, action="append", default=[], help="a footage video built before"
    )
    parser.add_argument("--min-size", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("extra", nargs="*", default=[], help="extra rip options")
    args = parser.parse_args()
    videos = [footage_video(args.testdata, args.work, s, args.tight) for s in args.footage]
    videos += [built_footage(folder) for folder in args.footage_dir]
    for text in args.sitcom:
        seed, draw = (int(v) for v in text.split(":"))
        videos.append(sitcom_video(args.testdata, args.work, seed, draw))
    print(
        "| video | before: crops, precision, frame recall, appearances, strangers, wrong, "
        "on no face | "
        "people shown | missed (recall < 0.5) | missed with a notice | other notices | "
        "candidates that are the person | first true candidate's rank | after adding it | "
        "rescued: recall before -> after |\n|---|---|---:|---|---:|---|---:|---|---|---|"
    )
    for video in videos:
        r = measure(video, args)
        print(
            f"| {r['video']} | {r['before']} | {r['present']} | {r['missed']} | "
            f"{r['missed_noticed']} | {r['other_notices']} | {r['shown']} | {r['ranks']} | "
            f"{r['after']} | {r['rescued']} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
