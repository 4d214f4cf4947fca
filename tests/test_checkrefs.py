"""Tests of faceripper.checkrefs: the reference review behind ``faceripper check-refs``.

Synthetic tests build a ReferenceSet by hand from random vectors; the real-data tests
encode photos of the shared test data (read in place; copies go to pytest's tmp_path only).
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from rich.table import Table

from faceripper import checkrefs, sheets
from faceripper.checkrefs import (
    CrossPair,
    RefCheck,
    check_references,
    outlier_flags,
)
from faceripper.config import Config, Person, config_from_refs
from faceripper.encoder import face_distances
from faceripper.errors import UsageError
from faceripper.references import FileResult, ReferenceSet, encode_references
from faceripper.refreport import summary_tables, write_contact_sheets
from faceripper.sheets import open_file

# ---------------------------------------------------------------------------- helpers


def _unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    vectors = rng.normal(size=(n, 128))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _cluster(rng: np.random.Generator, centre: np.ndarray, n: int, spread: float = 0.3):
    """``n`` encodings around ``centre``: pairwise distances about ``spread * sqrt(2)``."""
    return centre + spread * _unit(rng, n)


def _make_refs(
    groups: dict[str, np.ndarray],
    root: Path = Path("/refs"),
    extra_files: Sequence[FileResult] = (),
    labels: dict[str, str] | None = None,
    boxes: dict[str, np.ndarray] | None = None,
    sources: dict[str, list[Path]] | None = None,
) -> ReferenceSet:
    """A ReferenceSet by hand: ``groups`` maps each person to their ``(n, 128)`` encodings."""
    rows_person, rows_source, rows_box, files = [], [], [], []
    for person, encodings in groups.items():
        for i, encoding in enumerate(encodings):
            source = sources[person][i] if sources else root / person / f"{i}.jpg"
            box = boxes[person][i] if boxes else np.array([10, 60, 60, 10])
            rows_person.append(person)
            rows_source.append(str(source))
            rows_box.append(box)
            files.append(
                FileResult(
                    source, person, "ok", 1, encoding=encoding, box_trbl=tuple(int(v) for v in box)
                )
            )
    files += list(extra_files)
    labels = labels or {}
    n = len(rows_person)
    return ReferenceSet(
        encodings=np.vstack([*groups.values()]) if n else np.zeros((0, 128)),
        person=np.array(rows_person, dtype=np.str_),
        label=np.array([labels.get(p, p) for p in rows_person], dtype=np.str_),
        group=np.array([""] * n, dtype=np.str_),
        source=np.array(rows_source, dtype=np.str_),
        box_trbl=np.array(rows_box, dtype=np.int64).reshape(-1, 4),
        files=files,
    )


def _select(refs: ReferenceSet, people: dict[str, list[str]]) -> ReferenceSet:
    """A new ReferenceSet of real encodings: person -> the photo file names to give them."""
    by_name = {Path(str(s)).name: i for i, s in enumerate(refs.source)}
    groups = {p: refs.encodings[[by_name[f] for f in names]] for p, names in people.items()}
    sources = {
        p: [Path(str(refs.source[by_name[f]])) for f in names] for p, names in people.items()
    }
    boxes = {p: refs.box_trbl[[by_name[f] for f in names]] for p, names in people.items()}
    return _make_refs(groups, sources=sources, boxes=boxes)


def _flagged(check: RefCheck) -> set[str]:
    return {ref.source.name for _, ref in check.outliers}


def _brute_force_pairs(refs: ReferenceSet) -> list[tuple[float, str, str]]:
    distances = face_distances(refs.encodings, refs.encodings)
    pairs = []
    for i in range(len(refs)):
        for j in range(i + 1, len(refs)):
            if refs.person[i] != refs.person[j]:
                pairs.append((float(distances[i, j]), str(refs.source[i]), str(refs.source[j])))
    return sorted(pairs)


def _render(table: Table) -> str:
    console = Console(record=True, width=160, color_system=None)
    console.print(table)
    return console.export_text()


# ---------------------------------------------------------------------------- outlier rule


def test_rule_flags_far_reference_and_keeps_the_rest() -> None:
    medians = np.array([0.40, 0.42, 0.41, 0.45, 0.80])
    flags, reasons = outlier_flags(medians, np.full(5, np.inf))
    assert flags.tolist() == [False, False, False, False, True]
    assert "0.800" in reasons[4] and reasons[:4] == ["", "", "", ""]


def test_rule_keeps_hard_but_genuine_photo_between_06_and_065() -> None:
    # a profile shot: above 0.6 but matching nobody else better
    medians = np.array([0.43, 0.43, 0.48, 0.44, 0.64])
    flags, _ = outlier_flags(medians, np.array([0.7, 0.7, 0.7, 0.7, 0.7]))
    assert not flags.any()


def test_rule_flags_photo_between_06_and_065_that_matches_another_person() -> None:
    medians = np.array([0.43, 0.43, 0.48, 0.44, 0.64])
    flags, reasons = outlier_flags(
        medians, np.array([0.7, 0.7, 0.7, 0.7, 0.5]), ["x", "x", "x", "x", "raj"]
    )
    assert flags.tolist() == [False] * 4 + [True]
    assert "raj" in reasons[4]


def test_rule_uses_the_persons_own_spread() -> None:
    # a person whose photos all differ a lot: 0.66 is within their spread, 0.9 is not
    medians = np.array([0.60, 0.62, 0.66, 0.64, 0.61, 0.63, 0.90])
    flags, reasons = outlier_flags(medians, np.full(7, np.inf))
    assert flags.tolist() == [False] * 6 + [True]
    assert "limit" in reasons[6]


def test_rule_with_two_photos_flags_both_or_none() -> None:
    assert outlier_flags(np.array([0.55, 0.55]), np.full(2, np.inf))[0].tolist() == [False] * 2
    flags, reasons = outlier_flags(np.array([0.7, 0.7]), np.array([0.8, 0.4]), ["a", "sheldon"])
    assert flags.tolist() == [True, True]
    assert "cannot tell" in reasons[0] and "sheldon" in reasons[1] and "sheldon" not in reasons[0]


def test_rule_with_one_or_no_photo_flags_nothing() -> None:
    assert outlier_flags(np.array([np.nan]), np.array([0.3]))[0].tolist() == [False]
    assert outlier_flags(np.zeros(0), np.zeros(0))[0].tolist() == []


# ---------------------------------------------------------------------------- synthetic sets


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def _people(rng: np.random.Generator, counts: dict[str, int]) -> dict[str, np.ndarray]:
    return {name: _cluster(rng, 0.75 * _unit(rng)[0], n) for name, n in counts.items()}


def test_clean_people_give_no_outlier_and_no_confusable(rng: np.random.Generator) -> None:
    groups = _people(rng, {f"p{i}": 6 for i in range(5)})
    check = check_references(_make_refs(groups), list(groups))
    assert [p.name for p in check.people] == list(groups)
    assert check.outliers == [] and check.confusable == [] and check.problems() == []
    for person in check.people:
        assert person.photos == person.usable == 6 == len(person.references)
        assert 0.3 < person.median_distance < 0.55
        for ref in person.references:
            assert ref.nearest_person not in (None, person.name)
            assert ref.nearest_distance > ref.distance


def test_synthetic_intruder_is_the_only_outlier(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 5, "b": 5, "c": 5})
    groups["a"] = np.vstack([groups["a"][:4], _cluster(rng, groups["b"].mean(axis=0), 1)])
    check = check_references(_make_refs(groups), list(groups))
    assert _flagged(check) == {"4.jpg"}
    ((person, ref),) = check.outliers
    assert person.name == "a" and ref.nearest_person == "b" and ref.reason
    assert any("/refs/a/4.jpg: outlier" in line for line in check.problems())


@pytest.mark.parametrize("n", [3, 4, 8])
def test_synthetic_intruder_from_a_stranger_with_few_photos(
    rng: np.random.Generator, n: int
) -> None:
    groups = _people(rng, {"a": n, "b": 4})
    groups["a"][-1] = _cluster(rng, 0.75 * _unit(rng)[0], 1)[0]  # nobody in the config
    check = check_references(_make_refs(groups), ["a", "b"])
    assert _flagged(check) == {f"{n - 1}.jpg"}


def test_two_photos_of_different_people_are_both_flagged(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 1, "b": 3})
    groups["a"] = np.vstack([groups["a"], _cluster(rng, 0.75 * _unit(rng)[0], 1)])
    check = check_references(_make_refs(groups), ["a", "b"])
    assert len(check.person("a").outliers) == 2 and check.person("b").outliers == []


def test_single_photo_has_nan_distance_and_is_never_an_outlier(rng: np.random.Generator) -> None:
    groups = _people(rng, {"solo": 1, "b": 3})
    check = check_references(_make_refs(groups), ["solo", "b"])
    (ref,) = check.person("solo").references
    assert math.isnan(ref.distance) and not ref.outlier
    assert math.isnan(check.person("solo").median_distance)


def test_cross_person_pairs_match_brute_force(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 4, "b": 3, "c": 5, "d": 2})
    groups["c"][0] = groups["a"][1] + 0.01 * _unit(rng)[0]  # nearly the same face
    groups["d"][1] = groups["b"][0] + 0.2 * _unit(rng)[0]
    refs = _make_refs(groups)
    expected = _brute_force_pairs(refs)
    for tolerance in (0.05, 0.6, 1.0, 9.0):
        check = check_references(refs, list(groups), tolerance=tolerance)
        got = [(p.distance, str(p.source_a), str(p.source_b)) for p in check.confusable]
        want = [e for e in expected if e[0] < tolerance]
        assert [g[1:] for g in got] == [w[1:] for w in want]
        assert np.allclose([g[0] for g in got], [w[0] for w in want])
        assert all(p.person_a != p.person_b for p in check.confusable)
        assert check.closest_pair is not None
        assert check.closest_pair.distance == pytest.approx(expected[0][0])
    check = check_references(refs, list(groups), tolerance=0.6)
    first = check.confusable[0]
    assert isinstance(first, CrossPair)
    assert (first.person_a, first.source_a.name, first.person_b, first.source_b.name) == (
        "a",
        "1.jpg",
        "c",
        "0.jpg",
    )
    assert any(line.startswith("confusable: a /refs/a/1.jpg and c") for line in check.problems())


def test_nearest_other_person_matches_brute_force(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 3, "b": 4, "c": 2})
    refs = _make_refs(groups)
    distances = face_distances(refs.encodings, refs.encodings)
    check = check_references(refs, list(groups))
    row = 0
    for person in check.people:
        for ref in person.references:
            masked = np.where(refs.person != person.name, distances[row], np.inf)
            j = int(np.argmin(masked))
            assert ref.nearest_person == refs.person[j]
            assert ref.nearest_source == Path(str(refs.source[j]))
            assert ref.nearest_distance == pytest.approx(masked[j])
            row += 1


def test_file_statuses_are_counted_and_reported(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 3})
    root = Path("/refs")
    extra = [
        FileResult(root / "a" / "x.jpg", "a", "no_face", message="/refs/a/x.jpg: no face found"),
        FileResult(root / "a" / "y.jpg", "a", "unreadable", message="/refs/a/y.jpg: truncated"),
        FileResult(root / "a" / "notes.txt", "a", "not_image", message="not an image"),
        FileResult(root / "empty" / "z.jpg", "empty", "no_face"),
    ]
    refs = _make_refs(groups, extra_files=extra)
    refs.files[0].status = "several_faces"
    refs.files[0].faces = 3
    check = check_references(refs, ["a", "empty", "nothing"])
    a, empty, nothing = check.people
    assert (a.photos, a.usable, a.no_face, a.several_faces, a.unreadable) == (6, 3, 1, 1, 2)
    assert a.references[0].faces == 3
    assert (empty.photos, empty.usable, empty.no_face) == (1, 0, 1)
    assert (nothing.photos, nothing.usable, nothing.references) == (0, 0, [])
    assert [f.path.name for f in a.unusable] == ["x.jpg", "y.jpg", "notes.txt"]
    problems = check.problems()
    assert "a: /refs/a/x.jpg: no face found" in problems
    assert "a: /refs/a/y.jpg: unreadable (truncated)" in problems
    assert "a: /refs/a/notes.txt: not an image" in problems
    assert "a: /refs/a/0.jpg: 3 faces, used the largest" in problems
    assert "empty: no usable reference photo (1 file found)" in problems
    assert "nothing: no usable reference photo (0 files found)" in problems


def test_people_order_labels_and_unlisted_people(rng: np.random.Generator) -> None:
    groups = _people(rng, {"a": 2, "b": 2, "c": 2})
    refs = _make_refs(groups, labels={"a": "Label A"})
    check = check_references(refs, ["c", "a", "none"], labels={"none": "No One"})
    assert [p.name for p in check.people] == ["c", "a", "none", "b"]
    assert [p.label for p in check.people] == ["c", "Label A", "No One", "b"]


def test_empty_reference_set() -> None:
    refs = _make_refs({})
    check = check_references(refs, ["a", "b"])
    assert check.closest_pair is None and check.confusable == []
    assert len(check.problems()) == 2
    assert len(summary_tables(check)) == 3


def test_distances_agree_with_face_distances() -> None:
    rng = np.random.default_rng(5)
    encodings = np.vstack([_cluster(rng, 0.75 * _unit(rng)[0], 40) for _ in range(10)])
    encodings[7] = encodings[3]  # the same photo twice
    fast = checkrefs._all_distances(encodings)
    assert np.allclose(fast, face_distances(encodings, encodings), atol=1e-7)
    assert fast[3, 7] < 1e-6 and np.all(np.diag(fast) == 0)
    assert checkrefs._all_distances(np.zeros((0, 128))).shape == (0, 0)


# ---------------------------------------------------------------------------- tables


def test_summary_tables(rng: np.random.Generator) -> None:
    groups = _people(rng, {f"person {i}": 4 for i in range(30)})
    groups["person 3"][3] = _cluster(rng, groups["person 7"].mean(axis=0), 1, 0.05)[0]
    groups["[bold]odd[/bold]"] = _cluster(rng, groups["person 9"].mean(axis=0), 2, 0.1)
    check = check_references(_make_refs(groups), list(groups))
    tables = summary_tables(check, max_pairs=5)
    assert len(tables) == 3 and all(isinstance(t, Table) for t in tables)
    people, flagged, pairs = tables
    assert people.row_count == 31
    assert [c.header for c in people.columns][:2] == ["person", "photos"]  # labels = names
    text = _render(people)
    assert "[bold]odd[/bold]" in text  # names are not taken for markup
    assert flagged.row_count == len(check.outliers) >= 1
    assert "3.jpg" in _render(flagged)
    assert pairs.row_count == 5 == min(5, len(check.confusable))
    assert f"and {len(check.confusable) - 5} more pairs" in _render(pairs)


def test_summary_tables_without_confusable_pairs_show_the_closest(
    rng: np.random.Generator,
) -> None:
    groups = _people(rng, {"a": 3, "b": 3})
    check = check_references(_make_refs(groups, labels={"a": "名井 南"}), ["a", "b"])
    people, flagged, pairs = summary_tables(check)
    assert "label" in [c.header for c in people.columns]
    assert "名井 南" in _render(people)
    assert flagged.row_count == 0 and "no outliers" in _render(flagged)
    assert pairs.row_count == 1 and "no pair under 0.6" in _render(pairs)


# ---------------------------------------------------------------------------- contact sheets


def _face_image(path: Path, seed: int, size: int = 120) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, size=(size, size + 40, 3), dtype=np.uint8)
    Image.fromarray(image).save(path)


def _sheet_check(tmp_path: Path, rng: np.random.Generator) -> tuple[RefCheck, Path]:
    refs_dir = tmp_path / "refs"
    names = {"mina": ["Zoë_ß photo 1.png", "明.png", "c.png", "d.png"], "other": ["o1.png"]}
    sources = {}
    for person, files in names.items():
        (refs_dir / person).mkdir(parents=True)
        sources[person] = []
        for k, name in enumerate(files):
            _face_image(refs_dir / person / name, k)
            sources[person].append(refs_dir / person / name)
    (refs_dir / "mina" / "blank.png").write_bytes(b"")
    _face_image(refs_dir / "mina" / "noface.png", 9)
    groups = _people(rng, {"mina": 3, "other": 1})
    groups["mina"] = np.vstack([groups["mina"], _cluster(rng, 0.75 * _unit(rng)[0], 1)])
    boxes = {
        "mina": np.array([[20, 100, 100, 20], [0, 160, 120, 0], [-5, 30, 30, -5], [10, 90, 90, 5]]),
        "other": np.array([[20, 100, 100, 20]]),
    }
    extra = [
        FileResult(refs_dir / "mina" / "blank.png", "mina", "unreadable", message="empty"),
        FileResult(refs_dir / "mina" / "noface.png", "mina", "no_face"),
        FileResult(refs_dir / "gone" / "x.png", "gone", "unreadable"),
    ]
    refs = _make_refs(groups, extra_files=extra, boxes=boxes, sources=sources)
    (refs_dir / "mina" / "c.png").unlink()  # vanished since encoding: placeholder, no crash
    check = check_references(
        refs, ["mina", "other", "gone", "a/b"], labels={"mina": "名井 南", "other": "Zoë"}
    )
    return check, tmp_path / "out" / "sheets"


def test_contact_sheets(tmp_path: Path, rng: np.random.Generator) -> None:
    check, out_dir = _sheet_check(tmp_path, rng)
    assert _flagged(check) == {"d.png"}
    written = write_contact_sheets(check, out_dir, thumb_px=96)
    assert [p.name for p in written] == ["名井 南.png", "Zoë.png", "gone.png", "a_b.png"]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        p.name for p in written
    )  # no temporaries
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG"
            image.verify()
        with Image.open(path) as image:
            width, height = image.size
            assert 300 <= width <= 6 * 96 + 200 and 96 < height < 1000
    with Image.open(written[0]) as image:
        pixels = np.asarray(image.convert("RGB"))
    # 4 references + blank.png + noface.png = 6 tiles in one row; the outlier framed red
    assert image.size[0] >= 6 * 96
    red = (pixels[:, :, 0] > 180) & (pixels[:, :, 1] < 60) & (pixels[:, :, 2] < 60)
    assert red.sum() > 4 * 96


def test_contact_sheets_replace_and_validate(tmp_path: Path, rng: np.random.Generator) -> None:
    check, out_dir = _sheet_check(tmp_path, rng)
    first = write_contact_sheets(check, out_dir)
    again = write_contact_sheets(check, out_dir)
    assert first == again and len(list(out_dir.iterdir())) == len(first)
    with pytest.raises(UsageError, match="32 px"):
        write_contact_sheets(check, out_dir, thumb_px=8)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot create"):
        write_contact_sheets(check, blocker / "sheets")


def test_fit_shortens_long_text() -> None:
    font = sheets._font(12)
    text = "a_very_long_file_name_of_a_reference_photo_2024-01-01.jpeg"
    short = sheets._fit(text, font, 100)
    assert "..." in short and font.getlength(short) <= 100 and short.endswith("jpeg")
    assert sheets._fit("x.jpg", font, 100) == "x.jpg"


def test_text_font_falls_back_to_one_that_has_the_characters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from PIL import ImageFont

    ascii_only = ImageFont.load_default(size=14)  # Pillow's bundled font: ASCII only
    assert sheets._covers(ascii_only, "Mina") and not sheets._covers(ascii_only, "Zoë")
    try:
        wide = ImageFont.truetype("DejaVuSans.ttf", 14)
    except OSError:
        pytest.skip("DejaVuSans.ttf is not installed")
    assert sheets._covers(wide, "Zoë Ω Привет")
    monkeypatch.setattr(sheets, "_fonts", lambda size: (ascii_only, wide))
    assert sheets._font(14, "Mina") is ascii_only
    assert sheets._font(14, "Zoë") is wide
    # nobody covers it: the first font, whose box glyphs at least do not crash
    assert sheets._font(14, "\U0010fffd") is ascii_only


# ---------------------------------------------------------------------------- open_file


@pytest.fixture
def sheet_file(tmp_path: Path) -> Path:
    path = tmp_path / "sheet.png"
    path.write_bytes(b"png")
    return path


def test_open_file_linux(monkeypatch: pytest.MonkeyPatch, sheet_file: Path) -> None:
    calls = []
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kwargs: calls.append(args))
    monkeypatch.setenv("DISPLAY", ":0")
    open_file(sheet_file)
    assert calls == [["/usr/bin/xdg-open", str(sheet_file)]]


def test_open_file_macos(monkeypatch: pytest.MonkeyPatch, sheet_file: Path) -> None:
    calls = []
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kwargs: calls.append(args))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    open_file(sheet_file)
    assert calls == [["/usr/bin/open", str(sheet_file)]]


def test_open_file_windows(monkeypatch: pytest.MonkeyPatch, sheet_file: Path) -> None:
    calls = []
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(os, "startfile", calls.append, raising=False)
    open_file(sheet_file)
    assert calls == [sheet_file]


def test_open_file_without_viewer(monkeypatch: pytest.MonkeyPatch, sheet_file: Path) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(UsageError, match="xdg-open not found"):
        open_file(sheet_file)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UsageError, match="no graphical session"):
        open_file(sheet_file)
    with pytest.raises(UsageError, match="does not exist"):
        open_file(sheet_file.with_name("missing.png"))


# ---------------------------------------------------------------------------- real photos

_CAST = ["amy", "bernadette", "howard", "leonard", "penny", "raj", "sheldon", "stuart"]


@pytest.fixture(scope="module")
def faceapi(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ReferenceSet, list]:
    """The 8 face-api.js people x 5 photos, encoded once for the module."""
    config, _ = config_from_refs(testdata / "face-api.js")
    cache = tmp_path_factory.mktemp("faceapi") / "encodings.npz"
    report = encode_references(config, cache, threads=2)
    return report.references, [p.name for p in config]


def test_faceapi_people_are_separated(faceapi: tuple[ReferenceSet, list]) -> None:
    refs, names = faceapi
    assert names == _CAST and len(refs) == 40
    check = check_references(refs, names)
    assert check.outliers == [] and check.confusable == []
    assert check.problems() == []
    # measured: the closest photos of two different people are 0.629 apart
    # (bernadette5 and penny3); every person's median distance is 0.36-0.50
    assert check.closest_pair is not None
    assert 0.6 < check.closest_pair.distance < 0.7
    for person in check.people:
        assert (person.photos, person.usable) == (5, 5)
        assert person.median_distance < 0.55
        for ref in person.references:
            assert ref.nearest_person != person.name
            assert ref.nearest_distance > ref.distance  # own photos are always closer


@pytest.fixture(scope="module")
def intruder(
    testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Config, ReferenceSet, Path]:
    """Person "A": 4 photos of amy and one of sheldon; "sheldon" has his other 4.

    The other 6 people are read in place.
    """
    source = testdata / "face-api.js"
    root = tmp_path_factory.mktemp("intruder")
    (root / "A").mkdir()
    (root / "sheldon").mkdir()
    for k in range(1, 5):
        shutil.copy(source / "amy" / f"amy{k}.png", root / "A")
        shutil.copy(source / "sheldon" / f"sheldon{k + 1}.png", root / "sheldon")
    shutil.copy(source / "sheldon" / "sheldon1.png", root / "A")
    people = [Person("A", "A", "", root / "A")]
    people += [Person(n, n, "", source / n) for n in _CAST if n not in ("amy", "sheldon")]
    people += [Person("sheldon", "sheldon", "", root / "sheldon")]
    config = Config(tuple(people), root)
    cache = root / "encodings.npz"
    report = encode_references(config, cache, threads=2)
    return config, report.references, cache


def test_wrong_person_photo_is_the_only_outlier(
    intruder: tuple[Config, ReferenceSet, Path],
) -> None:
    config, refs, _ = intruder
    check = check_references(refs, [p.name for p in config])
    assert _flagged(check) == {"sheldon1.png"}
    ((person, ref),) = check.outliers
    assert person.name == "A"
    assert ref.distance > 0.65 and ref.nearest_person == "sheldon"
    assert ref.nearest_distance < 0.5
    assert all(r.distance < 0.5 for r in person.references if not r.outlier)
    # it is also the one photo close to another person
    assert check.confusable
    assert {(p.person_a, p.source_a.name, p.person_b) for p in check.confusable} == {
        ("A", "sheldon1.png", "sheldon")
    }
    assert any(
        line.startswith("A: ") and "sheldon1.png: outlier" in line for line in check.problems()
    )


def test_wrong_person_photo_of_a_stranger(
    intruder: tuple[Config, ReferenceSet, Path], tmp_path: Path
) -> None:
    config, _, cache = intruder
    alone = Config((config.person("A"),), config.source)
    copy = tmp_path / "encodings.npz"
    shutil.copy(cache, copy)
    report = encode_references(alone, copy)
    assert report.encoded == 0  # reused from the cache
    check = check_references(report.references, ["A"])
    assert _flagged(check) == {"sheldon1.png"}
    assert check.closest_pair is None


def test_few_photos_with_a_wrong_one(intruder: tuple[Config, ReferenceSet, Path]) -> None:
    _, refs, _ = intruder
    two = check_references(_select(refs, {"B": ["amy1.png", "sheldon1.png"]}), ["B"])
    assert _flagged(two) == {"amy1.png", "sheldon1.png"}  # cannot tell which
    three = _select(refs, {"B": ["amy1.png", "amy2.png", "sheldon1.png"]})
    assert _flagged(check_references(three, ["B"])) == {"sheldon1.png"}
    mixed = _select(
        refs,
        {
            "B": ["amy1.png", "amy2.png", "sheldon1.png"],
            "raj": ["raj1.png", "raj2.png", "raj3.png"],
            "penny": ["penny1.png", "penny2.png"],
        },
    )
    assert _flagged(check_references(mixed, ["B", "raj", "penny"])) == {"sheldon1.png"}


def test_real_contact_sheets(intruder: tuple[Config, ReferenceSet, Path], tmp_path: Path) -> None:
    config, refs, _ = intruder
    check = check_references(refs, [p.name for p in config], labels={"A": "名井 南"})
    written = write_contact_sheets(check, tmp_path / "sheets")
    assert len(written) == len(config)
    assert written[0].name == "名井 南.png"
    for person, path in zip(check.people, written, strict=True):
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.size[0] >= min(person.photos, 6) * 160 and image.size[1] > 160
            assert path.stat().st_size > 20_000


_LFW = ["Jacques_Chirac", "Nancy_Pelosi", "Hu_Jintao", "Kim_Hong-up", "Halle_Berry"]


@pytest.fixture(scope="module")
def lfw(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ReferenceSet, RefCheck]:
    """Five LFW people, read in place: 4 with 10 photos, Kim_Hong-up with one."""
    people = tuple(Person(n, n, "", testdata / "lfw_dev" / n) for n in _LFW)
    root = tmp_path_factory.mktemp("lfw")
    report = encode_references(Config(people, root), root / "encodings.npz", threads=2)
    return report.references, check_references(report.references, _LFW)


def test_lfw_counts_match_the_encoding(lfw: tuple[ReferenceSet, RefCheck]) -> None:
    refs, check = lfw
    for person in check.people:
        files = [f for f in refs.files if f.person == person.name]
        assert person.photos == len(files) == (1 if person.name == "Kim_Hong-up" else 10)
        assert person.usable == sum(f.usable for f in files) == len(person.references)
        assert person.no_face == sum(f.status == "no_face" for f in files)
        assert person.several_faces == sum(f.status == "several_faces" for f in files)
        assert person.unreadable == 0
    chirac = check.person("Jacques_Chirac")
    assert chirac.no_face >= 1  # two of his LFW photos defeat the HOG detector
    for result in chirac.unusable:
        assert f"Jacques_Chirac: {result.path}: no face found" in check.problems()


def test_lfw_genuine_photos_are_not_flagged(lfw: tuple[ReferenceSet, RefCheck]) -> None:
    _, check = lfw
    assert check.outliers == []
    for person in check.people:
        if person.usable > 1:
            assert person.median_distance < 0.5


def test_lfw_lookalikes_are_confusable(lfw: tuple[ReferenceSet, RefCheck]) -> None:
    # dlib's model places Kim Hong-up within 0.42-0.46 of several Hu Jintao photos
    _, check = lfw
    pair = check.closest_pair
    assert pair is not None
    assert {pair.person_a, pair.person_b} == {"Hu_Jintao", "Kim_Hong-up"}
    assert pair.distance < 0.5
    kim = [p for p in check.confusable if "Kim_Hong-up" in (p.person_a, p.person_b)]
    assert len(kim) >= 5
    distances = [p.distance for p in check.confusable]
    assert distances == sorted(distances) and all(d < 0.6 for d in distances)
