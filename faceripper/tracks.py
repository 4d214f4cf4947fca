"""Face tracks: one face followed through consecutive frames, and its identity.

A detection joins the track whose last box it overlaps most (IoU at least
:data:`LINK_IOU`, similar size), seen in the previous processed frame; otherwise it
starts a new track. A shot cut (a large change of the whole frame) ends every track.

A track's identity is decided from all its encoded frames (:func:`decide`), so a face
that turns to profile or blurs for a few frames keeps its identity, and a face that
matches one person in one frame only, by chance, does not pass. Encoding every frame of
a track is not needed: a settled track (clearly one person, or clearly nobody) is re-checked every
:data:`RECHECK_EVERY` frames, an unsettled one every :data:`UNSETTLED_EVERY`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, box_sizes, iou
from faceripper.matching import Matches, match_faces

#: Least overlap (intersection over union) of a box with a track's last box to join it.
LINK_IOU = 0.3
#: Largest size ratio between a box and the track's last box to join it.
LINK_SIZE_RATIO = 1.5
#: A frame whose 32x18 grayscale thumbnail differs from the previous one's by more than
#: this mean absolute difference (0-255 levels) is a shot cut.
CUT_THRESHOLD = 25.0
#: A settled track is re-encoded every this many frames ...
RECHECK_EVERY = 10
#: ... an unsettled one every this many. (Sparser sampling of undecided tracks was
#: tried: every 3rd or 5th frame cost a sixth of the crops of one 1080p benchmark
#: segment, as borderline tracks then gathered fewer votes.)
UNSETTLED_EVERY = 1
#: Matching encodings of one person that settle a track (with none of another person).
SETTLED_VOTES = 3
#: A track is dropped when encodings matching other people exceed this share of the
#: votes for its best person.
DISAGREEMENT = 0.1
#: A track keeps its person only if the median distance of its encodings to that person
#: is at most the tolerance plus this.
MEDIAN_SLACK = 0.1


def frame_thumbnail(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """A 32x18 grayscale thumbnail of a frame (float32), for cut detection."""
    import cv2

    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    return cv2.resize(gray, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)


def is_cut(previous: npt.NDArray[np.float32] | None, current: npt.NDArray[np.float32]) -> bool:
    """Whether two consecutive frames' thumbnails belong to different shots."""
    if previous is None or previous.shape != current.shape:
        return False
    return float(np.abs(previous - current).mean()) > CUT_THRESHOLD


@dataclass
class Observation:
    """One face of one frame in a track.

    ``distances`` are the face's distances to each person ``(n_people,)`` when it was
    encoded, else None. ``crop``/``signature`` are set when the face may be written.
    """

    frame: int
    time_s: float
    face_index: int
    box_trbl: tuple[int, int, int, int]
    sharpness: float
    blurry: bool
    distances: npt.NDArray[np.float64] | None = None
    jpeg: bytes | None = None
    signature: npt.NDArray[np.float32] | None = None


@dataclass
class Track:
    """A face followed through frames."""

    name: str
    observations: list[Observation] = field(default_factory=list)
    last_encoded: int = -(10**9)
    votes: Counter[int] = field(default_factory=Counter)

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    def settled(self, far: float = np.inf) -> bool:
        """Whether the identity is clear enough to re-check only now and then.

        Either :data:`SETTLED_VOTES` encodings match one person and none anyone else,
        or (a stranger) as many encodings, none voting, are all farther than ``far``
        from every person.
        """
        if self.votes:
            (_, best), *_ = self.votes.most_common(1)
            return best >= SETTLED_VOTES and len(self.votes) == 1
        nearest = [float(o.distances.min()) for o in self.observations if o.distances is not None]
        return len(nearest) >= SETTLED_VOTES and min(nearest) > far

    def wants_encoding(self, frame: int, far: float = np.inf) -> bool:
        """Whether the face of ``frame`` should be encoded (first face, then periodic).

        ``far``: a distance beyond which a face is clearly nobody's (see :meth:`settled`).
        """
        every = RECHECK_EVERY if self.settled(far) else UNSETTLED_EVERY
        return frame - self.last_encoded >= every


