"""Tracks too far from their person by the median, cut where one end is decided alone.

A face the detector keeps through a long stretch where it is hard to recognise (dlib's
CNN keeps a turned head that HOG loses, so the track is not cut there) can bring the
median distance of a track that votes for one person over the tolerance plus
:data:`faceripper.tracks.MEDIAN_SLACK`, and none of it is saved, where HOG, losing the
face during the turn, decides the rest alone. :func:`trim_far` cuts such a track once.
"""

from __future__ import annotations

import numpy as np

from faceripper.tracks import SETTLED_VOTES, Decision, Track, decide, track_part, vote

#: A track is cut by :func:`trim_far` only where the part it keeps has at least this many
#: votes, all for its person.
TRIM_MIN_VOTES = SETTLED_VOTES


def trim_far(
    tracks: list[Track],
    decisions: list[Decision],
    tolerance: float,
    gap: float,
    n_people: int | None = None,
) -> tuple[list[Track], list[Decision]]:
    """Cut tracks whose person is too far by the median, where one end is decided alone.

    A face the detector keeps through a stretch where it is hard to recognise (dlib's
    CNN keeps a turned head that HOG loses, and the track is not cut there) can bring
    the median distance of a track that votes for one person over
    ``tolerance + MEDIAN_SLACK`` (reason ``"far"``). Such a track, with votes for one
    person only, is cut once, before one of its encoded faces, where the longer end part
    (the faces before the cut, or from it on) is decided (:func:`decide`) for that
    person with at least :data:`TRIM_MIN_VOTES` votes; of those cuts, the one keeping
    the most faces (the earliest of equals). The other part is decided on its own. So
    one lucky face still carries no track: the kept part is decided by the same rules.

    Measured on the Hamilton clip with ``--model cnn``: Lin-Manuel Miranda's frontal
    close-up (frames 82-210) is one track of 129 faces, 4 votes, median 0.503 from his
    reference; HOG loses it at 108-123 and its later track is decided alone.

    Args:
        tracks: the tracks of one segment; ``decisions`` their decisions, in order.
        tolerance, gap, n_people: as for :func:`decide`.

    Returns:
        The tracks, each cut one replaced by its two parts (in order, the first keeping
        its name, the second named ``<name>~<frame>.<face index>`` of its first face),
        and their decisions.
    """
    out_tracks: list[Track] = []
    out_decisions: list[Decision] = []
    for track, decision in zip(tracks, decisions, strict=True):
        cut = _trim_cut(track, decision, tolerance, gap, n_people)
        if cut is None:
            out_tracks.append(track)
            out_decisions.append(decision)
            continue
        observations = track.observations
        first = observations[cut]
        later = f"{track.name}~{first.frame}.{first.face_index}"
        parts = [
            track_part(track.name, observations[:cut], tolerance, gap),
            track_part(later, observations[cut:], tolerance, gap),
        ]
        out_tracks += parts
        out_decisions += [decide(p, tolerance, gap, n_people) for p in parts]
    return out_tracks, out_decisions


def _trim_cut(
    track: Track, decision: Decision, tolerance: float, gap: float, n_people: int | None
) -> int | None:
    """Where :func:`trim_far` cuts ``track`` (an index of its observations); None: not."""
    if decision.reason != "far":
        return None
    person = decision.nearest
    observations = track.observations
    encoded = [i for i, o in enumerate(observations) if o.distances is not None]
    votes = [vote(observations[i].distances, tolerance, gap) for i in encoded]  # type: ignore[arg-type]
    if any(v not in (-1, person) for v in votes):
        return None  # votes for anyone else
    voted = np.zeros(len(observations) + 1, dtype=np.int64)  # votes before each face
    for i, v in zip(encoded, votes, strict=True):
        voted[i + 1] = v == person
    voted = np.cumsum(voted)
    best, best_kept = None, 0
    for cut in encoded[1:]:
        for start, end in ((0, cut), (cut, len(observations))):
            if end - start <= best_kept or voted[end] - voted[start] < TRIM_MIN_VOTES:
                continue
            part = Track("", observations[start:end])
            if decide(part, tolerance, gap, n_people).person == person:
                best, best_kept = cut, end - start
    return best
