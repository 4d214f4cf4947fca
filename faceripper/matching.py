"""Deciding whose face a face is, from its distances to the reference encodings.

A face belongs to the person with the nearest reference, if that distance is within the
tolerance. A face about as near to a second person (the second person's nearest
reference within ``tolerance + gap`` and less than ``gap`` farther than the first) is
*ambiguous* and not saved: a wrong face in a class folder poisons a training set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: How much farther the second-nearest person must be for a match to count as clear.
DEFAULT_AMBIGUITY_GAP = 0.04

UNKNOWN = -1
#: Reference rows whose person is ``EXCLUDED - q`` are exclusions of person ``q``
#: (see :func:`person_distances`).
EXCLUDED = -2


@dataclass(frozen=True)
class Matches:
    """Per-face outcome of matching ``n`` faces against the references.

    Attributes:
        person: ``(n,)`` int64 index of the matched person, or -1 (no match / ambiguous).
        nearest: ``(n,)`` int64 index of the nearest person whatever the distance (-1 if
            there are no references).
        distance: ``(n,)`` float64 distance to the nearest person's nearest reference.
        second_distance: ``(n,)`` float64 distance to the second-nearest person (inf if
            only one person).
        ambiguous: ``(n,)`` bool, within tolerance of the nearest but too near a second.
    """

    person: npt.NDArray[np.int64]
    nearest: npt.NDArray[np.int64]
    distance: npt.NDArray[np.float64]
    second_distance: npt.NDArray[np.float64]
    ambiguous: npt.NDArray[np.bool_]


def person_distances(
    distances: npt.NDArray[np.float64], ref_person: npt.NDArray[np.int64], n_people: int
) -> npt.NDArray[np.float64]:
    """Reduce face-to-reference distances ``(n, m)`` to face-to-person ``(n, n_people)``.

    Each person's distance is that of their nearest reference; inf for a person without
    references. A reference whose person is ``EXCLUDED - q`` (``-2 - q``) is an
    *exclusion* of person ``q``: a face the user took out of ``q``'s class folder
    (:mod:`faceripper.corrections`). A face nearer to one of ``q``'s exclusions than to
    all of ``q``'s references is not ``q``: its distance to ``q`` is inf. No other
    person's distance changes.

    >>> d = np.array([[0.40, 0.30], [0.40, 0.50]])  # 2 faces, 2 references
    >>> person_distances(d, np.array([0, -2]), 1).tolist()
    [[inf], [0.4]]
    """
    out = np.full((distances.shape[0], n_people), np.inf)
    for person in range(n_people):
        columns = ref_person == person
        if columns.any():
            out[:, person] = distances[:, columns].min(axis=1)
    for code in np.unique(ref_person[ref_person <= EXCLUDED]):
        person = int(EXCLUDED - code)
        if person < n_people:
            nearest = distances[:, ref_person == code].min(axis=1)
            out[nearest < out[:, person], person] = np.inf
    return out


def match_faces(
    distances: npt.NDArray[np.float64],
    ref_person: npt.NDArray[np.int64],
    n_people: int,
    tolerance: float,
    gap: float = DEFAULT_AMBIGUITY_GAP,
) -> Matches:
    """Match faces to people.

    Args:
        distances: ``(n, m)`` distances of ``n`` faces to ``m`` reference encodings.
        ref_person: ``(m,)`` person index of each reference.
        n_people: number of people.
        tolerance: largest distance that counts as the same person.
        gap: a second person nearer than ``distance + gap`` (and within ``tolerance +
            gap``) makes the match ambiguous.

    Example:
        >>> d = np.array([[0.30, 0.50], [0.30, 0.32]])
        >>> m = match_faces(d, np.array([0, 1]), 2, tolerance=0.35)
        >>> m.person.tolist(), m.ambiguous.tolist()
        ([0, -1], [False, True])
    """
    n = distances.shape[0]
    per_person = person_distances(distances, ref_person, n_people)
    if n_people == 0 or n == 0:
        empty = np.zeros(n, dtype=np.int64) - 1
        inf = np.full(n, np.inf)
        return Matches(empty, empty.copy(), inf, inf.copy(), np.zeros(n, dtype=bool))
    order = np.argsort(per_person, axis=1, kind="stable")
    rows = np.arange(n)
    nearest = order[:, 0].astype(np.int64)
    best = per_person[rows, nearest]
    second = per_person[rows, order[:, 1]] if n_people > 1 else np.full(n, np.inf)
    within = best <= tolerance
    ambiguous = within & (second < best + gap) & (second <= tolerance + gap)
    person = np.where(within & ~ambiguous, nearest, UNKNOWN).astype(np.int64)
    nearest = np.where(np.isfinite(best), nearest, UNKNOWN).astype(np.int64)
    return Matches(person, nearest, best, second, ambiguous)
