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

What was corrected then informs later runs (:func:`learn`, called by ``rip`` at start):

- the face of a deleted crop is **excluded** from its person: a later face nearer to it
  than to any of that person's references is not that person
  (:func:`faceripper.matching.person_distances`); other people are not affected, so
  deleting a look-alike of one person never costs another person their faces;
- the face of a moved crop becomes a **reference** of its new person, and is excluded
  from its old one;
- a face the user corrected is never written again as the person it was taken from: a
  rerun of its frame (``--restart``, or a segment an interrupted run had not finished)
  writes a moved face as its new person and skips a deleted one.

The faces are encoded from the videos (the deleted crop's file is gone): at the start
of the next ``rip`` that has the crop's video, the frame is decoded and the face at the
manifest's box encoded with the run's landmark model, as the run itself did. The
encodings are stored in the log, so this happens once.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from faceripper import wholeclass
from faceripper.errors import UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.geometry import iou
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
from faceripper.matching import EXCLUDED
from faceripper.words import counted

if TYPE_CHECKING:
    from faceripper.worker import FaceHit, References, SegmentResult

CORRECTIONS_NAME = ".faceripper-corrections.jsonl"
#: A rerun face is the corrected one when their boxes overlap this much (same frame).
SAME_FACE_IOU = 0.5

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


def _write_corrections(target: Path, corrections: Iterable[Correction]) -> None:
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
        _write_corrections(target, [*known, *new])  # first: a kill leaves the row to redo
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


# ---------------------------------------------------------------------- learning


@dataclass(frozen=True)
class Learned:
    """What the corrections teach a run about its people.

    Attributes:
        references: ``(k, 128)`` float64 encodings of moved faces ...
        reference_person: ``(k,)`` int64 ... and the person (index) each now belongs to.
        exclusions: ``(e, 128)`` float64 encodings of deleted (or moved) faces ...
        excluded_person: ``(e,)`` int64 ... and the person each is not.
        verdicts: per ``(video, frame)``, the corrected faces of that frame: box, the
            people it is not, and the person it is (or -1).
        pending: corrections whose face could not be encoded (video not in this run).
    """

    references: npt.NDArray[np.float64]
    reference_person: npt.NDArray[np.int64]
    exclusions: npt.NDArray[np.float64]
    excluded_person: npt.NDArray[np.int64]
    verdicts: dict[tuple[str, int], list[tuple[tuple[int, int, int, int], frozenset[int], int]]]
    pending: int = 0

    @classmethod
    def nothing(cls) -> Learned:
        """No corrections."""
        empty = np.zeros((0, 128))
        none = np.zeros(0, dtype=np.int64)
        return cls(empty, none, empty.copy(), none.copy(), {})

    def __len__(self) -> int:
        return len(self.references) + len(self.exclusions)

    def extend(
        self, encodings: npt.NDArray[np.float64], person: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
        """Reference rows with the learnt ones added: moved faces as references of their
        new person, exclusions with the person code ``EXCLUDED - q``
        (:func:`faceripper.matching.person_distances`)."""
        return (
            np.concatenate([encodings, self.references, self.exclusions]).reshape(-1, 128),
            np.concatenate([person, self.reference_person, EXCLUDED - self.excluded_person]),
        )

    def verdict(
        self, video: str, frame: int, box_trbl: tuple[int, int, int, int]
    ) -> tuple[frozenset[int], int] | None:
        """The user's verdict on a face, if it is one they corrected: (not, is)."""
        entries = self.verdicts.get((video, frame))
        if not entries:
            return None
        boxes = np.array([e[0] for e in entries], dtype=np.int64)
        overlap = iou(np.array([box_trbl], dtype=np.int64), boxes)[0]
        best = int(np.argmax(overlap))
        if overlap[best] < SAME_FACE_IOU:
            return None
        return entries[best][1], entries[best][2]


def learn(
    target: Path,
    people: Sequence[str],
    videos: Mapping[str, Path],
    landmarks: str = "5",
) -> Learned:
    """The corrections of ``target`` as encodings and verdicts for a run.

    Faces not yet encoded for ``landmarks`` are encoded from their video, when
    ``videos`` (video key -> file) has it, and the encodings are stored in the log.

    Args:
        target: the dataset.
        people: the run's people (config names), in identity order.
        videos: the run's videos by key.
        landmarks: the run's landmark model (encodings made with one do not mix with
            the other).
    """
    corrections = read_corrections(target)
    if not corrections:
        return Learned.nothing()
    missing = [
        i for i, c in enumerate(corrections) if landmarks not in c.encodings and c.video in videos
    ]
    if missing:
        found = _encode_faces([corrections[i] for i in missing], videos, landmarks)
        for i, encoding in zip(missing, found, strict=True):
            if encoding is not None:
                corrections[i] = replace(
                    corrections[i],
                    encodings={**corrections[i].encodings, landmarks: encoding.tolist()},
                )
        if any(e is not None for e in found):
            _write_corrections(target, corrections)
    index = {name: i for i, name in enumerate(people)}
    refs, ref_person, excl, excl_person = [], [], [], []
    nots: dict[tuple[str, int, tuple[int, int, int, int]], set[int]] = defaultdict(set)
    is_: dict[tuple[str, int, tuple[int, int, int, int]], int] = {}
    pending = 0
    for c in corrections:  # in the order they were made: a later verdict wins
        where = (c.video, c.frame, c.box_trbl)
        old = index.get(c.person, -1)
        new = index.get(c.to_person, -1) if c.kind == "moved" and c.to_person else -1
        if old >= 0:
            nots[where].add(old)
            if is_.get(where) == old:
                is_[where] = -1
        if new >= 0:
            is_[where] = new
            nots[where].discard(new)
        stored = c.encodings.get(landmarks)
        if stored is None:
            pending += 1
            continue
        if old >= 0:
            excl.append(stored)
            excl_person.append(old)
        if new >= 0:
            refs.append(stored)
            ref_person.append(new)
    verdicts: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for (video, frame, box), not_people in nots.items():
        verdicts[(video, frame)].append(
            (box, frozenset(not_people), is_.get((video, frame, box), -1))
        )
    return Learned(
        np.array(refs, dtype=np.float64).reshape(-1, 128),
        np.array(ref_person, dtype=np.int64),
        np.array(excl, dtype=np.float64).reshape(-1, 128),
        np.array(excl_person, dtype=np.int64),
        dict(verdicts),
        pending,
    )


def _encode_faces(
    corrections: Sequence[Correction], videos: Mapping[str, Path], landmarks: str
) -> list[npt.NDArray[np.float64] | None]:
    """The encoding of each correction's face, decoded from its video (None: unreadable)."""
    from faceripper.encoder import encode_faces
    from faceripper.video import VideoError, iter_frames, scan_video

    result: list[npt.NDArray[np.float64] | None] = [None] * len(corrections)
    by_video: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(corrections):
        by_video[c.video].append(i)
    for video, members in by_video.items():
        frames: dict[int, list[int]] = defaultdict(list)
        for i in members:
            frames[corrections[i].frame].append(i)
        try:
            scan = scan_video(videos[video])
            for start, end in _runs(sorted(frames)):
                for decoded in iter_frames(videos[video], scan, start, end):
                    if decoded.index not in frames:
                        continue
                    image = decoded.rgb()
                    wanted = frames[decoded.index]
                    boxes = np.array([corrections[i].box_trbl for i in wanted], dtype=np.int64)
                    faces = encode_faces(image, boxes, landmark_model=landmarks, jitters=1)  # type: ignore[arg-type]
                    for i, encoding in zip(wanted, faces.encodings, strict=True):
                        if np.all(np.isfinite(encoding)):
                            result[i] = np.asarray(encoding, dtype=np.float64)
        except (VideoError, OSError):
            continue
    return result


def _runs(frames: Sequence[int], gap: int = 120) -> list[tuple[int, int]]:
    """Frame ranges ``[start, end)`` covering ``frames`` (sorted), split where the gap
    exceeds ``gap`` (a seek is cheaper than decoding that many frames).

    >>> _runs([3, 5, 400, 401])
    [(3, 6), (400, 402)]
    """
    runs: list[tuple[int, int]] = []
    for frame in frames:
        if runs and frame - runs[-1][1] <= gap:
            runs[-1] = (runs[-1][0], frame + 1)
        else:
            runs.append((frame, frame + 1))
    return runs


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


def prepare_run(
    target: Path,
    people: Sequence[str],
    videos: Mapping[str, Path],
    landmarks: str,
    restart: bool = False,
) -> tuple[ReconcileReport, Learned]:
    """What ``rip`` does first: reconcile ``target`` (for ``--restart``?), then learn."""
    report = reconcile(target, restart=restart)
    return report, learn(target, people, videos, landmarks)


def with_learned(references: References, learned: Learned) -> References:
    """The run's references with the learnt rows added (:meth:`Learned.extend`)."""
    if not len(learned):
        return references
    encodings, person = learned.extend(references.encodings, references.person)
    return replace(references, encodings=encodings, person=person)


def judge(
    learned: Learned | None, video: str, result: SegmentResult
) -> Iterator[tuple[FaceHit, str]]:
    """A segment's hits as the user's corrections say, with their ``corrected`` value.

    A face the user moved comes out as its new person (``"moved"``); a face they took
    out of a person's folder is not written as that person again (counted in
    ``result.counts["corrected_skipped"]``); every other hit is unchanged (``""``).
    """
    for hit in result.hits:
        verdict = learned.verdict(video, hit.frame, hit.box_trbl) if learned else None
        if verdict is None:
            yield hit, ""
            continue
        not_people, is_person = verdict
        if is_person >= 0:
            yield (hit if hit.person == is_person else replace(hit, person=is_person)), "moved"
        elif hit.person in not_people:
            result.counts["corrected_skipped"] += 1
        else:
            yield hit, ""
