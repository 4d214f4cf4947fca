"""Corrections by hand, kept and learnt: ``faceripper reconcile`` and the start of ``rip``.

After a look at the crops (``faceripper review``), a user fixes the dataset with the
file system: deletes a wrong crop from ``T/<label>/``, or moves it into the right
person's class folder. :func:`reconcile` compares the class folders with the manifest
and records what changed:

- a manifest row whose file is now in another class folder (same file name) is
  **moved**: its row is updated to that folder's person, with ``corrected`` = ``moved``;
- a manifest row whose file is gone is **deleted**: its row is dropped.

Each correction is appended to ``T/.faceripper-corrections.jsonl`` (a file at ``T``'s
root, like the other run state: loaders take every folder of ``T`` as a class). The log
survives ``rip --restart``: it is the user's knowledge, not a run's state.

What was corrected then informs later runs (a deleted face excluded from its person, a
moved one a reference of its new person): :mod:`faceripper.learned`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from faceripper import wholeclass
from faceripper.errors import UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.journal import JOURNAL_NAME, read_jsonl
from faceripper.lock import LOCK_NAME, TargetLock
from faceripper.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    check_manifest_header,
    dataset_manifest,
    folder_of,
    read_manifest,
)
from faceripper.words import counted

CORRECTIONS_NAME = ".faceripper-corrections.jsonl"

Kind = Literal["deleted", "moved"]


@dataclass(frozen=True)
class Correction:
    """One crop the user deleted or moved.

    Attributes:
        kind: ``"deleted"`` or ``"moved"``.
        video: the video key (manifest ``video``).
        frame: the frame index.
        face: the face's index in the frame (manifest ``face``).
        box_trbl: the face box, as in the manifest.
        person: the person (config name) the crop was written as.
        label: that person's label.
        path: where the crop was (manifest ``path``).
        to_person: for ``moved``, the person of the folder it was moved to; ``""`` when
            that folder is no person's class folder.
        to_path: for ``moved``, where it is now.
        encodings: the face's 128-d encoding per landmark model (``"5"``, ``"68"``),
            once learnt.
    """

    kind: Kind
    video: str
    frame: int
    face: int
    box_trbl: tuple[int, int, int, int]
    person: str
    label: str
    path: str
    to_person: str = ""
    to_path: str = ""
    encodings: dict[str, list[float]] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, int, int, str]:
        """What identifies a correction: kind, video, frame, face, person."""
        return (self.kind, self.video, self.frame, self.face, self.person)

    def to_json(self) -> str:
        data = asdict(self)
        data["box_trbl"] = list(self.box_trbl)
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Correction:
        return cls(
            kind="moved" if data["kind"] == "moved" else "deleted",
            video=str(data["video"]),
            frame=int(data["frame"]),
            face=int(data.get("face", 0)),
            box_trbl=tuple(int(v) for v in data["box_trbl"]),  # type: ignore[arg-type]
            person=str(data["person"]),
            label=str(data.get("label", "")),
            path=str(data.get("path", "")),
            to_person=str(data.get("to_person", "")),
            to_path=str(data.get("to_path", "")),
            encodings={str(k): [float(x) for x in v] for k, v in data.get("encodings", {}).items()},
        )


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found (this time) and what the log holds (in all)."""

    target: Path
    deleted: list[Correction] = field(default_factory=list)
    moved: list[Correction] = field(default_factory=list)
    #: Moved into a folder that is no person's class folder (counted as deleted).
    strays: list[Correction] = field(default_factory=list)
    #: Crop files in class folders that the manifest does not list (left alone).
    unlisted: int = 0
    #: Corrections in the log, this run's included.
    total: int = 0
    #: Crops of class folders deleted whole under ``rip --restart``: not recorded.
    restarted: list[Correction] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether this reconcile found anything new."""
        return bool(self.deleted or self.moved or self.strays or self.restarted)


def corrections_path(target: Path) -> Path:
    """The corrections log of the dataset ``target``."""
    return target / CORRECTIONS_NAME


def read_corrections(target: Path) -> list[Correction]:
    """The corrections recorded for ``target`` (a torn last line is ignored)."""
    return [Correction.from_json(d) for d in read_jsonl(corrections_path(target)) if "kind" in d]


def write_corrections(target: Path, corrections: Iterable[Correction]) -> None:
    """Replace the corrections log of ``target`` with ``corrections`` (atomically)."""
    text = "".join(c.to_json() + "\n" for c in corrections)
    atomic_write_bytes(corrections_path(target), text.encode("utf-8"))


def _people_of(target: Path, rows: Sequence[dict[str, str]]) -> dict[str, tuple[str, str, str]]:
    """Class folder -> (person, label, group), from the journal's settings and the rows."""
    people: dict[str, tuple[str, str, str]] = {}
    records = read_jsonl(target / JOURNAL_NAME)
    settings = records[0].get("settings", {}) if records else {}
    label_format = str(settings.get("label_format") or "{label}")
    for entry in settings.get("people", []):
        with contextlib.suppress(KeyError, ValueError, IndexError, TypeError):
            name, label, group = (str(v) for v in entry)
            people[label_format.format(label=label, group=group, person=name)] = (
                name,
                label,
                group,
            )
    for row in rows:
        folder = folder_of(row["path"])
        if folder is not None and row["status"] == "saved":
            people.setdefault(folder, (row["person"], row["label"], row["group"]))
    return people


