"""Tracks kept for the notes only: what ``rip`` can show of a person whose faces all lie
beyond the held-back window.

A person never matched with confidence is named at the end of a run with the tracks held
back nearest to them (:mod:`faceripper.unsure`). Only tracks within the tolerance plus
:data:`faceripper.heldback.REFERENCE_SLACK` of a person are held back, so a person whose
faces all lie further (Jennifer Garner's tight-crop reference photo on the footage of
seed 21: her tracks at 0.52-0.66) had nothing to show and no note. A segment therefore
also keeps, for each person, its :data:`PER_SEGMENT` nearest tracks refused by the
references that lie nearest that person and within the tolerance plus
:data:`NOTES_SLACK`, each with one crop (its face nearest the person). They travel in the
segment's spool as :class:`~faceripper.heldback.PendingTrack` with ``notes_only`` set:
the video's step never decides them and nothing of them is written to the dataset
(:func:`faceripper.commit.adapt_video`); they become candidates only for a person with
no track held back or kept in that video (:meth:`faceripper.unsure.VideoUnsure.add_far`),
and are shown only for a person with no crop in the dataset
(:func:`faceripper.unsure.report`): for anyone else they would mostly be strangers in
videos the person is not in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper.heldback import REFERENCE_SLACK, PendingTrack

#: A refused track nearest a person within the tolerance plus this (and beyond the
#: held-back window) may be shown to the user as that person's candidate.
NOTES_SLACK = 0.2
#: Such tracks kept per person and segment, nearest first (one crop each).
PER_SEGMENT = 6


def notes_person(
    median: npt.NDArray[np.float64], reason: str, n_people: int, tolerance: float
) -> int:
    """The person a track the references refused may be shown to (-1: nobody): the
    identity its median distances are nearest, a person (not a negative), beyond the
    held-back window and within ``tolerance + NOTES_SLACK``; for the reasons a
    borderline track may have (:func:`faceripper.heldback.is_borderline`).

    >>> notes_person(np.array([0.55, 0.9]), "unknown", 2, 0.4)
    0
    >>> notes_person(np.array([0.45, 0.9]), "unknown", 2, 0.4)  # held back: not here
    -1
    >>> notes_person(np.array([0.9, 0.55]), "unknown", 1, 0.4)  # nearest a negative
    -1
    """
    if reason not in ("unknown", "far", "ambiguous") or n_people == 0:
        return -1
    nearest = int(np.argmin(median))
    distance = float(median[nearest])
    if nearest >= n_people or not tolerance + REFERENCE_SLACK < distance <= tolerance + NOTES_SLACK:
        return -1
    return nearest


def for_notes(track: PendingTrack, person: int) -> PendingTrack | None:
    """``track`` as a notes-only record: its one hit nearest ``person``, no encodings
    (None: no hit)."""
    from faceripper.unsure import nearest_face

    chosen = nearest_face(track, person)
    if chosen is None:
        return None
    index = chosen[0]
    return PendingTrack(
        name=track.name,
        first_frame=track.first_frame,
        last_frame=track.last_frame,
        ref_distance=track.ref_distance,
        encodings=np.zeros((0, 128)),
        excluded=track.excluded,
        hits=[track.hits[index]],
        own_distances=[track.own_distances[index]],
        notes_only=True,
    )


def nearest_per_person(tracks: Sequence[tuple[int, PendingTrack]]) -> list[PendingTrack]:
    """The :data:`PER_SEGMENT` nearest of ``(person, track)`` per person, in their order."""
    keep: list[int] = []
    for person in sorted({p for p, _ in tracks}):
        mine = [i for i, (p, _) in enumerate(tracks) if p == person]
        mine.sort(key=lambda i: (float(tracks[i][1].ref_distance[person]), i))
        keep += mine[:PER_SEGMENT]
    return [tracks[i][1] for i in sorted(keep)]
