"""Held-back tracks and anchors: the records of a video's second step.

A segment's worker hands its video's second step (:func:`faceripper.adaptive.decide_video`)
two kinds of record: the tracks the references left undecided (:class:`PendingTrack`,
borderline or decided without a face matched with confidence) and the tracks decided with
such a face (:class:`Anchor`, what the video shows of a person). The step answers with one
:class:`Adoption` per held-back track. Every function here is pure;
:mod:`faceripper.spool` turns these records into bytes for the writer's spool.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from faceripper.worker import FaceHit

#: A face at most this far from a person's references ...
CONFIDENT_DISTANCE = 0.35
#: ... and at least this much nearer to them than to anyone else is matched with
#: confidence: its track is an anchor of that person in its video (:class:`Anchor`).
CONFIDENT_MARGIN = 0.1
#: A track whose median distance to a person's references is within the tolerance plus
#: this may still be that person's, if the video says so.
REFERENCE_SLACK = 0.1
#: Encodings of a borderline track kept for the decision (spread over the track).
PENDING_ENCODINGS = 8


def spread(n: int, k: int) -> npt.NDArray[np.int64]:
    """Indices of ``k`` items evenly spread over ``n`` (all of them when ``n <= k``).

    >>> spread(10, 3).tolist(), spread(2, 3).tolist()
    ([0, 4, 9], [0, 1])
    """
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


def confident_faces(
    distances: npt.NDArray[np.float64], person: int, n_people: int
) -> npt.NDArray[np.bool_]:
    """Which encoded faces of a track decided for ``person`` are matched with confidence.

    Args:
        distances: ``(n, n_identities)`` distances of the track's encoded faces to every
            identity's nearest reference (negatives included).
        person: the track's person.
        n_people: identities from here on are negatives (they count as "anyone else").

    Returns:
        ``(n,)`` bool: within :data:`CONFIDENT_DISTANCE` of ``person`` and at least
        :data:`CONFIDENT_MARGIN` nearer than to every other identity.
    """
    del n_people  # negatives count as anyone else, like the people
    own = distances[:, person]
    others = np.delete(distances, person, axis=1)
    second = others.min(axis=1) if others.shape[1] else np.full(len(own), np.inf)
    return (own <= CONFIDENT_DISTANCE) & (second >= own + CONFIDENT_MARGIN)


@dataclass
class PendingTrack:
    """A track the references left undecided, held back for its video's second step.

    Attributes:
        name: the track's name (as in the manifest's ``track`` column).
        first_frame: its first frame.
        last_frame: its last frame.
        ref_distance: ``(n_identities,)`` median distance of its encoded faces to each
            identity's references.
        encodings: ``(k, 128)`` float64, up to :data:`PENDING_ENCODINGS` of its faces.
        excluded: people it cannot be (a track decided for them shares a frame with it).
        hits: its crops, near duplicates already out, ``person`` -1 until decided.
        own_distances: per hit, its own ``(n_identities,)`` distances, or None when the
            face was not encoded.
        decided: the person the references decided it for when it is held back only
            for want of a face matched with confidence (-1: a borderline track).
        best: for such a track, its :func:`faceripper.adaptive.view_distance` to
            ``decided``'s reference photos and their second views (inf: no face near
            enough, or a borderline track).
        notes_only: kept for the notes on people never matched with confidence only
            (:mod:`faceripper.worker.notes`): never decided, never written.
    """

    name: str
    first_frame: int
    last_frame: int
    ref_distance: npt.NDArray[np.float64]
    encodings: npt.NDArray[np.float64]
    excluded: tuple[int, ...] = ()
    hits: list[FaceHit] = field(default_factory=list)
    own_distances: list[npt.NDArray[np.float64] | None] = field(default_factory=list)
    decided: int = -1
    best: float = float("inf")
    notes_only: bool = False

    def overlaps(self, first: int, last: int) -> bool:
        """Whether the track shares a frame with the span ``[first, last]``."""
        return self.first_frame <= last and first <= self.last_frame


def is_borderline(
    ref_distance: npt.NDArray[np.float64], reason: str, n_people: int, tolerance: float
) -> bool:
    """Whether an undecided track (``reason`` from :func:`faceripper.tracks.decide`) waits
    for its video: not a disagreement, nearest to a person (not a negative), and within
    ``tolerance + REFERENCE_SLACK`` of them."""
    if reason not in ("unknown", "far", "ambiguous") or n_people == 0:
        return False
    nearest = int(np.argmin(ref_distance))
    return nearest < n_people and float(ref_distance[nearest]) <= tolerance + REFERENCE_SLACK


@dataclass(frozen=True)
class Adoption:
    """The video's decision on one borderline track.

    ``person`` -1 when it stays undecided; ``reason``: adopted, no anchors (none in the
    video), no cluster (its cluster holds no anchor, or anchors of nobody),
    beside its person (its cluster shares a frame with an anchor of the person), far,
    ambiguous, shares a frame; for an unconfirmed track (:attr:`PendingTrack.decided`):
    confirmed, unlike the video, and in a video without an anchor of its person: near
    (:attr:`PendingTrack.best` within :data:`faceripper.adaptive.VIEW_DISTANCE`), no
    anchor (refused); shared view (a borderline track lent by
    :func:`faceripper.adaptive.shared_views`), corroborated (a borderline track lent from
    tracks kept on the references' word, :func:`faceripper.adaptive.corroborating`).
    """

    person: int
    video_distance: float
    reason: str


def adopted_hits(track: PendingTrack, adoption: Adoption) -> list[FaceHit]:
    """The track's hits given to the adopted person (own distance when encoded)."""
    from dataclasses import replace

    person = adoption.person
    out = []
    for hit, own in zip(track.hits, track.own_distances, strict=True):
        distance = float(own[person]) if own is not None else float(track.ref_distance[person])
        out.append(replace(hit, person=person, distance=distance))
    return out


#: Encodings kept per anchor track (a track decided with a face matched with confidence),
#: spread over all its encoded faces, not only the confident ones: a track is one
#: person, so its every view is that person's (the views a reference photo misses too).
ANCHOR_ENCODINGS = 8
#: Anchor tracks kept per person and video (spread over the video): memory stays bounded.
MAX_ANCHORS = 32


@dataclass
class Anchor:
    """A track decided for ``person`` with at least one face matched with confidence:
    what the video shows of that person, for the clustering of its tracks.

    Attributes:
        person: the track's person.
        first_frame: its first frame.
        last_frame: its last frame.
        encodings: ``(k, 128)`` float64, up to :data:`ANCHOR_ENCODINGS` of its faces.
    """

    person: int
    first_frame: int
    last_frame: int
    encodings: npt.NDArray[np.float64]


def thin_anchors(anchors: Sequence[Anchor], limit: int = MAX_ANCHORS) -> list[Anchor]:
    """At most ``limit`` anchors per person, spread over their order (deterministic)."""
    keep: list[int] = []
    for who in sorted({a.person for a in anchors}):
        rows = [i for i, a in enumerate(anchors) if a.person == who]
        keep += [rows[int(i)] for i in spread(len(rows), limit)]
    return [anchors[i] for i in sorted(keep)]


def merge_anchors(parts: Iterable[Sequence[Anchor]], limit: int = MAX_ANCHORS) -> list[Anchor]:
    """Join the anchors of a video's segments (in order), at most ``limit`` per person.

    Streams: while parts come in, a person's anchors are thinned to ``2 * limit``
    whenever they pass ``4 * limit``, so memory stays bounded however long the video;
    the result is deterministic for the same parts.
    """
    merged: list[Anchor] = []
    for part in parts:
        merged += part
        counts = np.bincount([a.person for a in merged]) if merged else np.zeros(1, np.int64)
        if counts.max() > 4 * limit:
            merged = thin_anchors(merged, 2 * limit)
    return thin_anchors(merged, limit)
