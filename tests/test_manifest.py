"""The manifest file, the journal and the target lock, each on its own (faceripper.manifest,
faceripper.journal, faceripper.lock); tests/test_writer.py tests them together."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from faceripper.errors import UsageError
from faceripper.journal import (
    JOURNAL_FORMAT,
    SegmentRecord,
    SettingsChangedError,
    append_line,
    check_header,
    read_jsonl,
    start_journal,
)
from faceripper.lock import TargetLock, TargetLockedError
from faceripper.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    MANIFEST_REQUIRED,
    ManifestFile,
    ManifestRow,
    dataset_manifest,
    ends_with_newline,
    folder_of,
    read_manifest,
    saved_rows,
)


def _values(path: str, status: str = "saved") -> list[str]:
    values = dict.fromkeys(MANIFEST_COLUMNS, "0")
    values.update(path=path, label="amy", person="Amy", group="", video="v.mp4", status=status)
    return [values[c] for c in MANIFEST_COLUMNS]


def test_a_new_manifest_gets_its_header_then_the_rows(tmp_path: Path) -> None:
    manifest = ManifestFile(tmp_path / MANIFEST_NAME)
    manifest.open()
    manifest.append(_values("amy/a.jpg"))
    manifest.flush(durable=True)
    manifest.close()
    manifest.open()  # reopened: no second header
    manifest.append(_values("amy/b.jpg"))
    manifest.close()
    lines = list(csv.reader((tmp_path / MANIFEST_NAME).open(encoding="utf-8")))
    assert lines[0] == list(MANIFEST_COLUMNS)
    assert [line[0] for line in lines[1:]] == ["amy/a.jpg", "amy/b.jpg"]


def test_replace_rewrites_the_whole_file_and_appending_goes_on(tmp_path: Path) -> None:
    manifest = ManifestFile(tmp_path / MANIFEST_NAME)
    manifest.open()
    for name in ("a", "b", "c"):
        manifest.append(_values(f"amy/{name}.jpg"))
    rows = read_manifest(manifest.path)
    manifest.replace([rows[0], rows[2]])
    manifest.append(_values("amy/d.jpg"))
    manifest.close()
    assert [r["path"] for r in read_manifest(manifest.path)] == [
        "amy/a.jpg",
        "amy/c.jpg",
        "amy/d.jpg",
    ]


def test_a_row_is_written_in_the_columns_order_rounded(tmp_path: Path) -> None:
    assert MANIFEST_COLUMNS[: len(MANIFEST_REQUIRED)] == MANIFEST_REQUIRED
    row = ManifestRow(
        "amy", "Amy", "g", "dir/v.mp4", 12, 0.4999, 10, 60, 70, 20, 0.123456, 87.25, "blurry",
        "3", False, 1, "moved", "followed", -21.04, 3.96,
    )  # fmt: skip
    manifest = ManifestFile(tmp_path / MANIFEST_NAME)
    manifest.open()
    manifest.append(["amy/a.jpg", *row.values()])
    manifest.close()
    (written,) = read_manifest(manifest.path)
    assert written == {
        "path": "amy/a.jpg",
        "label": "amy",
        "person": "Amy",
        "group": "g",
        "video": "dir/v.mp4",
        "frame": "12",
        "time_s": "0.500",
        "top": "10",
        "right": "60",
        "bottom": "70",
        "left": "20",
        "distance": "0.1235",
        "sharpness": "87.2",
        "status": "blurry",
        "track": "3",
        "encoded": "0",
        "face": "1",
        "corrected": "moved",
        "detector": "followed",
        "yaw": "-21.0",
        "roll": "4.0",
    }


def test_a_face_without_landmarks_has_empty_pose_columns() -> None:
    row = ManifestRow(
        "amy", "Amy", "", "v.mp4", 1, 0.0, 10, 60, 70, 20, 0.3, 80.0, "saved", "1", True, 0, "",
        "hog",
    )  # fmt: skip
    assert row.values()[-2:] == ["", ""]


@pytest.mark.parametrize(("text", "expected"), [(b"", True), (b"a,b\n", True), (b"a,b\nc,", False)])
def test_ends_with_newline(tmp_path: Path, text: bytes, expected: bool) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(text)
    assert ends_with_newline(path) is expected


@pytest.mark.parametrize(
    ("path", "folder"),
    [
        ("amy/a.jpg", "amy"),
        ("a.jpg", None),
        ("amy/sub/a.jpg", None),
        ("../amy/a.jpg", None),
        ("./a.jpg", None),
        ("/a.jpg", None),
    ],
)
def test_folder_of(path: str, folder: str | None) -> None:
    assert folder_of(path) == folder


def test_saved_rows_split_present_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "amy").mkdir()
    (tmp_path / "amy" / "a.jpg").write_bytes(b"jpeg")
    manifest = ManifestFile(tmp_path / MANIFEST_NAME)
    manifest.open()
    manifest.append(_values("amy/a.jpg"))
    manifest.append(_values("amy/gone.jpg"))
    manifest.append(_values("amy/blurry.jpg", status="blurry"))
    manifest.append(_values("../outside.jpg"))
    manifest.close()
    present, missing = saved_rows(tmp_path, manifest.path)
    assert [r["path"] for r in present] == ["amy/a.jpg"]
    assert [r["path"] for r in missing] == ["amy/gone.jpg"]


def test_dataset_manifest_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="dataset folder does not exist"):
        dataset_manifest(tmp_path / "nowhere")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="dataset folder is not a folder"):
        dataset_manifest(tmp_path / "file")
    with pytest.raises(UsageError, match=r"no manifest: .* is not a dataset written by"):
        dataset_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("")
    assert dataset_manifest(tmp_path) == tmp_path / MANIFEST_NAME


def test_journal_header_lines_and_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    start_journal(path, {"tolerance": 0.4})
    record = SegmentRecord("v.mp4", 0, 300, 300, owned=(5, 310))
    append_line(path, record.to_json())
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"video": "v.mp4", "sta')  # a kill in the middle of a line
    header, data = read_jsonl(path)
    assert header["format"] == JOURNAL_FORMAT
    assert header["settings"] == {"tolerance": 0.4}
    assert SegmentRecord.from_json(data) == record
    assert SegmentRecord.from_json(data).rows_range == (5, 310)


def test_check_header_refuses_a_foreign_journal_and_changed_settings(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with pytest.raises(UsageError, match="not a faceripper journal"):
        check_header(path, {"format": "other"}, {}, tmp_path)
    header = {"format": JOURNAL_FORMAT, "settings": {"tolerance": 0.4, "size": 256}}
    check_header(path, header, {"tolerance": 0.4, "size": 256}, tmp_path)
    with pytest.raises(SettingsChangedError) as caught:
        check_header(path, header, {"tolerance": 0.5, "size": 128}, tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: made by a run with other settings (size: 256 -> 128, "
        "tolerance: 0.4 -> 0.5); rerun with the same options, use --restart to start "
        "over, or choose another --target-dir"
    )
    # A setting the journal does not know: made before that setting existed.
    with pytest.raises(SettingsChangedError) as caught:
        check_header(path, header, {"tolerance": 0.5, "size": 256, "run_anchors": True}, tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: made by an older faceripper, without the setting run_anchors; use "
        "--restart to redo it with this version, or choose another --target-dir"
    )
    # --blur 80 moves the floor it implies to two thirds of 80: shown as a person reads it
    header = {"format": JOURNAL_FORMAT, "settings": {"blur_threshold": 75.0, "blur_floor": 50.0}}
    with pytest.raises(SettingsChangedError) as caught:
        check_header(path, header, {"blur_threshold": 80.0, "blur_floor": 80 * 2 / 3}, tmp_path)
    assert "(blur_floor: 50 -> 53.3333, blur_threshold: 75 -> 80)" in str(caught.value)


def test_the_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    first, second = TargetLock(tmp_path / ".lock"), TargetLock(tmp_path / ".lock")
    first.acquire()
    with pytest.raises(TargetLockedError, match="another faceripper rip is writing"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()
