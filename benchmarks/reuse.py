"""What reusing an earlier run's detections saves: ``rip --restart`` after a reference
photo was added, with and without reuse, and whether the two datasets are identical.

The scenario of docs/rip.md ("People never matched with confidence: a second photo"):
a first ``rip`` with the references ``--refs``; then one more photo of a person
(``--photo``, into ``--person``'s folder) and ``rip ... --restart``, once on a copy of
the first target with ``--no-reuse`` (every search run again, as before reuse existed)
and once on the first target itself (its saved detections reused; they are put back as
the first run left them before each round). Each round prints both times, their ratio,
their CPU times (the worker processes' included: steadier than the times on a shared
machine), the line ``rip`` prints about what it reused, and whether the two datasets hash
alike
(every file but the run-state files, as ``benchmarks/identical.py`` hashes them)::

    python benchmarks/reuse.py --video V.mp4 --refs REFS --photo P.jpg --person NAME

Without ``--video``: the 720p ground-truth video of ``benchmarks/identical.py``
(``--seconds`` long, seed 5), its references, and a photo of its first person from
``lfw_dev`` that the references do not hold. Runs with ``--threads`` workers (default
1: the machine is shared), one ``rip`` at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from identical import default_testdata, make_lfw_video, tree_lines

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def rip(
    refs: Path, video: Path, target: Path, threads: int, options: list[str]
) -> tuple[float, float, str]:
    """Run ``faceripper rip`` from this tree; its seconds, its CPU seconds (its worker
    processes' included) and its stdout."""
    command = [
        sys.executable, "-m", "faceripper", "rip", "--refs", str(refs), "--video", str(video),
        "--target-dir", str(target), "-j", str(threads), "--cache",
        str(target.with_name(target.name + ".npz")), *options,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    started, cpu = time.monotonic(), _children_cpu()
    done = subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)
    seconds, cpu = time.monotonic() - started, _children_cpu() - cpu
    if done.returncode != 0:
        raise SystemExit(f"rip failed ({done.returncode}): {shlex.join(command)}\n{done.stderr}")
    return seconds, cpu, done.stdout


def _children_cpu() -> float:
    """User and system CPU seconds of the finished child processes (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def digest(target: Path) -> str:
    """One SHA-256 over the dataset's files (run-state files left out)."""
    return hashlib.sha256("\n".join(tree_lines(target)).encode()).hexdigest()


def default_inputs(work: Path, testdata: Path, seconds: float) -> tuple[Path, Path, Path, str]:
    """The generated 720p video, its references, and a photo its first person lacks."""
    video, refs = make_lfw_video(work, testdata, seconds)
    person = sorted(p.name for p in refs.iterdir() if p.is_dir())[0]
    held = {p.name for p in (refs / person).iterdir()}
    photo = next(p for p in sorted((testdata / "lfw_dev" / person).iterdir()) if p.name not in held)
    return video, refs, photo, person


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path)
    parser.add_argument("--refs", type=Path)
    parser.add_argument("--photo", type=Path, help="the photo added before the --restart")
    parser.add_argument("--person", help="whose folder of --refs it goes into")
    parser.add_argument("--work", type=Path, default=Path("/tmp/faceripper-reuse"))
    parser.add_argument("--testdata", type=Path, default=default_testdata())
    parser.add_argument("--seconds", type=float, default=20.0, help="generated video length")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("options", nargs="*", default=[], help="extra rip options")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if args.video is None:
        video, refs, photo, person = default_inputs(work, args.testdata.resolve(), args.seconds)
    else:
        video, refs, photo, person = args.video, args.refs, args.photo, args.person
    before, after = work / "refs-before", work / "refs-after"
    for folder in (before, after):
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(refs, folder)
    shutil.copy(photo, after / person / photo.name)
    first = work / "first"
    shutil.rmtree(first, ignore_errors=True)
    seconds, _, _ = rip(before, video, first, args.threads, args.options)
    saved = work / "memo-saved"
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir()
    for memo in first.glob(".faceripper-memo-*"):
        shutil.copy(memo, saved / memo.name)
    size = sum(p.stat().st_size for p in saved.iterdir())
    print(f"video {video}; first run {seconds:.1f} s; saved detections {size} bytes")
    options = shlex.join(args.options)
    print(f"added {photo.name} to {person}; rip --restart -j {args.threads} {options}")
    print(
        "| round | without reuse s | with reuse s | ratio | CPU s without | CPU s with | "
        "ratio | identical | rip says |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|")
    ratios, cpu_ratios = [], []
    for number in range(1, args.rounds + 1):
        copy = work / f"off-{number}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(first, copy)
        off, off_cpu, _ = rip(
            after, video, copy, args.threads, ["--restart", "--no-reuse", *args.options]
        )
        for memo in first.glob(".faceripper-memo-*"):
            memo.unlink()
        for memo in saved.iterdir():
            shutil.copy(memo, first / memo.name)
        on, on_cpu, stdout = rip(after, video, first, args.threads, ["--restart", *args.options])
        said = re.search(r"reused detections of .*", stdout)
        same = digest(copy) == digest(first)
        ratios.append(on / off)
        cpu_ratios.append(on_cpu / off_cpu)
        print(
            f"| {number} | {off:.1f} | {on:.1f} | {on / off:.2f} | {off_cpu:.1f} | {on_cpu:.1f} | "
            f"{on_cpu / off_cpu:.2f} | {'yes' if same else 'NO'} | "
            f"{said.group(0) if said else '-'} |",
            flush=True,
        )
    print(f"time with reuse / without: {min(ratios):.2f} - {max(ratios):.2f}")
    print(f"CPU time with reuse / without: {min(cpu_ratios):.2f} - {max(cpu_ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
