"""The dataset writer on synthetic data: names, paths, manifest, journal, recovery."""

from __future__ import annotations

import pytest

from faceripper.errors import UsageError
from faceripper.writer import (
    JOURNAL_NAME,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    MANIFEST_REQUIRED,
    Dataset,
    ManifestRow,
    SegmentRecord,
    SettingsChangedError,
    TargetLockedError,
    blurry_dir_for,
    crop_name,
    read_manifest,
    safe_stem,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip", "clip"),
        ("my holiday (2019)", "my_holiday_2019"),
        ("名井 南 fancam", "名井_南_fancam"),
        ("../../etc/passwd", "etc_passwd"),
        ("...", "video"),
        ("a" * 100, "a" * 60),
    ],
)
def test_safe_stem(name, expected):
    assert safe_stem(name) == expected


def test_crop_names_are_deterministic_and_distinct():
    assert crop_name("clip", "0a1b2c3d", 42, 1) == "clip-0a1b2c3d-f0000042-1.jpg"
    assert crop_name("clip", "0a1b2c3d", 42, 1) == crop_name("clip", "0a1b2c3d", 42, 1)
    assert crop_name("clip", "0a1b2c3d", 42, 0) != crop_name("clip", "0a1b2c3d", 42, 1)


def row(frame: int, video: str = "v.mp4", label: str = "amy", status: str = "saved") -> ManifestRow:
    return ManifestRow(
        label, "Amy", "", video, frame, 0.0, 1, 2, 3, 0, 0.1, 50.0, status, "", True, 0, "", "hog"
    )


def test_labels_cannot_leave_the_target(tmp_path):
    with Dataset(tmp_path / "faces", {}) as dataset:
        for label in ("..", ".", "", "../outside", "a/b"):
            with pytest.raises(UsageError):
                dataset.write_crop(row(0, label=label), "x.jpg", b"jpeg")
    assert not (tmp_path / "outside").exists()


def test_blurry_crops_go_outside_the_dataset(tmp_path):
    target = tmp_path / "faces"
    blurry = blurry_dir_for(target)
    assert blurry == tmp_path / "faces-blurry"
    with Dataset(target, {}, blurry_dir=blurry) as dataset:
        dataset.write_crop(row(0, status="blurry"), "a.jpg", b"jpeg")
        dataset.finish_segment(SegmentRecord("v.mp4", 0, 10, 10))
    assert (blurry / "amy" / "a.jpg").read_bytes() == b"jpeg"
    assert [p.name for p in target.iterdir() if p.is_dir()] == []
    (only,) = read_manifest(target / MANIFEST_NAME)
    assert only["path"] == "../faces-blurry/amy/a.jpg"


def test_manifest_columns_and_flushed_rows(tmp_path):
    target = tmp_path / "faces"
    with Dataset(target, {}) as dataset:
        dataset.write_crop(row(3), "a.jpg", b"jpeg")
        # flushed before the segment is finished
        assert read_manifest(target / MANIFEST_NAME)[0]["frame"] == "3"
    header = (target / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()[0]
    assert tuple(header.split(",")) == MANIFEST_COLUMNS


def test_recovery_drops_rows_of_unfinished_segments_and_torn_lines(tmp_path):
    target = tmp_path / "faces"
    with Dataset(target, {"tolerance": 0.3}) as dataset:
        dataset.write_crop(row(1), "a.jpg", b"1")
        dataset.finish_segment(SegmentRecord("v.mp4", 0, 10, 10))
        dataset.write_crop(row(12), "b.jpg", b"2")  # segment 10-20 unfinished
    with (target / MANIFEST_NAME).open("a", encoding="utf-8") as manifest:
        manifest.write("amy/c.jpg,amy,Amy,,v.mp4,13")  # a row torn by kill -9
    with (target / JOURNAL_NAME).open("a", encoding="utf-8") as journal:
        journal.write('{"video": "v.mp4", "sta')  # a torn journal line
    with Dataset(target, {"tolerance": 0.3}) as dataset:
        assert dataset.is_done("v.mp4", 0, 10)
        assert not dataset.is_done("v.mp4", 10, 20)
        assert dataset.rows_written == 1
    assert [r["path"] for r in read_manifest(target / MANIFEST_NAME)] == ["amy/a.jpg"]


def test_rows_whose_file_was_deleted_are_dropped(tmp_path):
    target = tmp_path / "faces"
    with Dataset(target, {}) as dataset:
        dataset.write_crop(row(1), "a.jpg", b"1")
        dataset.write_crop(row(2), "b.jpg", b"2")
        dataset.finish_segment(SegmentRecord("v.mp4", 0, 10, 10))
    (target / "amy" / "a.jpg").unlink()  # the user removed a bad crop
    with Dataset(target, {}):
        pass
    assert [r["path"] for r in read_manifest(target / MANIFEST_NAME)] == ["amy/b.jpg"]


def test_lock_and_settings(tmp_path):
    target = tmp_path / "faces"
    with (
        Dataset(target, {"tolerance": 0.3}),
        pytest.raises(TargetLockedError, match="another faceripper rip"),
    ):
        Dataset(target, {"tolerance": 0.3}).open()
    with pytest.raises(SettingsChangedError, match=r"tolerance: 0\.3 -> 0\.4"):
        Dataset(target, {"tolerance": 0.4}).open()
    with Dataset(target, {"tolerance": 0.4}, restart=True):
        pass  # --restart accepts the new settings


def test_a_manifest_without_journal_is_not_overwritten(tmp_path):
    target = tmp_path / "faces"
    target.mkdir()
    (target / MANIFEST_NAME).write_text(
        ",".join(MANIFEST_REQUIRED) + "\n" + "amy/x.jpg,amy,Amy,,v,1,0,1,2,3,0,0.1,9,saved\n"
    )
    with pytest.raises(UsageError, match="no run journal"):
        Dataset(target, {}).open()


def test_recovery_keeps_the_rows_a_finished_segment_wrote_past_its_end(tmp_path):
    """A segment owns frames past its planned end (faceripper.worker.owned_frames): its
    rows are kept with it, and the unfinished next segment's rows dropped."""
    target = tmp_path / "faces"
    with Dataset(target, {}) as dataset:
        for frame in (5, 25):
            dataset.write_crop(row(frame), f"a{frame}.jpg", b"jpeg")
        dataset.finish_segment(SegmentRecord("v.mp4", 0, 20, 20, owned=(0, 30)))
        dataset.write_crop(row(35), "a35.jpg", b"jpeg")  # then killed
    with Dataset(target, {}) as dataset:
        assert dataset.done[("v.mp4", 0, 20)].owned == (0, 30)
    assert [int(r["frame"]) for r in read_manifest(target / MANIFEST_NAME)] == [5, 25]
