"""Video-adaptive identity: what a video shows with confidence decides its borderline faces.

With one reference photo a person's true faces lie anywhere from 0.2 to 0.6 from it,
so a tolerance of 0.4 leaves many of them undecided, and a larger one saves strangers.
But a video shows each person many times: some of their faces match the references
with confidence, and the others look much more like *those* than like the reference.

The rule (a second step per video, after all its segments):

1. **Exemplars.** A face matched with confidence is an encoded face of a track decided
   for person ``p`` whose distance to ``p``'s references is at most
   :data:`CONFIDENT_DISTANCE` and at least :data:`CONFIDENT_MARGIN` nearer than to
   anyone else. Up to :data:`EXEMPLARS_PER_TRACK` of them per track, and
   :data:`MAX_EXEMPLARS` per person and video, are kept (:class:`Exemplars`).
2. **Borderline tracks.** A track that the references alone leave undecided (no
   person, not a disagreement between two people, not nearest to a negative) whose
   median distance to some person is within the tolerance plus :data:`REFERENCE_SLACK`
   is held back (:class:`PendingTrack`) with a few of its encodings and its crops.
3. **Decision** (:func:`decide_pending`). For each person ``q`` with exemplars, the
   track's *video distance* is the median, over its encodings, of the distance to
   ``q``'s nearest exemplar. The track goes to the person ``p`` with the smallest video
   distance if:

   - ``p`` is a candidate: within the tolerance plus :data:`REFERENCE_SLACK` of ``p``'s
     references (the references still have their say);
   - the video distance is at most :data:`VIDEO_TOLERANCE`, and every other person's
     is at least :data:`VIDEO_GAP` larger;
   - two faces in one frame are two people: the track never shares a frame with a track
     decided for ``p`` in its segment, and of two borderline tracks sharing frames, only
     the nearer goes to ``p``.

4. **Unconfirmed tracks.** A track the references decided for ``p`` without a single
   face matched with confidence (all its faces farther than :data:`CONFIDENT_DISTANCE`,
   or without the margin) is held back too (:attr:`PendingTrack.decided`). It keeps
   ``p`` when the video shows no other face of ``p`` matched with confidence (the
   references alone decide, as before), or when its video distance to ``p`` is at most
   :data:`VIDEO_TOLERANCE`; it is refused when ``p``'s confident faces in the video look
   unlike it: a look-alike (a relative) whose frames happen to fall within the
   tolerance is not ``p``, the person the video shows with confidence is.

Adopted tracks do not become exemplars (no drift from one adoption to the next).

Before all this, within each track (:func:`own_core`): a track whose faces vary, some
matched with confidence and the others past the tolerance (a head turning), keeps its
person, if its face changes only gradually (not a missed cut).

Every function here is pure; :func:`pack` and :func:`unpack` turn a segment's
exemplars and borderline tracks into bytes for the writer's spool (no pickle).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceripper.pose import HeadPose
from faceripper.tracks import Decision

if TYPE_CHECKING:
    from faceripper.worker import FaceHit

#: A face at most this far from a person's references ...
CONFIDENT_DISTANCE = 0.35
#: ... and at least this much nearer to them than to anyone else is matched with
#: confidence: an exemplar of that person in its video.
CONFIDENT_MARGIN = 0.1
#: Encodings kept as exemplars per track (spread over the track).
EXEMPLARS_PER_TRACK = 4
#: Exemplars kept per person and video (spread over the video): memory stays bounded.
MAX_EXEMPLARS = 128
#: A track whose median distance to a person's references is within the tolerance plus
#: this may still be that person's, if the video says so.
REFERENCE_SLACK = 0.1
#: Encodings of a borderline track kept for the decision (spread over the track).
PENDING_ENCODINGS = 8
#: A borderline track is a person's if its video distance to them is at most this ...
VIDEO_TOLERANCE = 0.4
#: ... and every other person's video distance is at least this much larger.
VIDEO_GAP = 0.04


#: A track whose frames vary (a head turning) keeps its person, although its median
#: distance to them is past the tolerance plus :data:`faceripper.tracks.MEDIAN_SLACK`,
#: when at least this many of its faces are matched with confidence ...
CORE_FACES = 1
#: ... its median is within the tolerance plus this, and its face changes only
#: gradually (:func:`own_core`).
CORE_SLACK = 0.2
#: Consecutive encoded faces of such a track lie within the tolerance plus this.
CORE_STEP_SLACK = 0.04


def own_core(
    distances: npt.NDArray[np.float64],
    encodings: npt.NDArray[np.float64],
    decision: Decision,
    n_people: int,
    tolerance: float,
) -> Decision:
    """Within-track voting: a track whose best faces are confidently P is P's, however
    far its other faces are (up to a point), when its face changes only gradually.

    A real face varies within a shot: the head turns, the expression and the light
    change, and a single reference photo matches only some views (on the Hamilton clip
    one face's encodings in one shot lie 0.44 apart, median).
    :func:`faceripper.tracks.decide` drops a track whose median distance to its voted
    person is past the tolerance plus :data:`faceripper.tracks.MEDIAN_SLACK` (reason
    ``"far"``), so that one lucky frame does not carry a stranger's track. Such a track
    is given to its person P when

    - every vote is P's (``decide`` allows none for anyone else in a ``"far"`` track
      beyond :data:`faceripper.tracks.DISAGREEMENT`), and P is a person, not a negative;
    - at least :data:`CORE_FACES` of its faces are matched with confidence
      (:func:`confident_faces`: within 0.35 of P and 0.1 nearer than to anyone else),
      which a look-alike stranger's faces are not (Kim Hong-up lies 0.40-0.43 from Hu
      Jintao's photo; the stranger of issue 13 0.45 and more);
    - its median distance to P is within ``tolerance`` + :data:`CORE_SLACK`, and P is
      the nearest identity by median;
    - each of its encoded faces lies within ``tolerance`` + :data:`CORE_STEP_SLACK` of
      the one before: a chain of faces, each about the same person as the last, from a
      face matched with confidence. A head turns gradually (on the footage-like ground
      truth with faces that turn, steps of at most 0.40 through a turn, across a frame
      not encoded); a cut the cut detector missed replaces one face by another at once,
      a step of the whole distance between the two people, and it would also have to
      escape :func:`faceripper.tracks.split` (a step over 0.6, or votes changing
      person).

    Args:
        distances: ``(n, n_identities)`` distances of the track's encoded faces, in order.
        encodings: ``(n, 128)`` their encodings.
        decision: the track's decision from the references alone.
        n_people: identities from here on are negatives.
        tolerance: the run's tolerance.

    Returns:
        ``decision``, or a ``"matched"`` one for P.
    """
    person = decision.nearest
    if decision.reason != "far" or not 0 <= person < n_people or len(distances) == 0:
        return decision
    median = np.median(distances, axis=0)
    if int(np.argmin(median)) != person or float(median[person]) > tolerance + CORE_SLACK:
        return decision
    if int(confident_faces(distances, person, n_people).sum()) < CORE_FACES:
        return decision
    steps = np.linalg.norm(np.diff(encodings, axis=0), axis=1)
    if steps.size and float(steps.max()) > tolerance + CORE_STEP_SLACK:
        return decision
    return Decision(person, float(median[person]), "matched", person)


def spread(n: int, k: int) -> npt.NDArray[np.int64]:
    """Indices of ``k`` items evenly spread over ``n`` (all of them when ``n <= k``).

    >>> spread(10, 3).tolist(), spread(2, 3).tolist()
    ([0, 4, 9], [0, 1])
    """
    if n <= k:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.round(np.linspace(0, n - 1, k)).astype(np.int64))


@dataclass
class Exemplars:
    """Encodings of faces matched with confidence, each with its person.

    Attributes:
        person: ``(k,)`` int64 person index.
        encodings: ``(k, 128)`` float64.
    """

    person: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    encodings: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 128)))

    def __len__(self) -> int:
        return len(self.person)

    def add(self, person: int, encodings: npt.NDArray[np.float64]) -> None:
        """Append encodings ``(k, 128)`` of one person."""
        self.person = np.concatenate([self.person, np.full(len(encodings), person, np.int64)])
        self.encodings = np.concatenate([self.encodings, encodings.reshape(-1, 128)])

    @classmethod
    def merge(cls, parts: Iterable[Exemplars], limit: int = MAX_EXEMPLARS) -> Exemplars:
        """Join exemplars (in order), keeping at most ``limit`` per person, spread out.

        Streams: while parts come in, a person's exemplars are thinned to ``2 * limit``
        whenever they pass ``4 * limit``, so memory stays bounded however long the
        video; the result is deterministic for the same parts.
        """
        merged = cls()
        for part in parts:
            merged.add_all(part)
            if len(merged) and np.bincount(merged.person).max() > 4 * limit:
                merged = merged.thinned(2 * limit)
        return merged.thinned(limit)

    def add_all(self, other: Exemplars) -> None:
        """Append another set's exemplars."""
        self.person = np.concatenate([self.person, other.person.astype(np.int64)])
        self.encodings = np.concatenate([self.encodings, other.encodings.reshape(-1, 128)])

    def thinned(self, limit: int) -> Exemplars:
        """At most ``limit`` exemplars per person, spread over their order."""
        keep = [
            rows[spread(len(rows), limit)]
            for rows in (np.flatnonzero(self.person == who) for who in np.unique(self.person))
        ]
        rows = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
        return Exemplars(
            self.person[rows].astype(np.int64), self.encodings[rows].astype(np.float64)
        )


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

    ``person`` -1 when it stays undecided; ``reason``: adopted, no exemplars, far,
    ambiguous, shares a frame; for an unconfirmed track (:attr:`PendingTrack.decided`):
    confirmed, references (no confident face of its person in the video), unlike the
    video.
    """

    person: int
    video_distance: float
    reason: str


def video_distances(
    encodings: npt.NDArray[np.float64], exemplars: Exemplars, n_people: int
) -> npt.NDArray[np.float64]:
    """``(n_people,)`` median over ``encodings`` of the distance to each person's nearest
    exemplar (inf for a person without exemplars)."""
    out = np.full(n_people, np.inf)
    if len(encodings) == 0:
        return out
    for who in range(n_people):
        mine = exemplars.encodings[exemplars.person == who]
        if len(mine):
            diff = encodings[:, None, :] - mine[None, :, :]
            nearest = np.sqrt(np.einsum("nmk,nmk->nm", diff, diff)).min(axis=1)
            out[who] = float(np.median(nearest))
    return out


def decide_pending(
    pending: Sequence[PendingTrack], exemplars: Exemplars, n_people: int, tolerance: float
) -> list[Adoption]:
    """Decide the borderline tracks of one segment from their video's exemplars.

    See the module docstring for the rule. Tracks of one segment only are compared for
    shared frames (a track never spans two segments).

    Returns:
        One :class:`Adoption` per track, in order.
    """
    first: list[Adoption] = []
    for track in pending:
        dv = video_distances(track.encodings, exemplars, n_people)
        if track.decided >= 0:
            first.append(_confirm(track.decided, float(dv[track.decided])))
            continue
        if not np.isfinite(dv).any():
            first.append(Adoption(-1, float("inf"), "no exemplars"))
            continue
        allowed = np.array(
            [
                p not in track.excluded
                and float(track.ref_distance[p]) <= tolerance + REFERENCE_SLACK
                for p in range(n_people)
            ]
        )
        if not (allowed & np.isfinite(dv)).any():
            first.append(Adoption(-1, float(np.min(dv)), "far"))
            continue
        order = np.argsort(np.where(allowed, dv, np.inf), kind="stable")
        best = int(order[0])
        others = np.delete(dv, best)
        if float(dv[best]) > VIDEO_TOLERANCE:
            first.append(Adoption(-1, float(dv[best]), "far"))
        elif others.size and float(others.min()) < float(dv[best]) + VIDEO_GAP:
            first.append(Adoption(-1, float(dv[best]), "ambiguous"))
        else:
            first.append(Adoption(best, float(dv[best]), "adopted"))
    # Two faces in one frame are two people: of overlapping tracks, the nearer keeps p.
    final = list(first)
    for i, (track, adoption) in enumerate(zip(pending, first, strict=True)):
        if adoption.person < 0:
            continue
        for j, (other, rival) in enumerate(zip(pending, first, strict=True)):
            if (
                j != i
                and rival.person == adoption.person
                and other.overlaps(track.first_frame, track.last_frame)
                and (rival.video_distance, j) < (adoption.video_distance, i)
            ):
                final[i] = Adoption(-1, adoption.video_distance, "shares a frame")
                break
    return final


def _confirm(person: int, video_distance: float) -> Adoption:
    """The video's word on a track the references decided for ``person`` without a face
    matched with confidence (``video_distance``: inf when the video shows no confident
    face of ``person``)."""
    if not np.isfinite(video_distance):
        return Adoption(person, video_distance, "references")
    if video_distance <= VIDEO_TOLERANCE:
        return Adoption(person, video_distance, "confirmed")
    return Adoption(-1, video_distance, "unlike the video")


def adopted_hits(track: PendingTrack, adoption: Adoption) -> list[FaceHit]:
    """The track's hits given to the adopted person (own distance when encoded)."""
    from dataclasses import replace

    person = adoption.person
    out = []
    for hit, own in zip(track.hits, track.own_distances, strict=True):
        distance = float(own[person]) if own is not None else float(track.ref_distance[person])
        out.append(replace(hit, person=person, distance=distance))
    return out


