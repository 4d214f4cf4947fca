"""People ``rip`` is unsure of: who needs a second reference photo, and faces to confirm.

With one reference photo a person's faces can all lie 0.4-0.6 from it: no face is
matched with confidence, their tracks are held back for the video's second step
(:mod:`faceripper.adaptive`) and, with no anchor of theirs in the video, refused; or
kept as near the photo (reason ``near``), with nothing but the photo to speak for them.
The remedy measured is a second photo of the person from another occasion
(docs/quality.md, "More than one reference photo"). This module tells the user who
needs one, and shows them the faces that may be it.

When a video's second step ends (:func:`faceripper.commit.adapt_video`), a
:class:`VideoUnsure` looks at each held-back track's decision. For each person without
an anchor in the video (never matched with confidence there), it counts the tracks
refused that lie nearest that person (``held``) and the tracks kept for them without a
confident face (``near``), and keeps the :data:`PER_VIDEO` nearest of them as
candidates. A person with no such track in the video gets, instead, the tracks nearest
them beyond the held-back window that the segments kept for the notes only
(:mod:`faceripper.worker.notes`, kind ``far``; never decided, never written to the
dataset), shown at the end only if the person has no crop in the dataset.
Candidates: one crop each, the face nearest the person, written beside the dataset,
never inside it (``<target>-review/unsure/<folder>/``: a folder in the target would be a
class to dataset loaders). The tallies and the candidates go into the video's journal
line, so a resumed run still reports them. The tracks held back that the run's end may
still lend (:mod:`faceripper.lateanchors`) are listed one by one (``late``), counted as
held back until the run's end rewrites the record (:mod:`faceripper.latenotes`). At the
end of a run, :func:`report` turns the journal's records (every video of the target)
into one :class:`Notice` per person and one contact sheet per person,
``<target>-review/unsure/<folder>.png``, of their :data:`PER_SHEET` nearest candidates.
The candidate crops no sheet would show are deleted as each video ends (:func:`trim`),
so the folder stays bounded. A referenced person with no crop in the dataset and nothing
to show gets a notice too (:meth:`Notice.line`, ``videos`` 0), so that nobody is
silently absent.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceripper.config import Config
from faceripper.fileio import atomic_write_bytes
from faceripper.heldback import Adoption, Anchor, PendingTrack
from faceripper.journal import JOURNAL_NAME
from faceripper.video import video_id
from faceripper.words import counted
from faceripper.writer import crop_name, is_crop_name

log = logging.getLogger(__name__)

#: The folder of the candidates and their sheets, inside the review folder.
UNSURE_DIR = "unsure"
#: Candidate tracks kept per person and video (nearest first), one crop each.
PER_VIDEO = 6
#: Candidates on a person's sheet (nearest first, over every video).
PER_SHEET = 24
#: How the notices and sheets name the two kinds of candidate tracks.
HELD = "held back"
NEAR = "kept without a confident face"
FAR = "too far to hold back"
#: The sheets' badge of each kind of candidate.
_BADGES = {"held": "held back", "near": "kept", "far": "far"}


@dataclass(frozen=True)
class Candidate:
    """One track that may be a person's: a face of it to confirm.

    Attributes:
        person: the person's name (config key).
        video: the video key.
        track: the track's name (the manifest's ``track``).
        kind: ``held`` (held back, then refused), ``near`` (kept for the person
            without a face matched with confidence; its crops are in the dataset) or
            ``far`` (refused by the references, nearest the person but beyond the
            held-back window: :mod:`faceripper.worker.notes`).
        distance: the track's median distance to the person's references.
        face_distance: the shown face's own distance to them.
        frame: the shown face's frame.
        face: its index in the frame.
        box_trbl: its face box in the frame (top, right, bottom, left), as in the manifest.
        file: its crop, relative to the unsure folder (``<folder>/<name>.jpg``).
    """

    person: str
    video: str
    track: str
    kind: str
    distance: float
    face_distance: float
    frame: int
    face: int
    box_trbl: tuple[int, int, int, int]
    file: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Candidate:
        values = {k: data[k] for k in cls.__dataclass_fields__}
        values["box_trbl"] = tuple(int(v) for v in values["box_trbl"])
        return cls(**values)


@dataclass
class Tally:
    """A person's tracks of one kind in the videos where they were never matched with
    confidence: how many, and their distances' range."""

    tracks: int = 0
    low: float = float("inf")
    high: float = float("-inf")

    def add(self, distance: float, tracks: int = 1) -> None:
        self.tracks += tracks
        self.low = min(self.low, distance)
        self.high = max(self.high, distance)

    def merge(self, other: Tally) -> None:
        if other.tracks:
            self.add(other.low, other.tracks)
            self.high = max(self.high, other.high)

    def describe(self, what: str) -> str:
        """``4 tracks held back at 0.43-0.48`` (one distance when they are all alike)."""
        span = (
            f"{self.low:.2f}"
            if f"{self.low:.2f}" == f"{self.high:.2f}"
            else (f"{self.low:.2f}-{self.high:.2f}")
        )
        return f"{counted(self.tracks, 'track')} {what} at {span}"


