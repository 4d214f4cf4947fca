"""Faces of a track encoded after the fact, where its face changed person unseen.

A settled track is encoded every :data:`~faceripper.tracks.RECHECK_EVERY` frames, and in
between only when its face's thumbnail jumps (:data:`~faceripper.tracks.APPEARANCE_JUMP`).
When one close-up replaces another at the same place and the frame test misses the cut,
the thumbnail of the new face may jump less than a face moving in its box does (the sitcom
ground truth, seed 2, draw 4: Amy's close-up replaced by Raj's at frame 1401, a jump of
0.535 at an unchanged box, while the box moving 17 px in Raj's next frame jumps 0.755).
The change is then first seen at the track's next encoding, frames later, and
:func:`faceripper.tracks.split` had to guess from the thumbnails which of the frames in
between were whose: the first frame of Raj's close-up was saved as Amy.

So the frame stage holds, for each track, a copy of the region around each face it
could have encoded but did not (:class:`HeldFace`: cropped, not blurry, not followed)
since the track's last encoding. When the next encoding shows that the face changed
(:func:`changed`: more than :data:`~faceripper.tracks.SPLIT_DISTANCE` from the track's
previous encoding, where :func:`faceripper.tracks.split` cuts, or a vote for a person the
track has not voted for), the held faces are encoded too, and the split falls exactly
where the encodings change. When a track ends, its last held face is encoded; only when
it changed (more than :data:`~faceripper.tracks.SPLIT_DISTANCE` from the previous
encoding: a person who replaced the track's face in its last frames) is it kept and
are the others encoded: otherwise it is discarded, and the track is decided as before.
Nothing is held across a reset point (the state that holds them is made anew there), so
the result does not depend on how a video is cut into segments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper.encoder import encode_faces, face_distances
from faceripper.images import ImageRGB
from faceripper.matching import person_distances
from faceripper.pose import head_pose
from faceripper.tracks import SPLIT_DISTANCE, Observation, Track, vote
from faceripper.worker.records import References, RipSettings, SegmentResult

#: A face's encoding, distances to every identity and landmarks.
_Encoded = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]

#: A held face keeps the frame's pixels within this many face sides around its box
#: (its landmarks and encoding are then those of the whole frame, to the bit).
HOLD_MARGIN = 0.5


@dataclass
class HeldFace:
    """A face not encoded, with the pixels around it: ``image`` a copy of the frame's
    region, ``box`` the face's ``(top, right, bottom, left)`` in it."""

    observation: Observation
    image: ImageRGB
    box: npt.NDArray[np.int64]

    @classmethod
    def of(cls, image: ImageRGB, observation: Observation) -> HeldFace:
        """The region of ``image`` (the whole frame) around ``observation``'s box."""
        top, right, bottom, left = observation.box_trbl
        pad = round(max(1, right - left, bottom - top) * HOLD_MARGIN)
        y0, x0 = max(0, top - pad), max(0, left - pad)
        y1, x1 = min(image.shape[0], bottom + pad), min(image.shape[1], right + pad)
        region = np.ascontiguousarray(image[y0:y1, x0:x1])
        box = np.array([top - y0, right - x0, bottom - y0, left - x0], dtype=np.int64)
        return cls(observation, region, box)


@dataclass
class _Since:
    """A track's last encoding, the people it voted for, and the faces held since."""

    track: Track
    encoding: npt.NDArray[np.float64]
    persons: set[int]
    held: list[HeldFace] = field(default_factory=list)


def changed(
    since: _Since,
    encoding: npt.NDArray[np.float64],
    distances: npt.NDArray[np.float64],
    settings: RipSettings,
    votes: bool = True,
) -> bool:
    """Whether a face (its ``encoding`` and ``distances`` to every identity) is another
    person than its track's previous encoding (``since``): more than
    :data:`~faceripper.tracks.SPLIT_DISTANCE` from it, or (with ``votes``) voting for a
    person the track has not voted for (when it has voted)."""
    if float(np.linalg.norm(encoding - since.encoding)) > SPLIT_DISTANCE:
        return True
    person = vote(distances, settings.tolerance, settings.ambiguity_gap)
    return votes and person >= 0 and bool(since.persons) and person not in since.persons


class Backfill:
    """The faces held per track (by ``id``) since its last encoding (module doc)."""

    def __init__(self) -> None:
        self.since: dict[int, _Since] = {}

    def note(
        self,
        track: Track,
        observation: Observation,
        image: ImageRGB,
        holdable: bool,
        settings: RipSettings,
        references: References,
        result: SegmentResult,
    ) -> None:
        """Take ``observation``, just added to ``track``: hold it (``holdable``: cropped,
        not blurry, not followed, not encoded), or, encoded, encode the held faces when
        it changed (:func:`changed`) and start holding afresh."""
        since = self.since.get(id(track))
        if observation.encoding is None or observation.distances is None:
            if holdable and since is not None:
                since.held.append(HeldFace.of(image, observation))
            return
        if (
            since is not None
            and since.held
            and changed(since, observation.encoding, observation.distances, settings)
        ):
            _encode_held(since.held, track, settings, references, result)
        persons = since.persons if since is not None else set()
        person = vote(observation.distances, settings.tolerance, settings.ambiguity_gap)
        if person >= 0:
            persons = persons | {person}
        self.since[id(track)] = _Since(track, observation.encoding, persons)

    def end(
        self,
        alive: Iterable[Track],
        settings: RipSettings,
        references: References,
        result: SegmentResult,
    ) -> None:
        """Settle the tracks not in ``alive`` (they ended): the last face held is encoded;
        when it changed (:func:`changed`, by distance alone) it is kept and the others
        held are encoded too, else it is discarded."""
        keep = {id(t) for t in alive}
        for key in [k for k in self.since if k not in keep]:
            since = self.since.pop(key)
            if not since.held:
                continue
            probe = _encodings(since.held[-1:], settings, references, result)
            result.counts["backfill_probes"] += 1
            encoding, distances, _ = probe[0]
            if changed(since, encoding, distances, settings, votes=False):
                _encode_held(since.held, since.track, settings, references, result, probe)


def _encodings(
    held: list[HeldFace], settings: RipSettings, references: References, result: SegmentResult
) -> list[_Encoded]:
    """Each held face's encoding, distances to every identity and landmarks."""
    out = []
    for face in held:
        part = encode_faces(
            face.image,
            face.box[None, :],
            landmark_model=settings.landmarks,
            jitters=1,
            engine=settings.engine,
            device=settings.device,
        )
        encoding = part.encodings[0]
        distances = person_distances(
            face_distances(encoding[None, :], references.encodings),
            references.person,
            references.n_identities,
        )[0]
        out.append((encoding, distances, part.landmarks_xy[0]))
    result.counts["encoded"] += len(held)
    return out


def _encode_held(
    held: list[HeldFace],
    track: Track,
    settings: RipSettings,
    references: References,
    result: SegmentResult,
    last: list[_Encoded] | None = None,
) -> None:
    """Encode the held faces into their observations (votes counted on ``track``);
    ``last``: the last one's, computed already."""
    done = _encodings(held[:-1] if last else held, settings, references, result) + (last or [])
    result.counts["backfilled"] += len(held)
    for face, (encoding, distances, landmarks) in zip(held, done, strict=True):
        observation = face.observation
        observation.encoding, observation.distances = encoding, distances
        if observation.pose is None:
            observation.pose = head_pose(landmarks)
        person = vote(distances, settings.tolerance, settings.ambiguity_gap)
        if person >= 0:
            track.votes[person] += 1
    held.clear()
