"""Anchors from earlier videos: a run's confident faces of each person help its later videos.

A user rips a folder of many videos of the same people (the episodes of a series). A
person may be matched with confidence in some of them and never in others, where every
face of theirs lies 0.41-0.58 from their one photo: the video's second step
(:func:`faceripper.adaptive.decide_video`) has no anchor of theirs to decide their tracks
by, and refuses them. Their faces there often look much more like their confident faces
of another video than like the photo.

The rule (after a video's own second step, before its crops are written):

1. **The run's gallery** (:class:`Gallery`) holds faces of *anchor* tracks only (tracks
   with a face matched with confidence to the references: :class:`faceripper.heldback.Anchor`)
   of the videos whose second step finished earlier in the run, in commit order (the
   committer ends videos strictly in segment order, so the order is fixed). One hop:
   tracks adopted, lent, kept as near or on the references' word never enter it, and
   at use a face within :data:`faceripper.adaptive.SHARED_VIEW` of a face a user's
   correction took out of the person's folder is left out (:meth:`Gallery.anchors`).
2. **Bounded.** A video adds at most :data:`PER_VIDEO` faces per person, each at least
   :data:`NEW_LOOK` from the person's faces already in the gallery (farthest first: the
   looks the gallery lacks); a person holds at most :data:`PER_PERSON`. The faces are
   kept as float32 (the journal's ``gallery`` entry of the video's ``adapted`` line), so
   a resumed run rebuilds exactly the gallery of an uninterrupted one.
3. **The shared-views rule across videos** (:func:`lend`): the gallery's faces act as
   extra anchors of their person for :func:`faceripper.adaptive.shared_views`, with its
   bars unchanged: at least :data:`faceripper.adaptive.SHARED_FACES` of a held-back
   track's faces within :data:`faceripper.adaptive.SHARED_VIEW` of the person's faces,
   none within ``SHARED_VIEW + VIDEO_GAP`` of anyone else's (this video's anchors and
   the gallery's), the person the references' nearest and within the tolerance plus
   :data:`faceripper.heldback.REFERENCE_SLACK`, never beside an anchor of theirs in this
   video nor beside a track given them in the same frames. It may decide the tracks the
   video's own step left undecided (:data:`REASONS`): borderline tracks, and tracks the
   references decided for the person without a confident face that the video refused
   (``no anchor``, ``unlike the video``). Reason ``run anchors``.

A run of one video has no earlier video: its crops are those without the rule.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from faceripper.adaptive import SHARED_REASONS, SHARED_VIEW, shared_views
from faceripper.heldback import Adoption, Anchor, PendingTrack

if TYPE_CHECKING:
    from faceripper.learned import Learned

#: Faces a video adds to a person's gallery at most ...
PER_VIDEO = 8
#: ... each at least this far from the person's faces already there (another look, not
#: the same face a few frames on: half the shared-views bar) ...
NEW_LOOK = 0.15
#: ... up to this many faces per person for the whole run (memory and journal bounded
#: whatever the number of videos: 64 faces x 512 bytes a person).
PER_PERSON = 64
#: The video step's decisions the run's gallery may overturn.
REASONS = (*SHARED_REASONS, "no anchor")
#: The reason of a track decided through the run's gallery.
REASON = "run anchors"
#: A span no track shares a frame with: a gallery face is of another video.
_NO_FRAMES = (np.iinfo(np.int64).max, -1)


@dataclass
class Gallery:
    """The faces of each person's anchor tracks in the run's finished videos.

    Attributes:
        faces: per person index, ``(k, 128)`` float64 values of float32 encodings, in the
            order they were added.
    """

    faces: dict[int, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(f) for f in self.faces.values())

    def add(self, anchors: Sequence[Anchor]) -> dict[int, npt.NDArray[np.float64]]:
        """Add a finished video's anchors (bounded: :data:`PER_VIDEO`, :data:`NEW_LOOK`,
        :data:`PER_PERSON`); return the faces added per person (for the journal)."""
        added: dict[int, npt.NDArray[np.float64]] = {}
        for person in sorted({a.person for a in anchors}):
            candidates = np.concatenate(
                [a.encodings.reshape(-1, 128) for a in anchors if a.person == person]
            )
            chosen = _new_looks(_rounded(candidates), self.faces.get(person, np.zeros((0, 128))))
            if len(chosen):
                added[person] = chosen
                self.extend({person: chosen})
        return added

    def extend(self, added: Mapping[int, npt.NDArray[np.float64]]) -> None:
        """Add faces as they are (a journal entry read back)."""
        for person, faces in added.items():
            old = self.faces.get(person, np.zeros((0, 128)))
            self.faces[person] = np.concatenate([old, _rounded(faces)])[:PER_PERSON]

    def anchors(self, learned: Learned | None = None) -> list[Anchor]:
        """The gallery as anchors of their person sharing no frame with any track, less
        the faces near one a correction took out of that person's folder."""
        out = []
        for person, faces in sorted(self.faces.items()):
            if learned is not None and len(learned.exclusions):
                theirs = learned.exclusions[learned.excluded_person == person]
                if len(theirs):
                    near = np.linalg.norm(faces[:, None] - theirs[None], axis=2).min(axis=1)
                    faces = faces[near > SHARED_VIEW]
            if len(faces):
                out.append(Anchor(person, *_NO_FRAMES, faces))
        return out