def _folder(config: Config, folders: Mapping[str, str], person: int) -> str:
    label = config.people[person].label
    return folders.get(label, label)


@dataclass
class VideoUnsure:
    """What one video's second step says about people never matched with confidence.

    Feed it every held-back track with its decision (:meth:`add`) and the tracks kept
    for the notes only (:meth:`add_far`), then :meth:`write` the candidates' crops and
    put :meth:`to_json` into the video's journal line.
    """

    video: str
    config: Config
    folders: Mapping[str, str]
    anchors: Sequence[Anchor]
    tallies: dict[tuple[int, str], Tally] = field(default_factory=dict)
    candidates: dict[int, list[tuple[Candidate, bytes]]] = field(default_factory=dict)
    #: The people with an anchor in the video (matched with confidence there).
    confident: set[int] = field(init=False)
    #: Per person, the tally and nearest candidates of the tracks kept for the notes
    #: only; shown only for a person with no track held back or kept (:meth:`add_far`).
    far: dict[int, tuple[Tally, list[tuple[Candidate, bytes]]]] = field(default_factory=dict)
    #: Per person, the tracks held back and refused that the run's end may still lend
    #: (:mod:`faceripper.lateanchors`): ``(track, distance)``, counted as held back until
    #: then (:mod:`faceripper.latenotes`).
    late: dict[int, list[tuple[str, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.confident = {a.person for a in self.anchors}

    def add(self, track: PendingTrack, decision: Adoption, late: bool = False) -> None:
        """One held-back track and the video's decision on it (``late``: a track kept
        for the run's end, which may lend it)."""
        n_people = len(self.config.people)
        if decision.person >= 0:
            person, kind = decision.person, "near"
        elif track.decided >= 0:
            person, kind = track.decided, "held"
        else:
            person, kind = int(np.argmin(track.ref_distance[:n_people])), "held"
            if person in track.excluded:
                return  # it shares a frame with a track decided for them: someone else
        if person in self.confident or person >= n_people:
            return
        distance = float(track.ref_distance[person])
        if late and kind == "held":
            self.late.setdefault(person, []).append((track.name, distance))
        else:
            self.tallies.setdefault((person, kind), Tally()).add(distance)
        self.keep_nearest(self.candidates.setdefault(person, []), track, person, kind)

    def add_far(self, tracks: Sequence[PendingTrack]) -> None:
        """Tracks kept for the notes only (:mod:`faceripper.worker.notes`): the nearest
        tracks of a person beyond the held-back window. They become the person's
        candidates (kind ``far``) only when the video has no track held back or kept
        for them, so every other notice stays as it was; they decide nothing."""
        n_people = len(self.config.people)
        for track in tracks:
            person = int(np.argmin(track.ref_distance[:n_people]))
            if person in self.confident or person in track.excluded:
                continue
            tally, kept = self.far.setdefault(person, (Tally(), []))
            tally.add(float(track.ref_distance[person]))
            self.keep_nearest(kept, track, person, "far")

    def keep_nearest(
        self, kept: list[tuple[Candidate, bytes]], track: PendingTrack, person: int, kind: str
    ) -> None:
        """Add the track's face nearest ``person`` to ``kept`` (the nearest PER_VIDEO)."""
        nearest = nearest_face(track, person)
        if nearest is None:
            return
        chosen, own = track.hits[nearest[0]], nearest[1]
        folder = _folder(self.config, self.folders, person)
        name = crop_name(
            Path(self.video).stem, video_id(self.video), chosen.frame, chosen.face_index
        )
        candidate = Candidate(
            self.config.people[person].name,
            self.video,
            track.name,
            kind,
            round(float(track.ref_distance[person]), 4),
            round(own, 4),
            chosen.frame,
            chosen.face_index,
            chosen.box_trbl,
            f"{folder}/{name}",
        )
        kept.append((candidate, chosen.jpeg))
        kept.sort(key=lambda c: (c[0].distance, c[0].frame, c[0].face))
        del kept[PER_VIDEO:]

    def _settle(self) -> None:
        """The far tracks of people with nothing held back or kept, as their candidates."""
        for person, (tally, kept) in sorted(self.far.items()):
            if person in self.late or any(
                (person, kind) in self.tallies for kind in ("held", "near", "far")
            ):
                continue
            self.tallies[(person, "far")] = tally
            self.candidates[person] = kept

    def write(self, folder: Path) -> None:
        """Write the candidates' crops under ``folder`` (the unsure folder); a folder
        that cannot be written costs the candidates, never the run (logged)."""
        self._settle()
        write_candidates([c for kept in self.candidates.values() for c in kept], folder)

    def to_json(self) -> dict[str, Any]:
        """The tallies and candidates, by person name, for the journal."""
        self._settle()
        people: dict[str, Any] = {}
        for (person, kind), tally in sorted(self.tallies.items()):
            entry = people.setdefault(self.config.people[person].name, {"candidates": []})
            entry[kind] = [tally.tracks, round(tally.low, 4), round(tally.high, 4)]
        for person, tracks in sorted(self.late.items()):
            entry = people.setdefault(self.config.people[person].name, {"candidates": []})
            entry["late"] = [[name, round(distance, 4)] for name, distance in tracks]
        for person, kept in sorted(self.candidates.items()):
            if not kept:
                continue
            entry = people[self.config.people[person].name]
            entry["candidates"] = [asdict(c) for c, _ in kept]
        return people


def write_candidates(candidates: Sequence[tuple[Candidate, bytes]], folder: Path) -> None:
    """Write the candidates' crops under ``folder`` (the unsure folder); a folder that
    cannot be written costs the candidates, never the run (logged)."""
    try:
        for candidate, jpeg in candidates:
            path = folder / candidate.file
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, jpeg, fsync=False)
    except OSError as exc:
        log.warning("%s: cannot write the candidate faces: %s", folder, exc)


def nearest_face(track: PendingTrack, person: int) -> tuple[int, float] | None:
    """The index of the track's hit nearest ``person`` (saved and encoded faces first),
    and its distance; None when the track has no hit."""
    best: tuple[tuple[bool, bool, float, int], float] | None = None
    for index, (hit, own) in enumerate(zip(track.hits, track.own_distances, strict=True)):
        distance = float(own[person]) if own is not None else float(track.ref_distance[person])
        key = (hit.status != "saved", own is None, distance, index)
        if best is None or key < best[0]:
            best = (key, distance)
    return None if best is None else (best[0][3], best[1])


@dataclass(frozen=True)
class Notice:
    """What the end of a run tells the user about one person (:func:`report`).

    Attributes:
        person: the person's name.
        videos: the videos where they were never matched with confidence, but had
            tracks held back near them, kept for them without a confident face, or
            nearest them beyond the held-back window (0: a person with no crop in the
            dataset and nothing to show).
        held: those held back and refused.
        near: those kept without a face matched with confidence.
        sheet: their sheet of candidates (None: not written).
        refs: their reference photos' folder.
        candidates: the candidates on the sheet, nearest first.
        far: the tracks nearest them beyond the held-back window, in videos with none
            held back or kept for them.
    """

    person: str
    videos: int
    held: Tally
    near: Tally
    sheet: Path | None
    refs: Path
    candidates: tuple[Candidate, ...]
    far: Tally = field(default_factory=Tally)

    def line(self) -> str:
        """The notice as one line, e.g. ``Raj: never matched with confidence in 1 video;
        4 tracks at 0.43-0.48 held back -> see ...``."""
        refs = f"{_shown(self.refs)}{os.sep}"
        if not self.videos:
            return (
                f"{self.person}: no face saved, and none near enough to show -> if "
                f"{self.person} is in the videos, add another photo of them (another "
                f"occasion, the whole head) to {refs} and rerun with --restart"
            )
        parts = []
        for tally, what in ((self.held, HELD), (self.near, NEAR), (self.far, FAR)):
            if tally.tracks:
                parts.append(tally.describe(what))
        where = f"see {_shown(self.sheet)}; " if self.sheet is not None else ""
        return (
            f"{self.person}: never matched with confidence in {counted(self.videos, 'video')}; "
            f"{', '.join(parts)} -> {where}add a face that is {self.person} (or another "
            f"photo) to {refs} and rerun with --restart"
        )


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def report(
    records: Mapping[str, Mapping[str, Any]],
    config: Config,
    folders: Mapping[str, str],
    unsure_dir: Path,
    saved: Mapping[str, int] | None = None,
) -> list[Notice]:
    """The notices of a target's videos, and each person's sheet of candidates.

    ``records``: per video key, its journal's ``unsure`` entry (:meth:`VideoUnsure.to_json`).
    ``saved``: the dataset's saved crops per label: the tracks too far to hold back
    (kind ``far``) are shown only for a person with none (for anyone else they would
    mostly be strangers in videos the person is not in), and a person with none and no
    notice gets a notice of their own (``videos`` 0), so that nobody referenced is
    silently absent. Writes ``unsure_dir/<folder>.png`` per person with candidates, and deletes
    the candidate crops and sheets of ``unsure_dir`` that no notice shows (files named
    as rip names crops, and ``<folder>.png`` of the people's folders only). Sheets that
    cannot be written are logged and the notice names none.
    """
    notices: list[Notice] = []
    for index, person in enumerate(config.people):
        absent = saved is None or not saved.get(person.label, 0)
        videos, tallies, candidates = _gather(records, person.name, far=absent)
        if not videos:
            if saved is not None and absent:
                notices.append(Notice(person.name, 0, Tally(), Tally(), None, person.faces_dir, ()))
            continue
        folder = _folder(config, folders, index)
        sheet = _draw(person.name, folder, candidates, tallies, unsure_dir)
        notices.append(
            Notice(
                person.name,
                videos,
                tallies["held"],
                tallies["near"],
                sheet,
                person.faces_dir,
                tuple(candidates),
                tallies["far"],
            )
        )
    trim(records, config, folders, unsure_dir, saved=saved)
    return notices


def trim(
    records: Mapping[str, Mapping[str, Any]],
    config: Config,
    folders: Mapping[str, str],
    unsure_dir: Path,
    only: Collection[str] | None = None,
    saved: Mapping[str, int] | None = None,
) -> None:
    """Delete the candidate crops of ``unsure_dir`` that no sheet would show, and the
    sheets of people without a notice (only files rip writes there); with ``only``, the
    crops of those people alone; with ``saved`` (per label), the ``far`` crops of people
    with a crop saved too (:func:`report`). Called for the people of each video as its
    step ends, so the folder holds at most :data:`PER_SHEET` crops a person (and
    :data:`PER_VIDEO` more) however many videos a run has."""
    names = [p.name for p in config.people if only is None or p.name in only]
    far = {p.name: saved is None or not saved.get(p.label, 0) for p in config.people}
    gathered = {name: _gather(records, name, far[name]) for name in names}
    shown = {c.file for _, _, candidates in gathered.values() for c in candidates}
    noticed = {name for name, (videos, *_) in gathered.items() if videos}
    _prune(unsure_dir, config, folders, shown, noticed, set(names))


def _gather(
    records: Mapping[str, Mapping[str, Any]], name: str, far: bool = True
) -> tuple[int, dict[str, Tally], list[Candidate]]:
    """A person's videos with a record, their tallies by kind (``held``, ``near``,
    ``far``), and their :data:`PER_SHEET` nearest candidates over every video (without
    ``far``: the tracks too far to hold back left out)."""
    videos, tallies = 0, {kind: Tally() for kind in ("held", "near", "far")}
    candidates: list[Candidate] = []
    for video in sorted(records):
        entry = records[video].get(name)
        if not far and entry:
            entry = {k: v for k, v in entry.items() if k != "far"}
            entry["candidates"] = [c for c in entry.get("candidates", []) if c["kind"] != "far"]
        if not entry or not any(kind in entry for kind in (*tallies, "late")):
            continue
        videos += 1
        for kind, tally in tallies.items():
            if kind in entry:
                tracks, low, high = entry[kind]
                tally.merge(Tally(int(tracks), float(low), float(high)))
        for _, distance in entry.get("late", ()):  # not lent by the run's end: held back
            tallies["held"].add(float(distance))
        candidates += [Candidate.from_json(c) for c in entry.get("candidates", [])]
        candidates.sort(key=lambda c: (c.distance, c.video, c.frame, c.face))
        del candidates[PER_SHEET:]
    return videos, tallies, candidates


def _draw(
    name: str,
    folder: str,
    candidates: Sequence[Candidate],
    tallies: Mapping[str, Tally],
    unsure_dir: Path,
) -> Path | None:
    """Draw one person's sheet of candidates; None when it cannot be written."""
    from faceripper.errors import ImageReadError, UsageError
    from faceripper.images import load_rgb
    from faceripper.sheets import BLACK, GREY, RED, SheetTile, draw_sheet, fit_square, save_sheet

    thumb = 160
    tiles = []
    for rank, candidate in enumerate(candidates, 1):
        try:
            image = fit_square(load_rgb(unsure_dir / candidate.file), thumb)
        except ImageReadError:
            image = None
        held_back = candidate.kind == "held"
        tiles.append(
            SheetTile(
                image,
                [(f"face {candidate.face_distance:.3f}", BLACK)],
                RED if held_back else GREY,
                2 if held_back else 1,
                badge=f"{rank} {_BADGES.get(candidate.kind, candidate.kind)}",
                small=[
                    (f"track {candidate.distance:.3f}", GREY),
                    (f"{Path(candidate.video).name} f{candidate.frame}", GREY),
                    (Path(candidate.file).name, GREY),
                ],
            )
        )
    summary = "; ".join(
        tallies[kind].describe(what)
        for kind, what in (("held", HELD), ("near", NEAR), ("far", FAR))
        if tallies[kind].tracks
    )
    title = f"is this {name}?"
    path = unsure_dir / f"{folder}.png"
    try:
        unsure_dir.mkdir(parents=True, exist_ok=True)
        sheet = draw_sheet(title, summary, GREY, tiles, thumb, 6, 1)
        save_sheet(sheet, path)
    except (OSError, UsageError) as exc:
        log.warning("%s: cannot write the sheet of candidates: %s", path, exc)
        return None
    return path


def _prune(
    unsure_dir: Path,
    config: Config,
    folders: Mapping[str, str],
    shown: set[str],
    noticed: set[str],
    people: set[str],
) -> None:
    """Delete the crops of ``people`` no sheet shows, and the sheets of those of them
    without a notice (only files rip writes there)."""
    if not unsure_dir.is_dir():
        return
    for index, person in enumerate(config.people):
        if person.name not in people:
            continue
        folder = _folder(config, folders, index)
        if person.name not in noticed:
            (unsure_dir / f"{folder}.png").unlink(missing_ok=True)
        crops = unsure_dir / folder
        if not crops.is_dir():
            continue
        for path in crops.iterdir():
            if is_crop_name(path.name) and f"{folder}/{path.name}" not in shown:
                path.unlink(missing_ok=True)
        if not any(crops.iterdir()):
            crops.rmdir()
    if not any(unsure_dir.iterdir()):
        unsure_dir.rmdir()


def journal_candidates(target: Path) -> list[Candidate]:
    """The candidates the journal of ``target`` records, video by video, in its order."""
    journal = target / JOURNAL_NAME
    entries = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    return [
        Candidate.from_json(c)
        for entry in entries
        for person in entry.get("unsure", {}).values()
        for c in person["candidates"]
    ]


def unsure_dir_for(target: Path) -> Path:
    """The candidates' folder: ``<target>-review/unsure``, beside the dataset."""
    from faceripper.review import review_dir_for

    return review_dir_for(target) / UNSURE_DIR
