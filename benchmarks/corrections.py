"""Do corrections by hand teach ``rip``? Wrong faces saved on new video, with and without.

Two ground-truth videos of the same target people and distractors (Labeled Faces in the
Wild, :mod:`faceripper.testing`), references never shown. At a loose tolerance:

1. ``rip`` video A into ``T``; delete every wrong crop (by the truth) with the file
   system, as a user would after ``faceripper review``;
2. ``rip`` again with videos A and B into ``T``: A resumes, B is new, and the run learns
   from the deletions (:mod:`faceripper.corrections`);
3. baseline: ``rip`` video B alone into a fresh target.

Prints the crops of video B (saved, correct, wrong) with and without the corrections.

    python benchmarks/corrections.py --seed 3 --tolerance 0.55
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from faceripper.images import is_image_name
from faceripper.testing import (
    build_scenario,
    evaluate,
    load_face_sources,
    load_truth,
    make_scenes,
    render_video,
    truth_path,
)
from faceripper.writer import read_manifest

SCENE = {
    "faces_per_shot": (2, 3),
    "size_range_px": (85.0, 110.0),
    "min_size_px": 80.0,
    "distractor_probability": 0.5,
}


def second_video(lfw: Path, targets: list[str], out: Path, seed: int, shots: int, frames) -> Path:
    """Another video of the same targets (the same photos kept aside as references)."""
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    shown = {name: load_face_sources(photos[name][:-3], identity=name) for name in targets}
    candidates = {name for name, files in photos.items() if len(files) >= 5}
    distractors = [
        s
        for name, files in photos.items()
        if name not in candidates
        for s in load_face_sources(files, identity=name)
    ]
    scenes = make_scenes(
        seed, shown, distractors, n_shots=shots, frames_per_shot=tuple(frames), **SCENE
    )
    out.mkdir(parents=True, exist_ok=True)
    video = out / "b.avi"
    render_video(video, scenes)
    truth_path(video).replace(out.parent / "b.avi.truth.csv")
    return video


def rip(refs: Path, videos: list[Path], target: Path, tolerance: float, threads: int) -> str:
    args = [sys.executable, "-m", "faceripper", "rip", "--refs", str(refs)]
    for video in videos:
        args += ["--video", str(video)]
    args += ["--target-dir", str(target), "--cache", str(target.parent / "refs.npz")]
    args += ["--tolerance", str(tolerance), "--min-size", "80", "--threads", str(threads)]
    done = subprocess.run(args, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout


def main() -> int:
    default = os.environ.get("FACERIPPER_TESTDATA") or str(
        Path(__file__).resolve().parents[2] / "shared" / "testdata"
    )
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--testdata", type=Path, default=Path(default))
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--shots", type=int, default=6)
    parser.add_argument("--frames", type=int, nargs=2, default=(30, 45))
    parser.add_argument("--targets", type=int, default=6)
    parser.add_argument("--tolerance", type=float, default=0.55)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--distractors", type=float, default=0.5, help="distractor probability")
    args = parser.parse_args()
    SCENE["distractor_probability"] = args.distractors
    work = Path(tempfile.mkdtemp(prefix="faceripper-corrections-"))
    lfw = args.testdata / "lfw_dev"
    a = build_scenario(
        lfw,
        work / "a",
        seed=args.seed,
        n_targets=args.targets,
        n_shots=args.shots,
        frames_per_shot=tuple(args.frames),
        video_name="a.avi",
        **SCENE,
    )
    targets = sorted(a.label_to_identity)
    b_video = second_video(
        lfw, targets, work / "b" / "videos", args.seed + 100, args.shots, args.frames
    )
    b_truth = load_truth(work / "b" / "b.avi.truth.csv")
    target = work / "t" / "faces"
    rip(a.refs, [a.video], target, args.tolerance, args.threads)
    rows = read_manifest(target / "manifest.csv")
    first = evaluate(rows, a.truth, a.label_to_identity, min_size_px=80)
    deleted = 0
    for row in rows:
        if row["status"] != "saved":
            continue
        alone = evaluate([row], a.truth, a.label_to_identity, min_size_px=80)
        if alone.correct == 0:
            (target / row["path"]).unlink()
            deleted += 1
    out = rip(a.refs, [a.video, b_video], target, args.tolerance, args.threads)
    learnt = [line for line in out.splitlines() if line.startswith(("learnt", str(target)))]
    b_key = str(b_video.resolve())
    with_rows = [r for r in read_manifest(target / "manifest.csv") if r["video"] == b_key]
    baseline_target = work / "base" / "faces"
    rip(a.refs, [b_video], baseline_target, args.tolerance, args.threads)
    base_rows = read_manifest(baseline_target / "manifest.csv")
    wrong = first.wrong_identity + first.unmatched
    print(f"video A: {first.saved} crops, {wrong} wrong: deleted {deleted}")
    print("\n".join(learnt))
    print("| video B | crops | correct | wrong | on distractors | precision | frame recall |")
    print("|---|---|---|---|---|---|---|")
    for name, chosen in (("without corrections", base_rows), ("after the corrections", with_rows)):
        m = evaluate(chosen, b_truth, a.label_to_identity, min_size_px=80)
        print(
            f"| {name} | {m.saved} | {m.correct} | {m.wrong_identity + m.unmatched} | "
            f"{m.on_distractor} | {m.precision:.3f} | {m.recall:.3f} |"
        )
    print(f"(work folder {work})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
