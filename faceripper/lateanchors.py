"""Anchors from later videos: at the run's end, the whole run's gallery revisits the tracks
its videos left undecided.

:mod:`faceripper.runanchors` lends a video's undecided tracks through the anchors of the
run's *earlier* videos only (video k sees videos 1..k-1): a person first matched with
confidence in a later video does not help the videos before it. This module closes that
gap with one pass at the run's end, the same rule and bars:

1. **Kept** (:class:`Keeper`, at each video's step): the tracks the step leaves
   undecided for a reason :func:`faceripper.runanchors.lend` may overturn
   (:data:`faceripper.runanchors.REASONS`), whose nearest person by the references is
   within the tolerance plus :data:`faceripper.heldback.REFERENCE_SLACK` and not excluded
   from them, at most :data:`PER_PERSON` per person and video spanning at most
   :data:`PER_PERSON_FRAMES` frames (the nearest to the person's references first; a
   track that does not fit is not kept), are written with their crops to the video's *kept spool*
   (``.faceripper-adapt-late-<video id>.npz``, :data:`PREFIX`) beside the video's
   anchors and the spans of the tracks its step gave a person.
2. **The run's end** (:func:`lend_kept`, after the last video's step, only when every
   video of the run is finished): the run's final gallery (the anchors of all its
   videos, :class:`faceripper.runanchors.Gallery`) lends each video's kept tracks by
   :func:`faceripper.runanchors.lend` (:func:`faceripper.adaptive.shared_views`, its
   bars unchanged: the video's own anchors, and the tracks given a person there, count
   as in its step). Reason :data:`REASON`. The crops are written by the run's one
   writer; a journal line per video given crops (``{"adapted": video, "late": true,
   "counts": ..., "unsure": ...}``, with the video's notes as the lending leaves them:
   :mod:`faceripper.latenotes`) makes the pass resumable, and the kept spool is deleted
   then.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceripper import spool
from faceripper.adaptive import SHARED_FACES
from faceripper.fileio import atomic_write_bytes
from faceripper.heldback import REFERENCE_SLACK, Adoption, Anchor, PendingTrack
from faceripper.runanchors import REASONS, lend
from faceripper.video import video_id

#: Kept tracks per person and video at most ...
PER_PERSON = 16
#: ... spanning at most this many frames together (a track has a crop a frame at most:
#: disk and memory bounded, about 10 MB per person and video at 20 KB a crop).
PER_PERSON_FRAMES = 512
#: The reason of a track lent at the run's end.
REASON = "later anchors"
#: The kept spools' names (under the writer's spool prefix: ``--restart`` clears them).
PREFIX = ".faceripper-adapt-late-"


def kept_path(target: Path, video: str) -> Path:
    """The kept spool of ``video`` in ``target``."""
    return target / f"{PREFIX}{video_id(video)}.npz"


def keepable(
    pending: Sequence[PendingTrack],
    decisions: Sequence[Adoption],
    n_people: int,
    tolerance: float,
) -> set[int]:
    """The undecided tracks a later video's anchors may still lend (see the module's 1.)."""
    by_person: dict[int, list[tuple[float, int]]] = {}
    for k, (track, decision) in enumerate(zip(pending, decisions, strict=True)):
        if decision.person >= 0 or decision.reason not in REASONS:
            continue
        if len(track.encodings) < SHARED_FACES:  # never lent: too few faces to share
            continue
        people = track.ref_distance[:n_people]
        person = track.decided if track.decided >= 0 else int(np.argmin(people))
        distance = float(track.ref_distance[person])
        if person in track.excluded or distance > tolerance + REFERENCE_SLACK:
            continue
        by_person.setdefault(person, []).append((distance, k))
    kept: set[int] = set()
    for found in by_person.values():
        frames = 0
        for _, k in sorted(found)[:PER_PERSON]:  # the nearest to the references first
            span = pending[k].last_frame - pending[k].first_frame + 1
            if frames + span <= PER_PERSON_FRAMES:
                kept.add(k)
                frames += span
    return kept


class Keeper:
    """Collects a video's kept tracks (with their crops) as its step reads its spools."""

    def __init__(
        self,
        pending: Sequence[PendingTrack],
        anchors: Sequence[Anchor],
        decisions: Sequence[Adoption],
        n_people: int,
        tolerance: float,
    ) -> None:
        self.chosen = keepable(pending, decisions, n_people, tolerance)
        self.anchors = list(anchors)
        self.decisions = list(decisions)
        # The spans of the tracks given a person (a kept track is never lent beside one).
        none = np.zeros((0, 128))
        self.given = [
            (PendingTrack(t.name, t.first_frame, t.last_frame, t.ref_distance, none), d)
            for t, d in zip(pending, decisions, strict=True)
            if d.person >= 0
        ]
        self.tracks: list[tuple[PendingTrack, Adoption]] = []

    def offer(self, index: int, track: PendingTrack) -> None:
        """Track ``index`` of the video's held-back tracks, read with its crops."""
        if index in self.chosen:
            self.tracks.append((track, self.decisions[index]))

    def save(self, target: Path, video: str) -> None:
        """Write the kept spool (durably, before the video's step is journaled); none
        when no track is kept."""
        if not self.tracks:
            return
        items = [*self.tracks, *self.given]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            video=np.array(video),
            spool=np.frombuffer(spool.pack(self.anchors, [t for t, _ in items]), np.uint8),
            person=np.array([d.person for _, d in items], dtype=np.int64),
            reason=np.array([d.reason for _, d in items]),
            video_distance=np.array([d.video_distance for _, d in items], dtype=np.float64),
        )
        atomic_write_bytes(kept_path(target, video), buffer.getvalue())


