"""Joining tracks: the tracks of one face that the detector lost for a moment, made one.

A face the detector loses for a moment (a turn, a hand, motion blur) ends its track
and starts another when it is found again. :func:`join` makes such tracks one again,
by time, place and encodings, before they are decided
(:func:`faceripper.worker.decisions.finish_tracks`). Pure functions over
:class:`faceripper.tracks.Track`: no models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper.geometry import box_sizes, iou
from faceripper.tracks import LINK_IOU, LINK_SIZE_RATIO, Decision, Observation, Track

#: A track that ends is continued (:func:`join`) by one that starts at most this many
#: seconds later in the same shot, at the same place: the detector lost the face for a
#: moment (a turn, a hand, motion blur). Measured on the Hamilton clip: HOG loses Lin's
#: frontal close-up for 14 frames (0.47 s) and then for 1, which cut one face into
#: three tracks; a head turning away and back takes about a second.
JOIN_GAP_S = 1.0
#: ... when the later track's encoded faces lie, by the median of their distances to the
#: nearest encoded face of the earlier one, within this (the default tolerance; on the
#: Hamilton clip 0.375 between the two parts of one face, whose encodings lie 0.44 apart
#: from each other, median, within one part).
JOIN_DISTANCE = 0.4


def _joinable(decision: Decision) -> bool:
    """Whether a track may be joined to another: not one whose frames disagree, not one
    nearest to a negative identity."""
    return decision.reason not in ("disagree", "negative")


def _continues(last: Observation, first: Observation, cuts: npt.NDArray[np.int64]) -> bool:
    """Whether a track starting at ``first`` may continue one ending at ``last`` by time
    and place (:func:`join`): later, within :data:`JOIN_GAP_S`, no reset point in
    ``cuts`` between them, the boxes linked as a detection joins a track."""
    if last.frame >= first.frame or first.time_s - last.time_s > JOIN_GAP_S:
        return False
    if np.any((cuts > last.frame) & (cuts <= first.frame)):
        return False
    boxes = np.array([last.box_trbl, first.box_trbl], dtype=np.int64)
    sizes = box_sizes(boxes)
    ratio = float(sizes[1]) / max(float(sizes[0]), 1.0)
    if ratio > LINK_SIZE_RATIO or ratio < 1 / LINK_SIZE_RATIO:
        return False
    return float(iou(boxes[:1], boxes[1:])[0, 0]) >= LINK_IOU


def join(
    tracks: list[Track],
    decisions: list[Decision],
    resets: Sequence[int] = (),
    tolerance: float = JOIN_DISTANCE,
) -> tuple[list[Track], list[list[int]]]:
    """Join the tracks of one face that the detector lost for a moment.

    A track ``b`` may continue a track ``a`` (their observations become one track, named
    after the first) when:

    - ``b`` starts after ``a``'s last frame, at most :data:`JOIN_GAP_S` seconds later,
      with no reset point (a shot cut, :func:`faceripper.worker.starts_shot`) in
      ``resets`` after ``a``'s last frame and up to ``b``'s first: the same shot;
    - ``b``'s first box overlaps ``a``'s last box as a detection joins a track
      (:data:`~faceripper.tracks.LINK_IOU`, :data:`~faceripper.tracks.LINK_SIZE_RATIO`):
      the same place;
    - the mean encodings of the two (of the tracks already joined to each) are at most
      ``tolerance`` apart: the same face (:func:`faceripper.tracks.split` cuts a track
      where two runs' means are more than :data:`~faceripper.tracks.SPLIT_RUN_DISTANCE`
      apart);
    - neither is decided against it: not decided for two different people, neither
      one whose frames disagree nor one nearest to a negative (``decisions``,
      :func:`faceripper.tracks.decide` of each track).

    Pairs are joined nearest means first (one pass over the candidates after each
    join); each track continues at most one and is continued by at most one. The
    caller decides the joined tracks again, and should undo a join that leaves
    undecided a track whose part was decided (:func:`faceripper.worker.finish_tracks`
    does): joining must never cost a face.

    Args:
        tracks: the tracks of one segment, split already (:func:`faceripper.tracks.split`).
        decisions: :func:`faceripper.tracks.decide` of each, in the same order.
        resets: the frames where every track ended.
        tolerance: :data:`JOIN_DISTANCE`.

    Returns:
        The tracks (joined ones once, in the order of their first frames) and, for
        each, the indices in ``tracks`` of its parts.
    """
    cuts = np.asarray(list(resets), dtype=np.int64)
    order = sorted(range(len(tracks)), key=lambda i: (tracks[i].observations[0].frame, i))
    chains: dict[int, list[int]] = {i: [i] for i in order if _joinable(decisions[i])}
    person = {i: decisions[i].person for i in chains}

    def mean_encoding(chain: list[int]) -> npt.NDArray[np.float64] | None:
        found = [o.encoding for i in chain for o in tracks[i].observations]
        kept = [e for e in found if e is not None]
        return np.mean(np.stack(kept), axis=0) if kept else None

    means = {head: mean_encoding(chain) for head, chain in chains.items()}
    while True:
        best: tuple[float, int, int] | None = None
        for a, chain_a in chains.items():
            last = tracks[chain_a[-1]].observations[-1]
            for b in chains:
                if b == a or not _continues(last, tracks[b].observations[0], cuts):
                    continue
                if person[a] >= 0 and person[b] >= 0 and person[a] != person[b]:
                    continue
                mean_a, mean_b = means[a], means[b]
                if mean_a is None or mean_b is None:
                    continue
                apart = float(np.linalg.norm(mean_a - mean_b))
                if apart <= tolerance and (best is None or (apart, a, b) < best):
                    best = (apart, a, b)
        if best is None:
            break
        _, a, b = best
        chains[a] += chains.pop(b)
        person[a] = max(person[a], person.pop(b))
        means[a] = mean_encoding(chains[a])
        del means[b]
    out: list[Track] = []
    groups: list[list[int]] = []
    for i in order:
        chain = chains.get(i)
        if chain is None and any(i in c for c in chains.values()):
            continue  # joined to an earlier track
        if chain is None or len(chain) == 1:
            out.append(tracks[i])
            groups.append([i])
            continue
        joined = Track(tracks[i].name)
        for part in chain:
            joined.observations += tracks[part].observations
            joined.votes.update(tracks[part].votes)
            joined.last_encoded = max(joined.last_encoded, tracks[part].last_encoded)
        out.append(joined)
        groups.append(list(chain))
    return out, groups
