"""Faces of a track encoded after the fact, where its face changed person unseen.

A settled track is encoded every :data:`~faceripper.tracks.RECHECK_EVERY` frames, and in
between only when its face's thumbnail jumps (:data:`~faceripper.tracks.APPEARANCE_JUMP`).
When one close-up replaces another at the same place and the frame test misses the cut,
the new face's thumbnail may jump less than a face moving in its box does (the sitcom
ground truth, seed 2, draw 4: Amy's close-up replaced by Raj's at frame 1401, a jump of
0.535 at an unchanged box, while Raj's box moving 17 px a frame later jumps 0.755).
The change was then first seen at the track's next encoding, frames later, and
:func:`faceripper.tracks.split` guessed from the thumbnails which frames in between were
whose: the first frame of Raj's close-up was saved as Amy's.

So the frame stage holds, for each track, a copy of the region around each face it
could have encoded but did not (:class:`HeldFace`: cropped, not blurry, not followed)
since the track's last encoding. When the next encoding shows that the face changed
(:func:`changed`: more than :data:`~faceripper.tracks.SPLIT_DISTANCE` from the track's
previous encoding, where :func:`~faceripper.tracks.split` cuts, or a vote for a person
the track has not voted for), the held faces are encoded too, and the split falls
exactly where the encodings change. When a track ends, its last held face is encoded;
when it changed (more than :data:`~faceripper.tracks.SPLIT_DISTANCE` from the previous
encoding: a face that replaced the track's in its last frames) the other held faces are
encoded too, else nothing more is done.

These encodings made after the fact are the observations' :attr:`~faceripper.tracks.
Observation.probe`: they place a change of person and do nothing else (no vote, no
median, nothing for the video's second step), so a track is decided from the faces
encoded as it went, as before. Nothing is held across a reset point (the state that
holds them is made anew there), so the result does not depend on how a video is cut
into segments.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper.images import ImageRGB
from faceripper.memo import encode_image
from faceripper.tracks import SPLIT_DISTANCE, Observation, Track, vote
from faceripper.worker.records import RipSettings, SegmentResult

#: A held face keeps the frame's pixels within this many face sides around its box
#: (its encoding is then the one of the whole frame, to the bit).
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
    person: int,
) -> bool:
    """Whether a face (its ``encoding``, and the ``person`` it votes for, -1: none) is
    another person than its track's previous encoding (``since``): more than
    :data:`~faceripper.tracks.SPLIT_DISTANCE` from it, or voting for a person the track
    has not voted for (when it has voted)."""
    if float(np.linalg.norm(encoding - since.encoding)) > SPLIT_DISTANCE:
        return True
    return person >= 0 and bool(since.persons) and person not in since.persons


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
        result: SegmentResult,
    ) -> None:
        """Take ``observation``, just added to ``track``: hold it (``holdable``: cropped,
        not blurry, not followed; when not encoded), or, encoded, encode the held faces
        when it changed (:func:`changed`) and start holding afresh."""
        since = self.since.get(id(track))
        if observation.encoding is None or observation.distances is None:
            if holdable and since is not None:
                since.held.append(HeldFace.of(image, observation))
            return
        person = vote(observation.distances, settings.tolerance, settings.ambiguity_gap)
        if since is not None and since.held and changed(since, observation.encoding, person):
            _probe(since.held, settings, result)
        persons = since.persons if since is not None else set()
        self.since[id(track)] = _Since(track, observation.encoding, persons | {person} - {-1})

    def end(self, alive: Iterable[Track], settings: RipSettings, result: SegmentResult) -> None:
        """Settle the tracks not in ``alive`` (they ended): the last face held is encoded;
        when it changed (:func:`changed`, by distance alone) the others held are encoded
        too."""
        keep = {id(t) for t in alive}
        for key in [k for k in self.since if k not in keep]:
            since = self.since.pop(key)
            if not since.held:
                continue
            last = since.held.pop()
            _probe([last], settings, result)
            result.counts["backfill_probes"] += 1
            assert last.observation.probe is not None
            if changed(since, last.observation.probe, -1):
                _probe(since.held, settings, result)
            else:
                last.observation.probe = None  # the same face: nothing to place


def _probe(held: list[HeldFace], settings: RipSettings, result: SegmentResult) -> None:
    """Encode the held faces into their observations' ``probe``."""
    for face in held:
        _, encodings = encode_image(
            face.image, face.box[None, :], settings.landmarks, settings.engine, settings.device
        )
        face.observation.probe = encodings[0]
    result.counts["backfilled"] += len(held)
    held.clear()
