"""What the corrections by hand teach a run: faces excluded, new references, verdicts.

What was corrected (:mod:`faceripper.corrections`) then informs later runs (:func:`learn`,
called by ``rip`` at start, :func:`prepare_run`):

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

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceripper.corrections import (
    Correction,
    ReconcileReport,
    read_corrections,
    reconcile,
    write_corrections,
)
from faceripper.geometry import iou
from faceripper.matching import EXCLUDED

if TYPE_CHECKING:
    from faceripper.worker import FaceHit, References, SegmentResult

#: A rerun face is the corrected one when their boxes overlap this much (same frame).
SAME_FACE_IOU = 0.5


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
            write_corrections(target, corrections)
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
