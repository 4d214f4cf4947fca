"""``faceripper split``: leak-free train/val/test folders, loaded with a real loader.

The dataset is made by a real ``rip`` of three generated videos of two people (Labeled
Faces in the Wild photos), three shots each: every label has nine face tracks.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from faceripper.split import (
    SPLITS_CSV,
    assign_groups,
    choose_varied,
    group_rows,
    parse_fractions,
    read_splits,
)
from faceripper.testing import PlacedFace, Shot, load_face_sources, render_video, truth_path
from faceripper.writer import read_manifest

from conftest import TARGETS, run_cli, tree_digest

POSITIONS = (((150, 180), (170, 175)), ((470, 185), (455, 180)))


@pytest.fixture(scope="module")
def split_data(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 24-frame videos of halle and hu (three shots each), ripped into ``faces``."""
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("split")
    refs, videos = base / "refs", base / "videos"
    shown = {}
    for label, name in TARGETS.items():
        photos = sorted((lfw / name).glob("*.jpg"))
        (refs / label).mkdir(parents=True)
        for photo in photos[4:8]:
            shutil.copy(photo, refs / label / photo.name)
        shown[label] = load_face_sources([*photos[:4], *photos[8:]])
    videos.mkdir()
    for v, name in enumerate(("a.avi", "b.avi", "c.avi")):
        shots = []
        for s in range(3):
            k = 3 * v + s
            left, right = POSITIONS if k % 2 == 0 else POSITIONS[::-1]
            faces = (
                PlacedFace(shown["halle"][k % 6], left[0], left[1], 100, 104),
                PlacedFace(shown["hu"][(k + 1) % 6], right[0], right[1], 102, 98),
            )
            shots.append(Shot(8, faces, (60 + 40 * s, 110, 150 - 30 * v), texture_seed=k))
        render_video(videos / name, shots, (640, 360), fps=30.0)
        truth_path(videos / name).unlink()
    target = base / "faces"
    result = run_cli(
        [
            "rip",
            "--refs",
            str(refs),
            "--video-dir",
            str(videos),
            "--target-dir",
            str(target),
            "--cache",
            str(base / "refs.npz"),
            "--tolerance",
            "0.6",
            "--min-size",
            "60",
            "--threads",
            "2",
        ]
    )
    assert result.exit_code == 0, result.stderr
    return {"target": target, "base": base}


def _split(data: dict[str, Path], out: Path, *extra: str):
    result = run_cli(["split", str(data["target"]), "--out", str(out), *extra])
    assert result.exit_code == 0, result.stderr
    return result


def test_split_loads_with_imagefolder_and_keeps_each_track_in_one_split(split_data, tmp_path):
    from torchvision.datasets import ImageFolder

    target = split_data["target"]
    before = tree_digest(target)
    out = tmp_path / "split"
    result = _split(split_data, out, "--fractions", "0.6,0.2,0.2", "--seed", "7")
    assert tree_digest(target) == before  # the dataset is only read
    manifest = [r for r in read_manifest(target / "manifest.csv") if r["status"] == "saved"]
    rows = read_splits(out)
    assert sorted(r["path"] for r in rows) == sorted(r["path"] for r in manifest)
    # No face track (video, track) has crops in two splits.
    where: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        where[(row["video"], row["track"])].add(row["split"])
    assert where and all(len(s) == 1 for s in where.values()), where
    # Every split is an ImageFolder with the same classes, holding what splits.csv says.
    loaded = {}
    for split in ("train", "val", "test"):
        dataset = ImageFolder(str(out / split))
        assert dataset.classes == ["halle", "hu"]
        listed = {
            (r["path"].split("/")[0], Path(r["path"]).name) for r in rows if r["split"] == split
        }
        found = {(dataset.classes[c], Path(p).name) for p, c in dataset.samples}
        assert found == listed
        image, label = dataset[0]
        assert image.size[0] > 0 and dataset.classes[label] in TARGETS
        loaded[split] = Counter(dataset.classes[c] for _, c in dataset.samples)
    # Fractions per label, as near as whole tracks allow: each split gets tracks.
    for label in TARGETS:
        total = sum(loaded[s][label] for s in loaded)
        assert total == sum(1 for r in manifest if r["label"] == label)
        for split, share in (("train", 0.6), ("val", 0.2), ("test", 0.2)):
            assert loaded[split][label] > 0, (split, label, loaded)
            assert abs(loaded[split][label] / total - share) < 0.15, (split, label, loaded)
    # Hard links: no copy of the pixels.
    first = rows[0]
    assert (out / first["split"] / first["path"]).samefile(target / first["path"])
    assert "halle:" in result.stdout and "train" in result.stdout


