"""Anchors from earlier videos: one run over several videos of one cast, with and without.

Builds (once, then reuses) runs of several ground-truth videos of the same people with the
same reference photos, each video showing its own shots and looks of them
(:func:`faceripper.testing.footage.build_footage` with fixed ``targets`` and one seed a
video; :func:`faceripper.testing.sitcom.build_sitcom` with one ``draw`` and one seed an
episode), copies each run's videos into one folder, then runs ``faceripper rip
--video-dir`` on it once per option set and prints one Markdown row per video and one for
the run: crops, precision, frame recall, appearances covered, stranger crops,
wrong-person crops.

The runs (``--set``, repeatable):

- ``cast``: Abdullah Gul, Andy Roddick, Britney Spears, Hu Jintao, John Allen Muhammad,
  Julie Gerberding, Lance Armstrong (one photo each, their most typical), and Kim
  Hong-up shown without references (Hu Jintao's look-alike, the nearest pair of
  different people in ``lfw_dev``); footage seeds 13, 21, 29 (moving faces).
- ``absent``: the same without Hu Jintao in the videos, his reference still given, Kim
  Hong-up shown in every video: a crop under Hu's name is a wrong-person crop.
- ``cast21``: seed 21's cast (Jennifer Garner, never matched with confidence on seed
  21, among them), its stranger Don Henley; seeds 21, 13, 29.
- ``sitcom``: ``face-api.js``'s cast, draw 1 (the same references and strangers),
  episodes of seeds 1, 2, 3.

    python benchmarks/run_anchors.py --set cast --set absent -- "--no-dedupe" \\
        "--no-dedupe --no-run-anchors"

``--order 231`` gives the videos in that order (``--video``, one by one) instead of the
folder's (``--video-dir``): a video sees the anchors of those before it.

``--keep`` keeps each run's target (``WORK/<set>/faces<TAG>-<index>``, ``--tag``) for
comparing manifests (e.g. ``--no-run-anchors`` with an older version's run).
"""

from __future__ import annotations

import argparse
import csv
import os
import pickle
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from faceripper.images import is_image_name
from faceripper.testing import evaluate
from faceripper.testing.footage import MOVING, _references, build_footage
from faceripper.testing.sitcom import build_sitcom
from faceripper.testing.truth import Truth

CAST = [
    "Abdullah_Gul",
    "Andy_Roddick",
    "Britney_Spears",
    "Hu_Jintao",
    "John_Allen_Muhammad",
    "Julie_Gerberding",
    "Lance_Armstrong",
]
CAST21 = [
    "Condoleezza_Rice",
    "Gerhard_Schroeder",
    "Jean-David_Levitte",
    "Jennifer_Garner",
    "John_Allen_Muhammad",
    "Mahathir_Mohamad",
]


@dataclass
class Episode:
    """One video of a run: its file in the run's folder, its truth."""

    name: str
    truth: Truth
    label_to_identity: dict[str, str]


@dataclass
class RunSet:
    """A run: its folder of videos, its references, its videos' truths, the min size."""

    videos: Path
    refs: Path
    episodes: list[Episode]
    min_size: int


def _cached(path: Path, make: Callable[[], Any]) -> Any:
    """What ``make`` built, pickled at ``path`` by an earlier run if it is there."""
    if path.is_file():
        return pickle.loads(path.read_bytes())
    made = make()
    path.write_bytes(pickle.dumps(made))
    return made


def _episode(videos: Path, refs: Path, stem: str, built: Any) -> Episode:
    """A generated video (a ``Footage`` or ``Sitcom``) as an episode of the run: its video
    copied into ``videos`` as ``stem``, its references (the same for every episode) into
    ``refs``."""
    name = f"{stem}{built.video.suffix}"
    if not (videos / name).is_file():
        shutil.copy(built.video, videos / name)
    if not refs.is_dir():
        shutil.copytree(built.refs, refs)
    return Episode(name, built.truth, dict(built.label_to_identity))


def footage_set(
    testdata: Path, work: Path, targets: list[str], stranger: str, seeds: list[int], absent: str
) -> RunSet:
    """Footage videos of ``targets`` (``absent`` referenced, not shown)."""
    videos = work / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    episodes = []
    refs = work / "refs"
    shown = [t for t in targets if t != absent]
    for index, seed in enumerate(seeds):
        folder = work / f"seed{seed}"
        footage = _cached(
            folder / "footage.pickle",
            partial(
                build_footage, testdata / "lfw_dev", folder, seed=seed, targets=shown,
                stranger=stranger, **MOVING,  # type: ignore[arg-type]
            ),
        )  # fmt: skip
        episodes.append(_episode(videos, refs, f"ep{index + 1}-seed{seed}", footage))
    if absent and not (refs / absent).is_dir():
        # The absent person's reference: their most typical photo, as when shown.
        folder = testdata / "lfw_dev" / absent
        photos = {absent: sorted(p for p in folder.iterdir() if is_image_name(p))}
        _references(photos, [absent], refs, work / "tight", seeds[0], 0.5)
    for episode in episodes:
        if absent:
            episode.label_to_identity[absent] = absent
    return RunSet(videos, refs, episodes, 80)


