"""Reviewing the reference photos: faces found, outliers, and people who could be confused.

The library side of ``faceripper check-refs``. :func:`check_references` turns a
:class:`~faceripper.references.ReferenceSet` into a :class:`RefCheck`: per person, what
became of each photo and how well each usable photo agrees with the person's others;
across people, the pairs of references close enough to be confused.
:mod:`faceripper.refreport` presents it as rich tables and as one contact sheet per
person to look through.

Distances are euclidean distances between 128-d dlib encodings; face_recognition's usual
same-person threshold is 0.6.

Outlier rule
------------
A person's reference ``i`` has the distance ``m_i``: its median distance to the person's
other references, the lower of the two middle values when their count is even (with 3
photos, a photo's distance to the closer of its 2 others: a wrong photo cannot drag the
2 genuine ones along). A photo of someone else stands out with a large ``m_i``; a genuine
but poor photo (profile, hair over the face, looking away) with a moderately large one.
On the shared test data (24 LFW people with 10 photos and the 8 face-api.js people with
5), genuine references reach about 0.64 at their 99th percentile and 0.72 at most, while
photos of other people start at about 0.61 (5th percentile 0.69): no fixed cut separates
them, so a reference is flagged as an outlier when:

* ``n >= 3`` usable references: ``m_i > max(0.6, M + 3 * 1.4826 * MAD)``, ``M`` being the
  median and ``MAD`` the median absolute deviation of the person's ``m`` values
  (``1.4826 * MAD`` estimates a standard deviation, robustly to the outlier itself), *and*
  either ``m_i > 0.65`` or ``m_i`` exceeds the photo's (lower) median distance to another
  person's references: it matches someone else better than its own person.
* ``n == 2``: the two photos are more than 0.6 apart. Which one is wrong cannot be told
  from the pair, so both are flagged; the reason says when one of them matches another
  person (its median distance to that person's references is under 0.6). Picking that
  one alone was tried and dropped: strangers' photos got through while the genuine
  photo, resembling someone, was flagged.
* ``n == 1``: never (the distance is NaN).

Measured by swapping one photo of someone else into random sets of 12 of those people
with 3 to 7 photos each: the rule flags 0.2-0.4% of genuine references (the plain
``m_i > max(0.6, M + 3 MAD)`` flags 0.6-1.0%, about 5 false alarms in 30 people x 20
photos) and finds 97.5-100% of wrong photos of people in the config and 95-97.5% of
strangers (the plain rule 95.5-99%). A wrong photo that is missed looks much like the
person: its distances stay under 0.65. Two photos of the same stranger among 5 are found
81% of the time, among 7 94%. The full LFW set flags 2 of 240 genuine photos, both poor
(Britney_Spears_0008: hair and a microphone over the face; Richard_Gere_0005: looking
away); face-api.js flags none. A flag therefore means "wrong person or a poor photo".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from faceripper.references import FileResult, ReferenceSet

SAME_PERSON_DISTANCE = 0.6
"""face_recognition's threshold: encodings closer than this are taken for one person."""

OUTLIER_DISTANCE = 0.65
"""Above this median distance to its person's others, a reference is flagged even when it
matches no other configured person (see the module docstring)."""

MAD_FACTOR = 3.0
"""How many robust standard deviations above the person's median a reference must lie."""

_MAD_TO_SD = 1.4826


# ---------------------------------------------------------------------------- results


class CrossPair(NamedTuple):
    """Two references of different people and their distance."""

    person_a: str
    source_a: Path
    person_b: str
    source_b: Path
    distance: float


@dataclass(frozen=True)
class ReferenceCheck:
    """One usable reference photo and how it compares.

    Attributes:
        source: the photo.
        box_trbl: the face used, in the photo's (EXIF-upright) pixels.
        distance: median distance to the person's other references (the lower middle
            value for an even count); NaN if it is the only one.
        outlier: whether the outlier rule flags it (see the module docstring).
        reason: why it is flagged, or "".
        nearest_person: the other person with the reference closest to this one, or None
            when there is no other person with a usable photo.
        nearest_source: that closest reference of another person.
        nearest_distance: its distance; NaN when there is none.
        faces: faces found in the photo (more than 1: the largest was used).
        found_by: the fallback search that found the face (a tight crop, see
            :data:`faceripper.refcache.FALLBACK_STEPS`); ``""``: the detector's own.
    """

    source: Path
    box_trbl: tuple[int, int, int, int]
    distance: float
    outlier: bool = False
    reason: str = ""
    nearest_person: str | None = None
    nearest_source: Path | None = None
    nearest_distance: float = math.nan
    faces: int = 1
    found_by: str = ""


