"""faceripper review: contact sheets of a dataset's crops, most doubtful first."""

from __future__ import annotations

import csv
import itertools
import shutil
from pathlib import Path

import pytest
from PIL import Image

from faceripper.errors import UsageError
from faceripper.review import DEFAULT_PER_LABEL, review_dataset, review_dir_for, spread
from faceripper.words import counted as n_of

from conftest import run_cli


def _labels(target: Path) -> dict[str, int]:
    """Saved crops per class folder, from the manifest."""
    with (target / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["status"] == "saved"]
    counts: dict[str, int] = {}
    for row in rows:
        folder = row["path"].split("/")[0]
        counts[folder] = counts.get(folder, 0) + 1
    return counts


@pytest.fixture
def dataset(reference_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's reference dataset, so that sheets beside it stay here."""
    target = tmp_path / "faces"
    shutil.copytree(reference_run, target)
    return target


# ---------------------------------------------------------------------------- fast


def test_spread_is_even_and_deterministic() -> None:
    assert spread(10, 3) == [1, 5, 8]
    assert spread(100, 4) == [12, 37, 62, 87]
    assert spread(3, 48) == [0, 1, 2]
    assert spread(0, 5) == []
    picked = spread(1000, 48)
    assert len(set(picked)) == 48 and picked == sorted(picked)
    gaps = {b - a for a, b in itertools.pairwise(picked)}
    assert gaps <= {20, 21}


def test_review_dir_is_beside_the_dataset(tmp_path: Path) -> None:
    assert review_dir_for(tmp_path / "faces") == tmp_path / "faces-review"
    assert review_dir_for(Path("faces/")) == Path("faces-review")


def test_cli_default_matches_the_library() -> None:
    result = run_cli(["review", "--help"])
    assert f"default: {DEFAULT_PER_LABEL}" in result.stdout


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "faces"
    (target / "halle").mkdir(parents=True)
    result = run_cli(["review", str(target)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no manifest" in lines[0] and "manifest.csv" in lines[0]
    assert not (tmp_path / "faces-review").exists()
    result = run_cli(["review", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_empty_manifest_writes_no_sheet(tmp_path: Path) -> None:
    from faceripper.writer import MANIFEST_COLUMNS

    target = tmp_path / "faces"
    target.mkdir()
    (target / "manifest.csv").write_text(",".join(MANIFEST_COLUMNS) + "\n", encoding="utf-8")
    result = run_cli(["review", str(target)])
    assert result.exit_code == 0, result.stderr
    assert "no sheet written" in result.stdout
    assert not (tmp_path / "faces-review").exists()


def test_per_label_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="1 or more"):
        review_dataset(tmp_path, per_label=0)
    assert run_cli(["review", str(tmp_path), "--per-label", "0"]).exit_code == 2


# ---------------------------------------------------------------------------- on a real dataset


@pytest.mark.slow
def test_one_sheet_per_label(dataset: Path) -> None:
    result = run_cli(["review", str(dataset)])
    assert result.exit_code == 0, result.stderr
    out_dir = dataset.parent / "faces-review"  # beside the dataset, not inside it
    counts = _labels(dataset)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [*(f"{f}.png" for f in counts), "check.csv"]
    )
    assert sorted(counts) == ["halle", "hu"]
    assert not any(p.suffix == ".png" for p in dataset.rglob("*"))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(counts)  # a summary line per sheet
    for line, (folder, n) in zip(lines, sorted(counts.items()), strict=True):
        assert str(out_dir / f"{folder}.png") in line
        assert f"{min(n, DEFAULT_PER_LABEL)} of {n} crops" in line and "distance" in line
    for folder, n in counts.items():
        with Image.open(out_dir / f"{folder}.png") as image:
            assert image.format == "PNG"
            image.verify()
        with Image.open(out_dir / f"{folder}.png") as image:
            width, height = image.size
        columns = min(n, 8)
        rows = -(-min(n, DEFAULT_PER_LABEL) // 8)
        assert columns * 144 <= width <= columns * 170 + 40
        assert rows * 144 < height < rows * 220 + 150


@pytest.mark.slow
def test_sample_is_spread_limited_sorted_and_deterministic(dataset: Path, tmp_path: Path) -> None:
    counts = _labels(dataset)
    sheets = review_dataset(dataset, tmp_path / "five", per_label=5)
    assert [s.folder for s in sheets] == sorted(counts)
    for sheet in sheets:
        assert sheet.label == sheet.folder and sheet.missing == 0
        assert sheet.crops == counts[sheet.folder] and sheet.shown == 5
        assert list(sheet.distances) == sorted(sheet.distances, reverse=True)
    # the same 5 of each label, spread over its rows, whatever else is in the manifest
    with (dataset / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        halle = [r for r in csv.DictReader(handle) if r["path"].startswith("halle/")]
    expected = sorted((float(halle[i]["distance"]) for i in spread(len(halle), 5)), reverse=True)
    assert list(sheets[0].distances) == pytest.approx(expected)
    again = review_dataset(dataset, tmp_path / "again", per_label=5)
    for a, b in zip(sheets, again, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes()
    full = review_dataset(dataset, tmp_path / "full")
    for small, big in zip(sheets, full, strict=True):
        with Image.open(small.path) as a, Image.open(big.path) as b:
            assert a.size[1] < b.size[1] or a.size[0] < b.size[0]
    result = run_cli(["review", str(dataset), "--out", str(tmp_path / "cli"), "--per-label", "3"])
    assert result.exit_code == 0, result.stderr
    assert all(" 3 of " in line for line in result.stdout.strip().splitlines())


@pytest.mark.slow
def test_missing_crops_are_counted_not_drawn(dataset: Path, tmp_path: Path) -> None:
    victim = next((dataset / "hu").glob("*.jpg"))
    victim.unlink()
    sheets = {s.folder: s for s in review_dataset(dataset, tmp_path / "sheets")}
    assert sheets["hu"].missing == 1 and sheets["halle"].missing == 0
    assert sheets["hu"].crops == _labels(dataset)["hu"] - 1


@pytest.mark.slow
def test_out_dir_inside_the_dataset_is_refused(dataset: Path) -> None:
    before = sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*"))
    for inside in (dataset / "review", dataset, dataset / "halle" / "x"):
        result = run_cli(["review", str(dataset), "--out", str(inside)])
        assert result.exit_code == 2
        assert "outside the dataset" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.relative_to(dataset).as_posix() for p in dataset.rglob("*")) == before


@pytest.mark.slow
def test_show_opens_every_sheet(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    import faceripper.sheets

    opened: list[Path] = []
    monkeypatch.setattr(faceripper.sheets, "open_file", opened.append)
    result = run_cli(["review", str(dataset), "--out", str(tmp_path / "s"), "--show"])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in opened) == ["halle.png", "hu.png"]


def test_tracks_decided_with_the_least_margin_come_first(dataset: Path, tmp_path: Path) -> None:
    # The reference run's tolerance is 0.6; halle's tracks have median distances near
    # 0.43, hu's near 0.31: at --check-margin 0.2 halle's need a look, hu's don't.
    result = run_cli(
        ["review", str(dataset), "--out", str(tmp_path / "s"), "--check-margin", "0.2"]
    )
    assert result.exit_code == 0, result.stderr
    halle_line, hu_line = result.stdout.strip().splitlines()
    halle_crops = _labels(dataset)["halle"]
    with (dataset / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["path"].startswith("halle/")]
    n = len({(r["video"], r["track"]) for r in rows})  # halle's tracks
    assert n >= 1
    assert f"to check: {n_of(n, 'track')} ({n_of(halle_crops, 'crop')})" in halle_line
    assert "to check: 0 tracks (0 crops)" in hu_line
    with (tmp_path / "s" / "check.csv").open(newline="", encoding="utf-8") as handle:
        tracks = list(csv.DictReader(handle))
    margins = [float(t["margin"]) for t in tracks]
    assert margins == sorted(margins)  # least margin first
    assert [t["check"] for t in tracks] == ["1"] * n + ["0"] * (len(tracks) - n)
    assert {t["folder"] for t in tracks[:n]} == {"halle"}
    listed = sum(len(t["paths"].split()) for t in tracks)
    assert listed == sum(_labels(dataset).values())
    # On the sheet: the farthest crop of each track to check, least margin first.
    sheets = {s.folder: s for s in review_dataset(dataset, tmp_path / "lib", check_margin=0.2)}
    halle = sheets["halle"]
    worst = [float(t["distance"]) for t in tracks[:n]]
    assert halle.to_check == n and halle.shown == halle.crops
    assert all(shown >= w for shown, w in zip(halle.distances, worst, strict=False))
    # The default margin (0.05) leaves nothing to check on this clean run.
    default = review_dataset(dataset, tmp_path / "default")
    assert all(s.to_check == 0 for s in default)


def test_an_excluded_face_is_first_to_check(dataset: Path, tmp_path: Path) -> None:
    # A crop whose face a correction excluded has an infinite distance: margin -inf.
    rows = list(csv.DictReader((dataset / "manifest.csv").open(newline="", encoding="utf-8")))
    victim = next(r for r in rows if r["path"].startswith("hu/"))
    victim["distance"] = "inf"
    with (dataset / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    sheets = {s.folder: s for s in review_dataset(dataset, tmp_path / "s")}
    assert sheets["hu"].to_check == 1 and sheets["hu"].distances[0] == float("inf")
