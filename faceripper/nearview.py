"""The two-view test of an unconfirmed track: a face near a person's reference photo and
near the same photo's second view (:func:`faceripper.references.encode_reference_view`),
and its use in :func:`faceripper.adaptive.decide_video` (module docstring there, steps 4
and 5)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper.clustering import track_distances
from faceripper.heldback import Adoption, Anchor, PendingTrack

#: In a video without an anchor of ``p``, a track decided for ``p`` without a confident
#: face is kept only if one of its faces lies within this of one of ``p``'s reference
#: photos (whatever the tolerance, when that is looser: the bar does not move with
#: ``--tolerance``) ...
NEAR_DISTANCE = 0.4
#: ... and within this of the same photo's second view (the same face encoded the other
#: way: :func:`faceripper.references.encode_reference_view`; :func:`view_distance`); the
#: others only if they look like such a track (``adaptive.decide_video``). A look-alike whom
#: one encoding of a photo puts near it rarely stays near the other: on the footage Kim
#: Hong-up comes 0.383 from Hu Jintao's photo and 0.484 from its face alone; a person's
#: own unconfirmed tracks without an anchor come 0.36-0.45 with whole photos, 0.35-0.44
#: with tight crops (footage), 699 of 707 within 0.45 (``lfw_dev``, docs/quality.md,
#: "Unconfirmed tracks without an anchor").
VIEW_DISTANCE = 0.45


def view_distance(
    encodings: npt.NDArray[np.float64],
    photos: npt.NDArray[np.float64],
    views: npt.NDArray[np.float64],
    tolerance: float,
) -> float:
    """How near a track comes to a person's reference photos seen two ways.

    Args:
        encodings: ``(n, 128)`` the track's encoded faces.
        photos: ``(r, 128)`` the person's reference encodings.
        views: ``(r, 128)`` their second views
            (:func:`faceripper.references.encode_reference_view`; a reference without one,
            e.g. a face learnt from a correction, is its own).
        tolerance: the run's tolerance.

    Returns:
        The least, over the faces within ``min(tolerance, NEAR_DISTANCE)`` of a photo,
        of the larger of the face's distances to that photo and to its view; inf when
        no face is that near a photo.
    """
    if len(encodings) == 0 or len(photos) == 0:
        return float("inf")
    to_photo = np.linalg.norm(encodings[:, None] - photos[None], axis=2)  # (n, r)
    to_view = np.linalg.norm(encodings[:, None] - views[None], axis=2)
    near = to_photo <= min(tolerance, NEAR_DISTANCE)
    both = np.where(near, np.maximum(to_photo, to_view), np.inf)
    return float(both.min())


def near_unlike(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    decisions: Sequence[Adoption],
    gap: float,
) -> list[Adoption]:
    """An unconfirmed track refused as unlike the video keeps its person ``p`` (reason
    ``near``) when its :attr:`PendingTrack.best` is within :data:`VIEW_DISTANCE` (the
    two-view test of a video without an anchor of ``p``), no anchor of ``p`` shares a
    frame with it (nor any track decided or kept for ``p``), and ``p``'s anchors
    (:func:`faceripper.clustering.track_distances`) are ``gap`` nearer than anyone
    else's. The references decided it for ``p`` and one of its faces passes the bar that
    keeps a track of ``p`` in a video without his anchors; his anchors 0.4-0.5 away are
    another look of him (docs/quality.md, "Unconfirmed tracks unlike the video")."""
    out = list(decisions)
    for k, (track, decision) in enumerate(zip(pending, decisions, strict=True)):
        person = track.decided
        if (
            decision.reason != "unlike the video"
            or person < 0
            or person in track.excluded
            or track.best > VIEW_DISTANCE
        ):
            continue
        mine = [a for a in anchors if a.person == person]
        if any(track.overlaps(a.first_frame, a.last_frame) for a in mine):
            continue
        other = [a for a in anchors if a.person != person]
        items = [track.encodings, *(a.encodings for a in mine), *(a.encodings for a in other)]
        distance = track_distances(items)[0, 1:]
        nearest_other = float(distance[len(mine) :].min()) if other else float("inf")
        if float(distance[: len(mine)].min()) + gap > nearest_other:
            continue
        if any(
            out[j].person == person and other_track.overlaps(track.first_frame, track.last_frame)
            for j, other_track in enumerate(pending)
            if j != k
        ):
            continue
        out[k] = Adoption(person, decision.video_distance, "near")
    return out
