"""Anchors from earlier videos in ``rip`` (:mod:`faceripper.runanchors`), on real videos.

One run over two videos, one reference photo each of Lance Armstrong (``_0008``) and Hu
Jintao (``_0005``). The first video shows Lance's face ``_0005`` (0.31 from his photo:
matched with confidence, an anchor) turning to ``_0002``, and Hu (``_0008``, an anchor).
The second shows Lance's ``_0001`` turning to ``_0002`` and ``_0007`` (0.46-0.48 from
the photo: never matched with confidence, and no anchor of his in that video, so the
video alone refuses him), and Kim Hong-up, Hu's look-alike without a reference (0.42
from Hu's photo, 0.42 and more from every face of Hu's). The second video's Lance shows
the first video's view ``_0002`` again: the run's gallery saves him; Kim, never.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from faceripper.testing import (
    PlacedFace,
    Shot,
    evaluate,
    load_face_sources,
    load_truth,
    render_video,
    truth_path,
)
from faceripper.words import counted
from faceripper.writer import JOURNAL_NAME, Dataset, read_manifest

from conftest import clip_rip_args, local_cluster, run_cli, tree_digest

pytestmark = pytest.mark.slow

LANCE, HU, KIM = "Lance_Armstrong", "Hu_Jintao", "Kim_Hong-up"
PEOPLE = {"lance": LANCE, "hu": HU}


def render_run(testdata: Path, base: Path, confident_first: bool = True) -> dict[str, Path]:
    """The two videos (``ep1.avi``, ``ep2.avi``: Lance confident, then borderline; the
    other way round without ``confident_first``), the references, the truths."""
    lfw = testdata / "lfw_dev"
    for label, person, photo in (("lance", LANCE, "0008"), ("hu", HU, "0005")):
        (base / "refs" / label).mkdir(parents=True)
        shutil.copy(lfw / person / f"{person}_{photo}.jpg", base / "refs" / label)

    def face(person: str, photo: str):
        return load_face_sources([lfw / person / f"{person}_{photo}.jpg"], identity=person)[0]

    def lance(first: str, views: tuple[str, ...], changes: tuple[float, ...], frames: int):
        placed = PlacedFace(
            face(LANCE, first),
            (320, 180),
            (324, 178),
            100,
            100,
            views=tuple(face(LANCE, v) for v in views),
            view_changes=changes,
            fade=0.1,
        )
        return Shot(frames, (placed,), (90, 110, 140), 1)

    kim = load_face_sources(lfw / KIM, identity=KIM)[0]
    hu = PlacedFace(face(HU, "0008"), (330, 180), (326, 184), 100, 100)
    stranger = PlacedFace(kim, (310, 180), (316, 176), 100, 100, is_target=False)
    confident = [lance("0005", ("0002",), (0.7,), 24), Shot(12, (hu,), (60, 140, 90), 3)]
    borderline = [
        lance("0001", ("0002", "0007"), (0.33, 0.67), 30),
        Shot(12, (stranger,), (120, 90, 150), 4),
    ]
    order = (confident, borderline) if confident_first else (borderline, confident)
    (base / "videos").mkdir()
    for name, shots in zip(("ep1.avi", "ep2.avi"), order, strict=True):
        render_video(base / "videos" / name, shots, (640, 360), fps=30.0)
        truth_path(base / "videos" / name).rename(base / f"{name}.truth.csv")
    return {"base": base, "refs": base / "refs", "videos": base / "videos"}


@pytest.fixture(scope="module")
def run(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return render_run(testdata, tmp_path_factory.mktemp("runanchors"))


def args(run: dict[str, Path], target: Path, *extra: str) -> list[str]:
    return clip_rip_args(run, target, "--min-size", "60", "--no-dedupe", *extra)


def scores(run: dict[str, Path], target: Path) -> dict[str, object]:
    rows = read_manifest(target / "manifest.csv")
    out = {}
    for name in ("ep1.avi", "ep2.avi"):
        mine = [r for r in rows if Path(r["video"]).name == name]
        truth = load_truth(run["base"] / f"{name}.truth.csv")
        out[name] = evaluate(mine, truth, PEOPLE, 60)
    return out


def journal(target: Path) -> list[dict]:
    lines = (target / JOURNAL_NAME).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[1:]]


def rip_two_threads(run: dict[str, Path], target: Path) -> Path:
    """``rip -j 2`` into ``target``; its stdout and stderr beside the dataset
    (``stdout.txt``, ``stderr.txt``)."""
    result = run_cli(args(run, target, "--threads", "2"))
    assert result.exit_code == 0, result.stderr
    (target.parent / "stdout.txt").write_text(result.stdout)
    (target.parent / "stderr.txt").write_text(result.stderr)
    return target


def with_and_without(run: dict[str, Path], target: Path, off_target: Path) -> tuple:
    """The scores of ``target`` and of a ``--no-run-anchors`` run into ``off_target``
    (with its stdout), neither with a wrong person nor Kim."""
    on = scores(run, target)
    result = run_cli(args(run, off_target, "--no-run-anchors"))
    assert result.exit_code == 0, result.stderr
    off = scores(run, off_target)
    for metrics in (*on.values(), *off.values()):
        print(metrics.as_dict())
        assert metrics.wrong_identity == 0 and metrics.unmatched == 0  # Kim: never
    return on, off, result.stdout


@pytest.fixture(scope="module")
def with_gallery(run, tmp_path_factory) -> Path:
    return rip_two_threads(run, tmp_path_factory.mktemp("with") / "faces")


def test_the_second_videos_person_is_saved_thanks_to_the_first(run, with_gallery, tmp_path):
    off_target = tmp_path / "off"
    on, off, stdout = with_and_without(run, with_gallery, off_target)
    # The first video has no earlier one: the same crops either way.
    assert tree_digest(with_gallery / "lance") != tree_digest(off_target / "lance")

    def first(target: Path) -> set[str]:
        return {r["path"] for r in read_manifest(target / "manifest.csv") if "ep1" in r["path"]}

    assert first(with_gallery) == first(off_target)
    assert off["ep2.avi"].appearances_found == 0  # the video alone refuses Lance
    assert on["ep2.avi"].appearances_found == 1  # the run's gallery saves him
    lines = [r for r in journal(with_gallery) if "adapted" in r and not r.get("late")]
    adapted = {Path(r["adapted"]).name: r for r in lines}
    lent = adapted["ep2.avi"]["counts"].get("adapt_run_anchors", 0)
    assert lent >= 1
    given = "given their person by earlier videos"  # the summary says how many
    assert f"{counted(lent, 'track')} {given}" in (with_gallery.parent / "stdout.txt").read_text()
    assert f"0 tracks {given}" in stdout
    assert adapted["ep1.avi"]["gallery"]  # what the first video adds, for a resumed run
    assert not any("gallery" in r for r in journal(off_target))


def test_one_thread_and_a_resume_give_the_same_dataset(run, with_gallery, tmp_path, monkeypatch):
    assert_one_thread_gives(run, tmp_path / "one", with_gallery)
    # Killed in the second video's step: the resumed run reads the first video's gallery
    # back from the journal, and decides the second video as the uninterrupted run did.
    target = tmp_path / "resumed"
    finish = Dataset.finish_adapt

    def die(self, video, *rest, **kwargs):
        if Path(video).name == "ep2.avi":
            raise KeyboardInterrupt  # kill -9: crops and rows written, no journal line
        return finish(self, video, *rest, **kwargs)

    monkeypatch.setattr(Dataset, "finish_adapt", die)
    interrupt(run, target)
    monkeypatch.undo()
    assert [Path(r["adapted"]).name for r in journal(target) if "adapted" in r] == ["ep1.avi"]
    resume(run, target)
    assert tree_digest(target) == tree_digest(with_gallery)


def assert_one_thread_gives(run: dict[str, Path], target: Path, expected: Path) -> None:
    """``rip -j 1`` into ``target`` writes the dataset ``expected`` holds."""
    result = run_cli(args(run, target, "--threads", "1"))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(target) == tree_digest(expected)


def interrupt(run: dict[str, Path], target: Path) -> None:
    """``rip -j 2`` into ``target``, where a patched method raises KeyboardInterrupt."""
    try:
        interrupted = run_cli(args(run, target, "--threads", "2"))
        assert interrupted.exit_code != 0
    except KeyboardInterrupt:
        pass


def resume(run: dict[str, Path], target: Path) -> str:
    """The same ``rip -j 2`` again, in a process of its own (nothing patched); its stderr."""
    resumed = subprocess.run(
        [sys.executable, "-m", "faceripper", *args(run, target, "--threads", "2")],
        capture_output=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    return resumed.stderr.decode()


def test_resuming_with_the_other_setting_is_refused(run, with_gallery, tmp_path):
    target = tmp_path / "faces"
    shutil.copytree(with_gallery, target)
    result = run_cli(args(run, target, "--no-run-anchors"))
    assert result.exit_code != 0
    assert "run_anchors: True -> False" in result.stderr


def test_a_dask_cluster_run_equals_the_local_run(run, with_gallery, tmp_path):
    """The run's gallery lives in the client (the committer): the workers never see it."""
    with local_cluster() as cluster:
        target = tmp_path / "faces"
        result = run_cli(args(run, target, "--scheduler", cluster.scheduler_address))
    assert result.exit_code == 0, result.stderr
    assert tree_digest(target) == tree_digest(with_gallery)
