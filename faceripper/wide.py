"""Tracks past the held-back window that show a view of their person's anchors.

The video's second step (:func:`faceripper.adaptive.decide_video`) decides the tracks the
references leave within the tolerance plus :data:`faceripper.heldback.REFERENCE_SLACK`
(0.5 at the default 0.4) of a person. A person matched with confidence in a video may
still have whole shots past that window: their one photo is far from how the video shows
them there, but the video's own confident faces are not. On the sitcom ground truth
(docs/quality.md, "Shots past the window of a person the video knows") Leonard's shot of
95 faces at 0.505 from his photo in one episode, two of his shots at 0.515 and 0.547 in
another, and Penny's faces after her head turned (0.53-0.54): each with faces within 0.3
of faces of the same person's anchors in that video, and all lost.

Such a track (nearest a person P by the references, past the window, within the
tolerance plus :data:`WIDE_SLACK`: what :func:`faceripper.worker.notes.notes_person`
keeps for the notes) is now held back too (:func:`is_wide`, with its crops), and
decided by one rule only, the strongest the video has: :func:`faceripper.adaptive.shared_views`,
its bars unchanged (at least :data:`~faceripper.adaptive.SHARED_FACES` of its faces
within :data:`~faceripper.adaptive.SHARED_VIEW` of faces of P's anchors in *this video*,
none within 0.34 of anyone else's, P its nearest person, no anchor of P nor track given
P sharing a frame with it), the references allowing P within the tolerance plus
:data:`WIDE_SLACK` instead of :data:`~faceripper.heldback.REFERENCE_SLACK`. Never the
clustering, never the near or corroborated rules, never the run's gallery
(:mod:`faceripper.runanchors` keeps the window of 0.5): a person never matched with
confidence in the video has no anchor here, so nothing changes for them, and a stranger
would need two faces within 0.3 of P's confident faces, nearer than two different
people's faces were ever seen (0.395 in ``lfw_dev``; 0.425 for Kim Hong-up and Hu
Jintao). A track so decided is reason ``shared view``; one left undecided is reason
:data:`REASON`, not counted in the notes (its notes-only record, kept beside it, is).

**Bounded** (:class:`Cap`, :func:`capped`): at most :data:`PER_PERSON` tracks past the
window per person and video are held back, the nearest to the person's references first
(ties: the earlier track); the others are dropped when their segment is committed, and a
track a nearer one pushes out later is taken out of its segment's spool then. Footage
with many strangers 0.5-0.6 from someone (a crowd, a long episode) keeps its held-back
state bounded however long the video. The video's step applies the same choice to what
its spools hold (:func:`capped`), so a run resumed after a kill, whose spools may hold
more, decides the same tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from faceripper.adaptive import decide_video, shared_views
from faceripper.heldback import REFERENCE_SLACK, Adoption, Anchor, PendingTrack

#: A track nearest a person within the tolerance plus this (past the held-back window of
#: the tolerance plus :data:`faceripper.heldback.REFERENCE_SLACK`) waits for a shared
#: view (:data:`faceripper.worker.notes.NOTES_SLACK`, the notes' window).
WIDE_SLACK = 0.2
#: The step's word on a track past the window that no shared view gave its person.
REASON = "past the window"
#: Tracks past the window held back per person and video at most (the nearest first).
PER_PERSON = 16


def is_wide(track: PendingTrack, n_people: int, tolerance: float) -> bool:
    """Whether a held-back track lies past the window: borderline (no person decided)
    and farther than the tolerance plus ``REFERENCE_SLACK`` from its nearest person."""
    if track.decided >= 0 or track.notes_only or n_people == 0:
        return False
    return float(np.min(track.ref_distance[:n_people])) > tolerance + REFERENCE_SLACK


def _key(track: PendingTrack, n_people: int) -> tuple[int, tuple[float, int, int, str]]:
    """A track past the window's nearest person and its place in that person's order:
    the nearest to the references first, then the earlier."""
    person = int(np.argmin(track.ref_distance[:n_people]))
    distance = float(track.ref_distance[person])
    return person, (distance, track.first_frame, track.last_frame, track.name)


def capped(pending: Sequence[PendingTrack], n_people: int, tolerance: float) -> set[int]:
    """The indices of the tracks past the window beyond :data:`PER_PERSON` a person."""
    by_person: dict[int, list[tuple[tuple[float, int, int, str], int]]] = {}
    for k, track in enumerate(pending):
        if is_wide(track, n_people, tolerance):
            person, key = _key(track, n_people)
            by_person.setdefault(person, []).append((key, k))
    return {k for found in by_person.values() for _, k in sorted(found)[PER_PERSON:]}


@dataclass
class Cap:
    """The tracks past the window a video's committed segments hold back, the nearest
    :data:`PER_PERSON` a person (:meth:`offer`, in commit order)."""

    #: per person: (order key, the segment ``(start, end)`` whose spool holds it)
    kept: dict[int, list[tuple[tuple[float, int, int, str], tuple[int, int]]]] = field(
        default_factory=dict
    )

    def offer(
        self,
        segment: tuple[int, int],
        pending: Sequence[PendingTrack],
        n_people: int,
        tolerance: float,
    ) -> tuple[list[PendingTrack], dict[tuple[int, int], set[str]]]:
        """A segment's held-back tracks less those past the window beyond the cap, and
        the tracks of earlier segments they push out (by segment: the tracks' names)."""
        wide = {id(t): _key(t, n_people) for t in pending if is_wide(t, n_people, tolerance)}
        for person, key in wide.values():
            self.kept[person] = sorted([*self.kept.get(person, []), (key, segment)])
        pushed: dict[tuple[int, int], set[str]] = {}
        here: set[tuple[float, int, int, str]] = set()
        for person, held in self.kept.items():
            for key, where in held[PER_PERSON:]:
                if where != segment:
                    pushed.setdefault(where, set()).add(key[3])
            self.kept[person] = held[:PER_PERSON]
            here.update(key for key, where in self.kept[person] if where == segment)
        return [t for t in pending if id(t) not in wide or wide[id(t)][1] in here], pushed


def without(
    pending: Sequence[PendingTrack], names: set[str], n_people: int, tolerance: float
) -> list[PendingTrack]:
    """``pending`` less its tracks past the window named in ``names`` (pushed out)."""
    return [t for t in pending if not (t.name in names and is_wide(t, n_people, tolerance))]


def decide(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    n_people: int,
    tolerance: float,
    *,
    trust_references: bool,
) -> list[Adoption]:
    """:func:`faceripper.adaptive.decide_video` on the tracks within the window, then the
    tracks past it (:func:`is_wide`) by shared views alone (the module docstring).

    Returns:
        One :class:`~faceripper.heldback.Adoption` per track of ``pending``, in order.
    """
    past = [k for k, t in enumerate(pending) if is_wide(t, n_people, tolerance)]
    if not past:
        return decide_video(
            pending, anchors, n_people, tolerance, trust_references=trust_references
        )
    over = capped(pending, n_people, tolerance)  # left undecided, not even seen: REASON
    wide = [k for k in past if k not in over]
    inside = [k for k in range(len(pending)) if k not in set(past)]
    order = inside + wide
    tracks = [pending[k] for k in order]
    decisions = decide_video(
        tracks[: len(inside)], anchors, n_people, tolerance, trust_references=trust_references
    )
    decisions += [Adoption(-1, float("inf"), REASON)] * len(wide)
    decisions = shared_views(
        tracks, anchors, decisions, n_people, tolerance, reasons=(REASON,), slack=WIDE_SLACK
    )
    out: list[Adoption] = [Adoption(-1, float("inf"), REASON)] * len(pending)
    for k, decision in zip(order, decisions, strict=True):
        out[k] = decision
    return out