def _rounded(faces: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Encodings as the journal keeps them (float32), back in float64."""
    return np.asarray(faces, dtype=np.float32).astype(np.float64).reshape(-1, 128)


def _new_looks(
    candidates: npt.NDArray[np.float64], have: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Up to :data:`PER_VIDEO` of ``candidates`` (room allowing), farthest first from
    ``have`` and from each other, each at least :data:`NEW_LOOK` from them all (the
    first candidate starts an empty gallery); deterministic (ties: the earlier)."""
    room = min(PER_VIDEO, PER_PERSON - len(have))
    chosen: list[int] = []
    if room <= 0 or not len(candidates):
        return np.zeros((0, 128))
    nearest = np.full(len(candidates), np.inf)
    if len(have):
        nearest = np.linalg.norm(candidates[:, None] - have[None], axis=2).min(axis=1)
    while len(chosen) < room:
        best = int(np.argmax(nearest)) if len(have) or chosen else 0
        if nearest[best] < NEW_LOOK:
            break
        chosen.append(best)
        nearest = np.minimum(nearest, np.linalg.norm(candidates - candidates[best], axis=1))
    return candidates[chosen]


def lend(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    decisions: Sequence[Adoption],
    earlier: Sequence[Anchor],
    n_people: int,
    tolerance: float,
) -> list[Adoption]:
    """The video's ``decisions`` with the tracks the run's gallery (``earlier``:
    :meth:`Gallery.anchors`) shows to be a person's given that person (reason
    :data:`REASON`), by :func:`faceripper.adaptive.shared_views` with the gallery's
    faces as extra anchors beside the video's own ``anchors``."""
    if not earlier or not pending:
        return list(decisions)
    lent = shared_views(
        pending, [*anchors, *earlier], decisions, n_people, tolerance, reasons=REASONS
    )
    return [
        Adoption(new.person, new.video_distance, REASON) if new.person != old.person else old
        for old, new in zip(decisions, lent, strict=True)
    ]


def to_json(added: Mapping[int, npt.NDArray[np.float64]]) -> dict[str, str]:
    """Faces added per person, for the journal: ``{person index: base64 float32}``."""
    return {
        str(person): base64.b64encode(np.asarray(faces, "<f4").tobytes()).decode("ascii")
        for person, faces in sorted(added.items())
    }


def from_json(data: Mapping[str, Any]) -> dict[int, npt.NDArray[np.float64]]:
    """:func:`to_json` read back."""
    out = {}
    for person, text in data.items():
        raw = np.frombuffer(base64.b64decode(text), dtype="<f4")
        out[int(person)] = raw.astype(np.float64).reshape(-1, 128)
    return out


def gallery_of(entries: Sequence[Mapping[str, Any]]) -> Gallery:
    """The gallery a run's journal holds (its ``gallery`` entries, in order)."""
    gallery = Gallery()
    for entry in entries:
        gallery.extend(from_json(entry))
    return gallery