# ----------------------------------------------------------------------- spool format


def pack(exemplars: Exemplars, pending: Sequence[PendingTrack]) -> bytes:
    """A segment's exemplars and borderline tracks as ``.npz`` bytes (no pickle)."""
    meta: list[dict[str, Any]] = []
    encodings, ref_distance, blobs = [], [], []
    for track in pending:
        hits = []
        for hit, own in zip(track.hits, track.own_distances, strict=True):
            hits.append(
                {
                    "frame": hit.frame,
                    "time_s": hit.time_s,
                    "face": hit.face_index,
                    "box": list(hit.box_trbl),
                    "sharpness": hit.sharpness,
                    "status": hit.status,
                    "track": hit.track,
                    "encoded": hit.encoded,
                    "detector": hit.detector,
                    "pose": None if hit.pose is None else [hit.pose.yaw, hit.pose.roll],
                    "own": None if own is None else [float(v) for v in own],
                    "jpeg": len(hit.jpeg),
                }
            )
            blobs.append(hit.jpeg)
        meta.append(
            {
                "name": track.name,
                "first": track.first_frame,
                "last": track.last_frame,
                "excluded": list(track.excluded),
                "decided": track.decided,
                "encodings": len(track.encodings),
                "hits": hits,
            }
        )
        encodings.append(track.encodings.reshape(-1, 128))
        ref_distance.append(track.ref_distance)
    width = len(pending[0].ref_distance) if pending else 0
    buffer = io.BytesIO()
    np.savez(
        buffer,
        exemplar_person=exemplars.person.astype(np.int64),
        exemplar_encodings=exemplars.encodings.astype(np.float64).reshape(-1, 128),
        meta=np.array(json.dumps(meta)),
        encodings=np.concatenate(encodings) if encodings else np.zeros((0, 128)),
        ref_distance=np.stack(ref_distance) if ref_distance else np.zeros((0, width)),
        jpeg=np.frombuffer(b"".join(blobs), dtype=np.uint8),
    )
    return buffer.getvalue()


