"""The tracker: each frame's faces linked to the face tracks of the frame before.

A detection joins the track whose last box it overlaps most (IoU at least
:data:`faceripper.tracks.LINK_IOU`, sizes within :data:`faceripper.tracks.LINK_SIZE_RATIO`);
otherwise it starts a new track (:mod:`faceripper.tracks` has the tracks and how their
identities are decided). A track that nothing continues ends, unless the caller lets it
wait a few frames (a face followed where HOG lost it, :mod:`faceripper.follow`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from faceripper.geometry import BoxArray, box_sizes, iou
from faceripper.tracks import LINK_IOU, LINK_SIZE_RATIO, Track


class Tracker:
    """Links each frame's boxes to the tracks of the previous processed frame.

    ``active`` are the tracks of the previous processed frame (one face each, in its
    order); ``waiting`` those that frame left without a face but that may still be
    continued (:meth:`assign`'s ``wait``: a face followed where HOG lost it,
    :mod:`faceripper.follow`). Both are linked to the next frame's boxes by their last
    box.
    """

    def __init__(self, prefix: str = "", enabled: bool = True) -> None:
        self.prefix = prefix
        self.enabled = enabled
        self.active: list[Track] = []
        self.waiting: list[Track] = []
        self.finished: list[Track] = []

    @property
    def tracked(self) -> list[Track]:
        """The tracks a box of the next frame may continue: ``active``, then ``waiting``."""
        return self.active + self.waiting

    def cut(self) -> None:
        """End every active and waiting track (a shot cut, or the end of the segment)."""
        self.finished += self.active + self.waiting
        self.active = []
        self.waiting = []

    def assign(
        self,
        frame: int,
        boxes: BoxArray,
        face_index: npt.NDArray[np.int64],
        wait: Callable[[Track], bool] | None = None,
    ) -> list[Track]:
        """The track of each box (new tracks for unmatched boxes); unmatched tracks end.

        Greedy: the pairs of highest overlap are linked first, each track and box once.
        An unmatched track for which ``wait`` is true waits instead of ending (its
        ``misses`` counted up; ``wait`` bounds them): a box of a later frame may still
        continue it. A continued track's ``misses`` start again from 0.
        """
        chosen = self._link(boxes)
        for b in range(len(boxes)):
            if chosen[b] is None:
                chosen[b] = Track(f"{self.prefix}{frame}.{int(face_index[b])}")
        still = {id(t) for t in chosen}
        unmatched = [t for t in self.tracked if id(t) not in still]
        self.waiting = [t for t in unmatched if wait is not None and wait(t)]
        for track in self.waiting:
            track.misses += 1
        waiting = {id(t) for t in self.waiting}
        self.finished += [t for t in unmatched if id(t) not in waiting]
        self.active = [t for t in chosen if t is not None]
        for track in self.active:
            track.misses = 0
        return self.active

    def lost(self, boxes: BoxArray) -> list[Track]:
        """The active and waiting tracks that none of ``boxes`` would continue
        (:meth:`assign`)."""
        linked = {id(t) for t in self._link(boxes) if t is not None}
        return [t for t in self.tracked if id(t) not in linked]

    def _link(self, boxes: BoxArray) -> list[Track | None]:
        """The active track each box continues (None: a new face)."""
        chosen: list[Track | None] = [None] * len(boxes)
        tracked = self.tracked
        if self.enabled and tracked and len(boxes):
            last = np.array([t.last.box_trbl for t in tracked], dtype=np.int64)
            overlap = iou(boxes, last)
            ratio = box_sizes(boxes)[:, None] / np.maximum(box_sizes(last)[None, :], 1)
            overlap[(ratio > LINK_SIZE_RATIO) | (ratio < 1 / LINK_SIZE_RATIO)] = 0.0
            used_tracks: set[int] = set()
            for flat in np.argsort(-overlap, axis=None, kind="stable"):
                b, t = divmod(int(flat), overlap.shape[1])
                if overlap[b, t] < LINK_IOU:
                    break
                if chosen[b] is None and t not in used_tracks:
                    chosen[b] = tracked[t]
                    used_tracks.add(t)
        return chosen