class Tracker:
    """Links each frame's boxes to the tracks of the previous processed frame."""

    def __init__(self, prefix: str = "", enabled: bool = True) -> None:
        self.prefix = prefix
        self.enabled = enabled
        self.active: list[Track] = []
        self.finished: list[Track] = []

    def cut(self) -> None:
        """End every active track (a shot cut, or the end of the segment)."""
        self.finished += self.active
        self.active = []

    def assign(self, frame: int, boxes: BoxArray, face_index: npt.NDArray[np.int64]) -> list[Track]:
        """The track of each box (new tracks for unmatched boxes); unmatched tracks end.

        Greedy: the pairs of highest overlap are linked first, each track and box once.
        """
        chosen: list[Track | None] = [None] * len(boxes)
        if self.enabled and self.active and len(boxes):
            last = np.array([t.last.box_trbl for t in self.active], dtype=np.int64)
            overlap = iou(boxes, last)
            ratio = box_sizes(boxes)[:, None] / np.maximum(box_sizes(last)[None, :], 1)
            overlap[(ratio > LINK_SIZE_RATIO) | (ratio < 1 / LINK_SIZE_RATIO)] = 0.0
            used_tracks: set[int] = set()
            for flat in np.argsort(-overlap, axis=None, kind="stable"):
                b, t = divmod(int(flat), overlap.shape[1])
                if overlap[b, t] < LINK_IOU:
                    break
                if chosen[b] is None and t not in used_tracks:
                    chosen[b] = self.active[t]
                    used_tracks.add(t)
        for b in range(len(boxes)):
            if chosen[b] is None:
                chosen[b] = Track(f"{self.prefix}{frame}.{int(face_index[b])}")
        still = {id(t) for t in chosen}
        self.finished += [t for t in self.active if id(t) not in still]
        self.active = [t for t in chosen if t is not None]
        return self.active


@dataclass(frozen=True)
class Decision:
    """A track's identity: ``person`` (-1: none) and why."""

    person: int
    distance: float
    reason: str  # matched, unknown, ambiguous, disagree, far, negative, not encoded
    nearest: int = -1


def _match(distances: npt.NDArray[np.float64], tolerance: float, gap: float) -> Matches:
    """Per-frame matching of ``(frames, people)`` person distances."""
    people = distances.shape[1]
    return match_faces(distances, np.arange(people, dtype=np.int64), people, tolerance, gap)


def decide(track: Track, tolerance: float, gap: float, n_people: int | None = None) -> Decision:
    """Decide whose face a track is, from all its encoded frames.

    Each encoded frame votes for its nearest person when that person is within
    ``tolerance`` and no second person is within ``gap`` of it (the per-face rule of
    :func:`faceripper.matching.match_faces`). The track belongs to the person with the
    most votes if:

    - votes for other people are at most :data:`DISAGREEMENT` of that person's (else
      the frames disagree: the track is dropped, never saved under two people), and
    - the median distance to that person over all encoded frames is within
      ``tolerance + MEDIAN_SLACK`` (one lucky frame does not carry a stranger's track).

    Identities from ``n_people`` on are negatives (``--negatives``): a track whose best
    identity is a negative is dropped (reason ``"negative"``).
    """
    encoded = [o.distances for o in track.observations if o.distances is not None]
    if not encoded:
        return Decision(-1, float("nan"), "not encoded")
    distances = np.stack(encoded)  # (frames, people)
    matches = _match(distances, tolerance, gap)
    votes = Counter(int(p) for p in matches.person if p >= 0)
    if not votes:
        nearest = int(np.argmin(np.median(distances, axis=0)))
        reason = "ambiguous" if matches.ambiguous.any() else "unknown"
        return Decision(-1, float(np.median(distances[:, nearest])), reason, nearest)
    (person, count), *_ = votes.most_common(1)
    median = float(np.median(distances[:, person]))
    if n_people is not None and person >= n_people:
        return Decision(-1, median, "negative", person)
    others = sum(votes.values()) - count
    if others > DISAGREEMENT * count:
        return Decision(-1, median, "disagree", person)
    if median > tolerance + MEDIAN_SLACK:
        return Decision(-1, median, "far", person)
    return Decision(person, median, "matched", person)


def vote(distances: npt.NDArray[np.float64], tolerance: float, gap: float) -> int:
    """The person one encoded face (distances ``(people,)``) votes for; -1 for none."""
    return int(_match(distances[None, :], tolerance, gap).person[0])
