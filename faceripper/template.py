"""Track templates: a track's faces averaged into one encoding.

A shot shows one person through many views (the head turns, the light and expression
change); each face's encoding carries what is particular to its view besides who it
is. Their mean keeps what they share: on the footage-like ground truth a person's
track template lies nearer to their one reference photo than most of their faces do
(0.35-0.38 for tracks whose faces lie 0.41-0.49 from it, median), while a look-alike's
template lies where his own face is (Kim Hong-up: 0.39-0.42 from Hu Jintao's photo,
his faces 0.38-0.44). See docs/quality.md, "Track templates".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper.heldback import Anchor, PendingTrack


def template(encodings: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The mean direction of ``encodings`` ``(n, 128)`` (each scaled to unit length
    first, so that no face weighs more for its length), at their mean length.

    >>> template(np.array([[3.0, 0.0], [0.0, 1.0]])).round(3).tolist()
    [1.414, 1.414]
    """
    lengths = np.linalg.norm(encodings, axis=1, keepdims=True)
    mean = (encodings / np.maximum(lengths, 1e-12)).mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12) * float(lengths.mean())


def template_distance(
    encodings: npt.NDArray[np.float64],
    photos: npt.NDArray[np.float64],
    views: npt.NDArray[np.float64],
) -> float:
    """How near a track's template comes to a person's reference photos seen two ways.

    Args:
        encodings: ``(n, 128)`` the track's encoded faces (n >= 1).
        photos: ``(r, 128)`` the person's reference encodings.
        views: ``(r, 128)`` their second views
            (:func:`faceripper.references.encode_reference_view`).

    Returns:
        The least, over the photos, of the larger of the template's distances to the
        photo and to its view; inf without faces or photos.
    """
    if len(encodings) == 0 or len(photos) == 0:
        return float("inf")
    centre = template(encodings)
    to_photo = np.linalg.norm(photos - centre, axis=1)
    to_view = np.linalg.norm(views - centre, axis=1)
    return float(np.maximum(to_photo, to_view).min())


#: A held-back track of a person who has no anchor in its video is theirs (reason
#: ``template``) when its template lies within this of one of their reference photos and
#: of that photo's second view (:func:`template_distance`, :func:`typical_tracks`). A
#: person's own tracks that no other rule takes lie 0.37-0.39 (footage-like ground
#: truth); the nearest look-alike's 0.42 and more (Hu Jintao's tracks against Kim
#: Hong-up's photo; Kim's against Hu's, 0.49 and more, the view keeps him away).
TEMPLATE_DISTANCE = 0.39


def typical_tracks(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    held: Sequence[int],
    n_people: int,
) -> dict[int, int]:
    """The held-back tracks whose template is their person's, for people without anchors.

    A track qualifies for ``p`` (:meth:`faceripper.heldback.PendingTrack.person`: the
    person it was decided for, or its nearest by the references) when it holds no
    person yet (``held``), ``p`` has no anchor in the video, no track decided for ``p``
    shares a frame with it (:attr:`~faceripper.heldback.PendingTrack.excluded`), and its
    :attr:`~faceripper.heldback.PendingTrack.template` is within
    :data:`TEMPLATE_DISTANCE`. Two faces in one frame are two people: it is not taken
    beside a track that holds ``p``, and of two qualifying tracks of ``p`` sharing a
    frame only the nearer (then the earlier) is.

    Args:
        pending: the video's held-back tracks.
        anchors: its anchors.
        held: per track, the person it holds so far (-1: none; a track kept on the
            references' word alone counts as none).
        n_people: identities from here on are negatives.

    Returns:
        Track index -> person.
    """
    anchored = {a.person for a in anchors}
    found: dict[int, int] = {}
    for k, track in enumerate(pending):
        person = track.person(n_people)
        if (
            held[k] < 0
            and 0 <= person < n_people
            and person not in anchored
            and person not in track.excluded
            and track.template <= TEMPLATE_DISTANCE
        ):
            found[k] = person
    out: dict[int, int] = {}
    for k, person in found.items():
        track = pending[k]
        beside = any(
            j != k
            and other.overlaps(track.first_frame, track.last_frame)
            and (
                held[j] == person
                or (found.get(j) == person and (other.template, j) < (track.template, k))
            )
            for j, other in enumerate(pending)
        )
        if not beside:
            out[k] = person
    return out