def test_same_seed_same_split_and_rerun_replaces(split_data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    _split(split_data, one, "--seed", "3")
    _split(split_data, two, "--seed", "3", "--link", "copy")
    assert (one / SPLITS_CSV).read_bytes() == (two / SPLITS_CSV).read_bytes()
    assert tree_digest(one) == tree_digest(two)
    (two / "train" / "halle" / "stray.jpg").write_bytes(b"x")
    _split(split_data, two, "--seed", "3", "--link", "symlink")  # replaces the old split
    assert tree_digest(one) == tree_digest(two)
    assert (two / read_splits(two)[0]["split"] / read_splits(two)[0]["path"]).is_symlink()
    listings = set()
    for seed in range(4):
        _split(split_data, tmp_path / f"s{seed}", "--seed", str(seed))
        listings.add((tmp_path / f"s{seed}" / SPLITS_CSV).read_bytes())
    assert len(listings) > 1  # the seed matters


def test_group_by_video_keeps_each_video_in_one_split(split_data, tmp_path):
    out = tmp_path / "byvideo"
    _split(split_data, out, "--group-by", "video", "--fractions", "0.34,0.33,0.33")
    where: dict[str, set[str]] = defaultdict(set)
    for row in read_splits(out):
        where[row["video"]].add(row["split"])
    assert sorted(where) == ["a.avi", "b.avi", "c.avi"]
    assert all(len(s) == 1 for s in where.values())
    assert {s for v in where.values() for s in v} == {"train", "val", "test"}


def test_max_per_label_keeps_sharp_crops_of_every_video(split_data, tmp_path):
    out = tmp_path / "capped"
    result = _split(split_data, out, "--max-per-label", "6", "--fractions", "0.5,0.5")
    rows = read_splits(out)
    per_label = Counter(r["label"] for r in rows)
    assert per_label == Counter({"halle": 6, "hu": 6})
    assert {r["video"] for r in rows if r["label"] == "halle"} == {"a.avi", "b.avi", "c.avi"}
    assert not (out / "test").exists()  # two fractions: train and val only
    assert "over the cap" in result.stdout
    balanced = tmp_path / "balanced"
    _split(split_data, balanced, "--balance")
    counts = Counter(r["label"] for r in read_splits(balanced))
    assert len(set(counts.values())) == 1


def test_refuses_to_write_into_the_dataset(split_data, tmp_path):
    target = split_data["target"]
    before = tree_digest(target)
    result = run_cli(["split", str(target), "--out", str(target / "split")])
    assert result.exit_code == 2
    assert "must go outside the dataset" in result.stderr
    assert tree_digest(target) == before and not (target / "split").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = run_cli(["split", str(target), "--out", str(busy)])
    assert result.exit_code == 2 and "not empty" in result.stderr
    assert (busy / "notes.txt").read_text() == "mine"
    result = run_cli(["split", str(target), "--out", str(tmp_path / "x"), "--fractions", "0.8,0.3"])
    assert result.exit_code == 2 and "add up to 1.1" in result.stderr


def test_a_deleted_crop_is_not_split(split_data, tmp_path):
    copy = tmp_path / "faces"
    shutil.copytree(split_data["target"], copy)
    victim = next((copy / "hu").glob("*.jpg"))
    victim.unlink()
    out = tmp_path / "split"
    result = run_cli(["split", str(copy), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "1 crop listed in the manifest is missing" in result.stderr
    assert victim.name not in {Path(r["path"]).name for r in read_splits(out)}


# ------------------------------------------------------------------ pure functions


def _row(video: str, label: str, track: str, frame: int, x: int = 0) -> dict[str, str]:
    return {
        "video": video,
        "label": label,
        "track": track,
        "frame": str(frame),
        "time_s": f"{frame / 30:.3f}",
        "face": "0",
        "top": "0",
        "right": str(x + 100),
        "bottom": "100",
        "left": str(x),
        "sharpness": "100",
    }


def test_group_rows_joins_a_track_cut_at_a_segment_boundary() -> None:
    rows = [
        _row("v", "a", "0.0", 0),
        _row("v", "a", "0.0", 290),
        _row("v", "a", "300.0", 300, x=5),  # the same face, next segment
        _row("v", "a", "310.0", 310, x=400),  # elsewhere: another track
        _row("v", "b", "300.1", 300),  # another person
        _row("w", "a", "0.0", 0),  # another video
    ]
    names = group_rows(rows)
    assert names[0] == names[1] == names[2]
    assert len(set(names)) == 4


@pytest.mark.parametrize(
    ("sizes", "fractions", "expected"),
    [
        ([10] * 10, (0.8, 0.1, 0.1), [80, 10, 10]),
        ([50, 10, 10, 10, 10, 10], (0.5, 0.5), [50, 50]),
        ([30], (0.8, 0.1, 0.1), [30, 0, 0]),
        ([5] * 4, (0.5, 0.5, 0.0), [10, 10, 0]),
    ],
)
def test_assign_groups_meets_fractions(sizes, fractions, expected) -> None:
    groups = {f"g{i}": Counter(a=n) for i, n in enumerate(sizes)}
    chosen = assign_groups(groups, fractions, seed=5)
    totals = [0] * len(fractions)
    for name, k in chosen.items():
        totals[k] += groups[name]["a"]
    assert totals == expected
    assert chosen == assign_groups(groups, fractions, seed=5)


def test_choose_varied_spreads_over_videos_and_tracks() -> None:
    rows = [{"video": v, "sharpness": s} for v, s in [("a", "90"), ("a", "80"), ("b", "10")]]
    assert choose_varied(rows, ["a1", "a1", "b1"], 2) == [0, 2]


@pytest.mark.parametrize("text", ["0.8,0.1", "1", "a,b", "-0.1,0.6,0.5", "0,0.5,0.5"])
def test_parse_fractions_rejects(text: str) -> None:
    from faceripper.errors import UsageError

    with pytest.raises(UsageError):
        parse_fractions(text)


def test_splits_csv_has_the_manifest_columns_and_the_split(split_data, tmp_path) -> None:
    out = tmp_path / "s"
    _split(split_data, out)
    with (out / SPLITS_CSV).open(encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header[:3] == ["path", "label", "person"] and header[-2:] == ["split", "split_group"]


def test_a_crop_moved_and_reconciled_is_split_as_its_new_person(split_data, tmp_path):
    copy = tmp_path / "faces"
    shutil.copytree(split_data["target"], copy)
    crop = sorted((copy / "hu").glob("*.jpg"))[0]
    shutil.move(crop, copy / "halle" / crop.name)
    assert run_cli(["reconcile", str(copy)]).exit_code == 0
    out = tmp_path / "split"
    result = run_cli(["split", str(copy), "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    row = next(r for r in read_splits(out) if r["path"].endswith(crop.name))
    assert row["path"] == f"halle/{crop.name}" and row["corrected"] == "moved"
    assert (out / row["split"] / "halle" / crop.name).is_file()