@dataclass
class PersonCheck:
    """What became of one person's reference photos.

    Attributes:
        name: the person, as in the config.
        label: the person's class folder name.
        photos: files found in the person's reference folder.
        usable: photos that gave an encoding (one face, or several with the largest used).
        no_face: photos in which no face was found.
        several_faces: usable photos with more than one face (the largest was used).
        unreadable: files that could not be read or are not images.
        references: one entry per usable photo, in file order.
        files: every file's encoding outcome, usable or not.
    """

    name: str
    label: str
    photos: int = 0
    usable: int = 0
    no_face: int = 0
    several_faces: int = 0
    unreadable: int = 0
    references: list[ReferenceCheck] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)

    @property
    def median_distance(self) -> float:
        """The median of the references' distances to their others (NaN under 2 photos)."""
        values = [r.distance for r in self.references if not math.isnan(r.distance)]
        return float(np.median(values)) if values else math.nan

    @property
    def outliers(self) -> list[ReferenceCheck]:
        """The flagged references."""
        return [r for r in self.references if r.outlier]

    @property
    def unusable(self) -> list[FileResult]:
        """The files that gave no encoding (no face, unreadable, not an image)."""
        return [f for f in self.files if not f.usable]


@dataclass
class RefCheck:
    """The review of a whole reference set.

    Attributes:
        people: one entry per person, in config order (people without any usable photo
            included).
        tolerance: the distance under which two people's references count as confusable.
        closest_pair: the closest two references of different people, or None if fewer
            than two people have usable photos.
        confusable: every pair of references of different people closer than
            ``tolerance``, closest first.
    """

    people: list[PersonCheck]
    tolerance: float
    closest_pair: CrossPair | None = None
    confusable: list[CrossPair] = field(default_factory=list)

    def person(self, name: str) -> PersonCheck:
        """Return the check of the person called ``name``."""
        for person in self.people:
            if person.name == name:
                return person
        raise KeyError(name)

    @property
    def outliers(self) -> list[tuple[PersonCheck, ReferenceCheck]]:
        """Every flagged reference with its person, in config order."""
        return [(p, r) for p in self.people for r in p.outliers]

    def problems(self) -> list[str]:
        """One line per problem found, for ``--strict`` and for reports.

        Problems: a person without any usable photo, photos without a face, with several
        faces, unreadable files, outliers, and confusable pairs of references.
        """
        lines: list[str] = []
        for person in self.people:
            who = person.name
            if person.usable == 0:
                lines.append(
                    f"{who}: no usable reference photo ({count_text(person.photos, 'file')} found)"
                )
            for result in person.files:
                if result.status == "no_face":
                    lines.append(f"{who}: {result.path}: no face found")
                elif result.status == "several_faces":
                    lines.append(f"{who}: {result.path}: {result.faces} faces, used the largest")
                elif result.status == "not_image":
                    lines.append(f"{who}: {result.path}: not an image")
                elif result.status == "unreadable":
                    detail = result.message or "cannot be read"
                    prefix = f"{result.path}: "
                    if detail.startswith(prefix):
                        detail = detail[len(prefix) :]
                    lines.append(f"{who}: {result.path}: unreadable ({detail})")
            for ref in person.outliers:
                lines.append(f"{who}: {ref.source}: outlier: {ref.reason}")
        for pair in self.confusable:
            lines.append(
                f"confusable: {pair.person_a} {pair.source_a} and {pair.person_b} "
                f"{pair.source_b} are {pair.distance:.3f} apart (tolerance {self.tolerance:g})"
            )
        return lines