def unpack(data: bytes, exemplars_only: bool = False) -> tuple[Exemplars, list[PendingTrack]]:
    """Read :func:`pack`'s bytes back (``exemplars_only``: skip the tracks and crops)."""
    from faceripper.worker import FaceHit

    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        exemplars = Exemplars(
            arrays["exemplar_person"].astype(np.int64),
            arrays["exemplar_encodings"].astype(np.float64),
        )
        if exemplars_only:
            return exemplars, []
        meta = json.loads(str(arrays["meta"]))
        encodings = arrays["encodings"]
        ref_distance = arrays["ref_distance"]
        jpeg = arrays["jpeg"].tobytes()
    pending: list[PendingTrack] = []
    row = offset = 0
    for index, item in enumerate(meta):
        track = PendingTrack(
            item["name"],
            int(item["first"]),
            int(item["last"]),
            ref_distance[index].astype(np.float64),
            encodings[row : row + item["encodings"]].astype(np.float64),
            tuple(int(p) for p in item["excluded"]),
            decided=int(item.get("decided", -1)),
        )
        row += item["encodings"]
        for hit in item["hits"]:
            size = int(hit["jpeg"])
            track.hits.append(
                FaceHit(
                    frame=int(hit["frame"]),
                    time_s=float(hit["time_s"]),
                    face_index=int(hit["face"]),
                    box_trbl=tuple(int(v) for v in hit["box"]),  # type: ignore[arg-type]
                    person=-1,
                    distance=float("nan"),
                    sharpness=float(hit["sharpness"]),
                    status=str(hit["status"]),
                    jpeg=jpeg[offset : offset + size],
                    track=str(hit["track"]),
                    encoded=bool(hit["encoded"]),
                    detector=str(hit.get("detector", "hog")),
                    pose=None if hit.get("pose") is None else HeadPose(*hit["pose"]),
                )
            )
            own = hit["own"]
            track.own_distances.append(None if own is None else np.array(own, dtype=np.float64))
            offset += size
        pending.append(track)
    return exemplars, pending