def read_kept(
    path: Path, crops: bool = True
) -> tuple[str, list[Anchor], list[PendingTrack], list[Adoption]]:
    """A kept spool: its video, the video's anchors, the tracks (kept, then given) and
    their decisions at the video's step."""
    with np.load(path, allow_pickle=False) as arrays:
        video = str(arrays["video"])
        anchors, tracks = spool.unpack(arrays["spool"].tobytes(), crops=crops)
        said = zip(arrays["person"], arrays["reason"], arrays["video_distance"], strict=True)
        decisions = [Adoption(int(p), float(d), str(r)) for p, r, d in said]
    return video, anchors, tracks, decisions


def kept_spools(target: Path) -> list[Path]:
    """The kept spools in ``target``, in name order."""
    return sorted(target.glob(f"{PREFIX}*.npz"))


def lend_kept(
    path: Path, gallery: Sequence[Anchor], n_people: int, tolerance: float
) -> tuple[str, list[tuple[PendingTrack, Adoption]], set[int]]:
    """A kept spool's video, its tracks the run's ``gallery`` lends a person
    (:func:`faceripper.runanchors.lend`; reason :data:`REASON`), with their crops, and the
    people matched with confidence in the video (an anchor of theirs there)."""
    video, anchors, tracks, decisions = read_kept(path)
    lent = lend(tracks, anchors, decisions, gallery, n_people, tolerance)
    given = [
        (track, Adoption(new.person, new.video_distance, REASON))
        for track, old, new in zip(tracks, decisions, lent, strict=True)
        if old.person < 0 <= new.person
    ]
    return video, given, {a.person for a in anchors}


def unfinished_faces(target: Path, finished: set[str]) -> set[tuple[str, int, str]]:
    """``(video, frame, face)`` of the kept tracks of videos whose run-end pass is not
    journaled (a kill in the middle: their rows are written again); the kept spools of
    videos whose pass is journaled (a kill before their deletion) are deleted."""
    faces: set[tuple[str, int, str]] = set()
    for path in kept_spools(target):
        video, _, tracks, _ = read_kept(path)
        if video in finished:
            path.unlink(missing_ok=True)
            continue
        faces.update((video, hit.frame, str(hit.face_index)) for t in tracks for hit in t.hits)
    return faces