def count_text(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------- checking


def _all_distances(encodings: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Pairwise euclidean distances, as :func:`faceripper.encoder.face_distances` gives them.

    Computed as ``sqrt(|a|^2 + |b|^2 - 2 a.b)`` with one matrix product, which is fast for
    thousands of references and agrees with ``face_distances`` to about 1e-7.
    """
    if len(encodings) == 0:
        return np.zeros((0, 0))
    squares = np.einsum("ij,ij->i", encodings, encodings)
    gram = encodings @ encodings.T
    distances = np.sqrt(np.clip(squares[:, None] + squares[None, :] - 2.0 * gram, 0.0, None))
    np.fill_diagonal(distances, 0.0)
    return distances


def _low_median(values: npt.NDArray[np.float64], axis: int = -1) -> npt.NDArray[np.float64]:
    """The lower median along ``axis``: the middle value, the lower of the two if even."""
    count = values.shape[axis]
    return np.take(np.sort(values, axis=axis), (count - 1) // 2, axis=axis)


def _leave_one_out_medians(block: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """For a square same-person block, each row's lower median distance to the other rows."""
    n = len(block)
    if n < 2:
        return np.full(n, np.nan)
    others = ~np.eye(n, dtype=bool)
    return np.array([_low_median(block[i, others[i]]) for i in range(n)])


def outlier_flags(
    medians: npt.NDArray[np.float64],
    other_person: npt.NDArray[np.float64],
    other_names: Sequence[str] | None = None,
) -> tuple[npt.NDArray[np.bool_], list[str]]:
    """Apply the outlier rule of the module docstring to one person's references.

    Args:
        medians: ``(n,)`` each reference's median distance to the person's others.
        other_person: ``(n,)`` each reference's smallest median distance to the
            references of another person (``inf`` when there is no other person).
        other_names: ``(n,)`` who that other person is, for the reasons.

    Returns:
        ``(flags, reasons)``: ``(n,)`` bools and one reason per reference ("" if not flagged).
    """
    n = len(medians)
    flags = np.zeros(n, dtype=bool)
    reasons = [""] * n
    if n < 2:
        return flags, reasons

    def elsewhere(i: int) -> str:
        who = f"{other_names[i]}'s photos" if other_names else "another person's photos"
        return f"{other_person[i]:.3f} from {who}"

    better_elsewhere = other_person < medians
    if n == 2:
        distance = float(medians[0])
        if distance > SAME_PERSON_DISTANCE:
            flags[:] = True
            for i in range(2):
                reasons[i] = (
                    f"the 2 photos are {distance:.3f} apart (over {SAME_PERSON_DISTANCE}), "
                    "cannot tell which is wrong"
                )
                if other_person[i] < SAME_PERSON_DISTANCE:
                    reasons[i] += f"; this one is {elsewhere(i)}"
        return flags, reasons
    centre = float(np.median(medians))
    spread = _MAD_TO_SD * float(np.median(np.abs(medians - centre)))
    cut = max(SAME_PERSON_DISTANCE, centre + MAD_FACTOR * spread)
    for i, value in enumerate(medians):
        if value <= cut:
            continue
        if value > OUTLIER_DISTANCE:
            flags[i] = True
            reasons[i] = (
                f"{value:.3f} from the person's other photos "
                f"(limit {max(cut, OUTLIER_DISTANCE):.3f})"
            )
        elif better_elsewhere[i]:
            flags[i] = True
            reasons[i] = f"{value:.3f} from the person's other photos but {elsewhere(i)}"
    return flags, reasons


def check_references(
    refs: ReferenceSet,
    people: Sequence[str],
    tolerance: float = SAME_PERSON_DISTANCE,
    labels: Mapping[str, str] | None = None,
) -> RefCheck:
    """Review a reference set: per-person photo outcomes, outliers, confusable people.

    Args:
        refs: the encoded references and every file's outcome
            (:func:`faceripper.references.encode_references`).
        people: the config's person names, in order; people without any usable photo
            appear too. People found in ``refs`` but not named here are appended.
        tolerance: pairs of references of different people closer than this are listed
            as confusable (at that tolerance, rip would mix them up).
        labels: class folder name per person; by default the label stored in ``refs``,
            else the name.

    Returns:
        A :class:`RefCheck`. The outlier rule is described in the module docstring.
    """
    names = list(dict.fromkeys(people))
    for name in [*refs.person.tolist(), *(f.person for f in refs.files)]:
        if name not in names:
            names.append(name)
    known_labels = {str(p): str(lab) for p, lab in zip(refs.person, refs.label, strict=True)}
    known_labels.update(labels or {})
    checks = {n: PersonCheck(name=n, label=known_labels.get(n, n)) for n in names}

    _tally_files(checks, refs.files)
    faces_by_file = {(str(f.path), f.person): f.faces for f in refs.files}
    found_by_file = {(str(f.path), f.person): f.found_by for f in refs.files}

    owner = np.array([names.index(str(p)) for p in refs.person], dtype=np.int64)
    distances = _all_distances(refs.encodings)
    n_refs = len(refs)
    # median distance of every reference to each person's references: (n_refs, n_people)
    to_person = np.full((n_refs, len(names)), np.inf)
    for k in range(len(names)):
        columns = owner == k
        if columns.any():
            to_person[:, k] = _low_median(distances[:, columns], axis=1)
    different = owner[:, None] != owner[None, :]
    cross = np.where(different, distances, np.inf)

    for k, name in enumerate(names):
        rows = np.flatnonzero(owner == k)
        if len(rows) == 0:
            continue
        medians = _leave_one_out_medians(distances[np.ix_(rows, rows)])
        elsewhere = np.delete(to_person[rows], k, axis=1)
        other_names = [n for n in names if n != name]
        if elsewhere.shape[1]:
            other_person = elsewhere.min(axis=1)
            closest_names = [other_names[int(c)] for c in elsewhere.argmin(axis=1)]
        else:
            other_person = np.full(len(rows), np.inf)
            closest_names = [""] * len(rows)
        flags, reasons = outlier_flags(medians, other_person, closest_names)
        for j, row in enumerate(rows):
            nearest = int(np.argmin(cross[row])) if n_refs else 0
            has_nearest = n_refs > 0 and math.isfinite(cross[row, nearest])
            source = str(refs.source[row])
            checks[name].references.append(
                ReferenceCheck(
                    source=Path(source),
                    box_trbl=tuple(int(v) for v in refs.box_trbl[row]),  # type: ignore[arg-type]
                    distance=float(medians[j]),
                    outlier=bool(flags[j]),
                    reason=reasons[j],
                    nearest_person=str(refs.person[nearest]) if has_nearest else None,
                    nearest_source=Path(str(refs.source[nearest])) if has_nearest else None,
                    nearest_distance=float(cross[row, nearest]) if has_nearest else math.nan,
                    faces=max(1, faces_by_file.get((source, name), 1)),
                    found_by=found_by_file.get((source, name), ""),
                )
            )

    closest, confusable = _cross_pairs(refs, distances, different, tolerance)
    return RefCheck(
        people=[checks[n] for n in names],
        tolerance=tolerance,
        closest_pair=closest,
        confusable=confusable,
    )


def _tally_files(checks: Mapping[str, PersonCheck], files: Sequence[FileResult]) -> None:
    """Add every file's outcome to its person's counts."""
    for result in files:
        person = checks[result.person]
        person.files.append(result)
        person.photos += 1
        if result.usable:
            person.usable += 1
        if result.status == "no_face":
            person.no_face += 1
        elif result.status == "several_faces":
            person.several_faces += 1
        elif result.status in ("unreadable", "not_image"):
            person.unreadable += 1


def _cross_pairs(
    refs: ReferenceSet,
    distances: npt.NDArray[np.float64],
    different: npt.NDArray[np.bool_],
    tolerance: float,
) -> tuple[CrossPair | None, list[CrossPair]]:
    """The closest pair of references of different people (``different``: ``(n, n)``
    bool), and every such pair closer than ``tolerance``, nearest first."""
    upper = np.triu(different, k=1)
    pair_rows, pair_cols = np.nonzero(upper)
    pair_distances = distances[pair_rows, pair_cols]
    under = np.flatnonzero(pair_distances < tolerance)
    under = under[np.argsort(pair_distances[under], kind="stable")]

    def pair(index: int) -> CrossPair:
        i, j = int(pair_rows[index]), int(pair_cols[index])
        return CrossPair(
            str(refs.person[i]),
            Path(str(refs.source[i])),
            str(refs.person[j]),
            Path(str(refs.source[j])),
            float(distances[i, j]),
        )

    closest = pair(int(np.argmin(pair_distances))) if len(pair_distances) else None
    confusable = [pair(int(i)) for i in under]
    return closest, confusable


def distance_text(value: float) -> str:
    """A distance as shown in tables and sheets: 3 decimals, ``-`` for NaN."""
    return "-" if math.isnan(value) else f"{value:.3f}"