def reconcile(
    target: Path, lock: bool = True, dry_run: bool = False, restart: bool = False
) -> ReconcileReport:
    """Compare ``target``'s class folders with its manifest; record and apply the changes.

    Args:
        target: a dataset written by ``rip``.
        lock: take the target's lock (``rip`` calls it before it takes the lock itself).
        dry_run: only report: record nothing, change nothing.
        restart: for ``rip --restart`` (:func:`faceripper.wholeclass.check`).

    Returns:
        What changed since the last reconcile. A target without a manifest has nothing
        to reconcile.

    Raises:
        TargetLockedError: a ``rip`` is writing to ``target``.
        UsageError: the manifest cannot be read, or a class folder renamed or deleted whole.
    """
    report = ReconcileReport(target)
    manifest = target / MANIFEST_NAME
    if not manifest.is_file():
        report.total = len(read_corrections(target))
        return report
    held = TargetLock(target / LOCK_NAME) if lock else None
    if held is not None:
        held.acquire()
    try:
        check_manifest_header(manifest)  # a file of the user's is never rewritten
        return _reconcile(target, report, dry_run, restart)
    finally:
        if held is not None:
            held.release()


def reconcile_dataset(target: Path, dry_run: bool = False) -> ReconcileReport:
    """:func:`reconcile` for the command line: ``target`` must be a dataset.

    Raises:
        UsageError: ``target`` or its manifest is missing.
        TargetLockedError: a ``rip`` is writing to ``target``.
    """
    dataset_manifest(target)
    return reconcile(target, dry_run=dry_run)


def _reconcile(target: Path, report: ReconcileReport, dry: bool, restart: bool) -> ReconcileReport:
    manifest = target / MANIFEST_NAME
    try:
        rows = read_manifest(manifest)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{manifest}: cannot read the manifest: {exc}") from exc
    people = _people_of(target, rows)
    # Where every crop file of every class folder is now, by file name.
    found: dict[str, list[str]] = defaultdict(list)
    for folder in sorted(p for p in target.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for crop in folder.glob("*.jpg"):
            found[crop.name].append(folder.name)
    listed = {r["path"] for r in rows}
    unsure = _unfinished_prunes(target)
    known = read_corrections(target)
    keys = {c.key for c in known}
    new: list[Correction] = []
    keep: list[dict[str, str]] = []
    for row in rows:
        class_folder = folder_of(row["path"])
        if (
            row["status"] != "saved"
            or class_folder is None
            or (target / row["path"]).is_file()
            or row["video"] in unsure
        ):
            keep.append(row)
            continue
        name = row["path"].split("/")[1]
        elsewhere = [f for f in found.get(name, []) if f"{f}/{name}" not in listed]
        base = Correction(
            kind="deleted",
            video=row["video"],
            frame=int(row["frame"]),
            face=int(row.get("face") or 0),
            box_trbl=tuple(int(row[k]) for k in ("top", "right", "bottom", "left")),  # type: ignore[arg-type]
            person=row["person"],
            label=row["label"],
            path=row["path"],
        )
        if elsewhere:
            to = elsewhere[0]
            to_person = people.get(to)
            correction = replace(
                base,
                kind="moved",
                to_person=to_person[0] if to_person else "",
                to_path=f"{to}/{name}",
            )
            if to_person is None:
                report.strays.append(correction)
            else:
                report.moved.append(correction)
                person, label, group = to_person
                keep.append(
                    {
                        **row,
                        "path": f"{to}/{name}",
                        "person": person,
                        "label": label,
                        "group": group,
                        "corrected": "moved",
                    }
                )
                listed.add(f"{to}/{name}")
        else:
            correction = base
            report.deleted.append(correction)
        if correction.key not in keys:
            keys.add(correction.key)
            new.append(correction)
    not_recorded = wholeclass.check(target, rows, report, restart)
    new = [c for c in new if c.key not in not_recorded]
    keep += wholeclass.rows_to_keep(rows, report)
    report.unlisted = sum(
        1 for name, folders in found.items() for f in folders if f"{f}/{name}" not in listed
    )
    report.total = len(known) + len(new)
    if dry:
        return report
    if new:
        write_corrections(target, [*known, *new])  # first: a kill leaves the row to redo
    if len(keep) != len(rows) or report.moved or _header(manifest) != list(MANIFEST_COLUMNS):
        # (a manifest of an earlier version gets the current columns, so that the rows
        # this run appends match its header)
        _replace_manifest(manifest, keep)
    return report


def _unfinished_prunes(target: Path) -> set[str]:
    """Videos whose ``--max-per-video`` pruning may be half done: a kill between its
    deletions and its manifest rewrite leaves rows without files that are not the user's
    deletions. Their rows are left to ``rip``'s recovery."""
    records = read_jsonl(target / JOURNAL_NAME)
    if not records or not records[0].get("settings", {}).get("max_per_video"):
        return set()
    pruned = {str(r["pruned"]) for r in records[1:] if "pruned" in r}
    videos = {str(r["video"]) for r in records[1:] if "video" in r}
    return videos - pruned


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle), [])


def _replace_manifest(path: Path, rows: Sequence[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=MANIFEST_COLUMNS, lineterminator="\n", restval="", extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode("utf-8"))


def describe(report: ReconcileReport) -> list[str]:
    """Lines for the command line."""
    lines = []
    for c in report.deleted:
        lines.append(f"deleted: {c.path} (not {c.person})")
    for c in report.moved:
        lines.append(f"moved: {c.path} -> {c.to_path} (now {c.to_person})")
    for c in report.strays:
        lines.append(
            f"moved: {c.path} -> {c.to_path}, not a person's class folder: "
            f"counted as deleted (not {c.person})"
        )
    lines += wholeclass.describe(report)
    lines.append(
        f"{report.target}: {len(report.deleted)} deleted, {len(report.moved)} moved"
        + (f", {len(report.strays)} moved out of the classes" if report.strays else "")
        + f" since the last run; {counted(report.total, 'correction')} in all"
    )
    return lines