def sitcom_set(testdata: Path, work: Path, draw: int, seeds: list[int]) -> RunSet:
    """Sitcom episodes of one draw (same references and strangers)."""
    videos = work / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    episodes = []
    refs = work / "refs"
    for index, seed in enumerate(seeds):
        folder = work / f"seed{seed}"
        sitcom = _cached(
            folder / "sitcom.pickle",
            partial(build_sitcom, testdata / "face-api.js", folder, seed=seed, draw=draw),
        )
        episodes.append(_episode(videos, refs, f"ep{index + 1}-seed{seed}", sitcom))
    return RunSet(videos, refs, episodes, 100)


def build(name: str, testdata: Path, work: Path) -> RunSet:
    folder = work / name
    if name == "cast":
        return footage_set(testdata, folder, CAST, "Kim_Hong-up", [13, 21, 29], "")
    if name == "absent":
        return footage_set(testdata, folder, CAST, "Kim_Hong-up", [13, 21, 29], "Hu_Jintao")
    if name == "cast21":
        return footage_set(testdata, folder, CAST21, "Don_Henley", [21, 13, 29], "")
    if name == "sitcom":
        return sitcom_set(testdata, folder, 1, [1, 2, 3])
    raise SystemExit(f"{name}: no such set (cast, absent, cast21, sitcom)")


def cells(rows: list[dict[str, str]], episode: Episode, min_size: int) -> list[int]:
    m = evaluate(rows, episode.truth, episode.label_to_identity, min_size)
    return [
        m.saved,
        m.correct,
        m.eligible_found,
        m.eligible_faces,
        m.appearances_found,
        m.eligible_appearances,
        m.on_distractor,
        m.wrong_identity - m.on_distractor,
    ]


def line(label: str, c: list[int]) -> str:
    saved, correct, found, eligible, covered, appearances, stranger, wrong = c
    precision = correct / saved if saved else 0.0
    return (
        f"| {label} | {saved} | {precision:.3f} | {found / max(eligible, 1):.3f} | "
        f"{covered}/{appearances} | {stranger} | {wrong} |"
    )


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-run-anchors"))
    parser.add_argument("--set", action="append", dest="sets", help="cast, absent, cast21, sitcom")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the targets")
    parser.add_argument("--tag", default="", help="the targets are WORK/<set>/faces<TAG>-<index>")
    parser.add_argument(
        "--order", help="the videos' order in the run, e.g. 231 (default: 123, the folder's)"
    )
    parser.add_argument("runs", nargs="*", default=[""], help="extra rip options per run")
    args = parser.parse_args()
    print("| set | options | video | crops | precision | frame recall | appearances covered "
          "| stranger crops | wrong-person crops |")  # fmt: skip
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name in args.sets or ["cast"]:
        run = build(name, args.testdata, args.work)
        given = ["--video-dir", str(run.videos)]
        if args.order:
            order = [run.episodes[int(i) - 1].name for i in args.order]
            given = [a for name in order for a in ("--video", str(run.videos / name))]
        for index, extra in enumerate(args.runs):
            target = args.work / name / f"faces{args.tag}-{index}"
            command = [
                sys.executable, "-m", "faceripper", "rip", "--refs", str(run.refs),
                *given, "--target-dir", str(target),
                "--min-size", str(run.min_size), "--threads", str(args.threads), "--restart",
                *shlex.split(extra),
            ]  # fmt: skip
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True)
            seconds = time.monotonic() - started
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"| {name} | `{extra}` | failed: {last} |", flush=True)
                continue
            with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            total = [0] * 8
            for episode in run.episodes:
                mine = [r for r in rows if Path(r["video"]).name == episode.name]
                c = cells(mine, episode, run.min_size)
                total = [a + b for a, b in zip(total, c, strict=True)]
                print(line(f"{name} | `{extra or '(defaults)'}` | {episode.name}", c), flush=True)
            label = f"{name} | `{extra or '(defaults)'}` | **run** ({seconds:.0f} s)"
            print(line(label, total), flush=True)
            if not args.keep:
                shutil.rmtree(target, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
