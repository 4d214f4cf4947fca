"""Video-adaptive identity: what a video shows with confidence decides its borderline faces.

With one reference photo a person's true faces lie anywhere from 0.2 to 0.6 from it,
so a tolerance of 0.4 leaves many of them undecided, and a larger one saves strangers.
But a video shows each person many times, in a few recurring looks: some of their
tracks match the references with confidence, and the others look much more like
*those tracks* than like the reference.

The rule (a second step per video, after all its segments):

1. **Anchors.** A track decided for person ``p`` with at least one face matched with
   confidence (at most :data:`CONFIDENT_DISTANCE` from ``p``'s references and at least
   :data:`CONFIDENT_MARGIN` nearer than to anyone else) is an anchor of ``p``: up to
   :data:`ANCHOR_ENCODINGS` of its encodings, spread over *all* its encoded faces (a
   track is one person: its views that the reference photo misses are ``p``'s too),
   and its frame span. At most :data:`MAX_ANCHORS` per person and video are kept.
2. **Held-back tracks.** A track that the references alone leave undecided (no
   person, not a disagreement between two people, not nearest to a negative) whose
   median distance to some person is within the tolerance plus :data:`REFERENCE_SLACK`
   (borderline), and a track decided for ``p`` without a single face matched with
   confidence (unconfirmed, :attr:`PendingTrack.decided`), wait (:class:`PendingTrack`)
   with up to :data:`PENDING_ENCODINGS` of their encodings and their crops.
3. **Clusters** (:func:`decide_video`). The video's anchors and held-back tracks are
   clustered (:func:`faceripper.clustering.cluster_tracks`: average linkage of
   :func:`faceripper.clustering.track_distances` up to
   :data:`faceripper.clustering.CLUSTER_DISTANCE`) under cannot-link constraints: two
   tracks sharing a frame are two people, and anchors of two people are two people. A
   cluster whose anchors are all ``p``'s lends ``p`` to a held-back track in it only if
   the track itself is
   within :data:`VIDEO_TOLERANCE` of one of those anchors (no chains through other
   held-back tracks), every other person's anchors are :data:`VIDEO_GAP` farther,
   ``p``'s references allow it (within the tolerance + :data:`REFERENCE_SLACK`), no
   track decided for ``p`` shares a frame with it, and no track of the cluster shares a
   frame with an anchor of ``p`` (a look-alike stranger seen once beside ``p`` forms his
   own cluster with his other shots, and that cluster is never ``p``'s). Of two
   borderline tracks sharing frames, only the nearer is adopted.
   **Shared views** (:func:`shared_views`): a held-back track that the clustering leaves
   undecided (or refuses as unlike the video) is nonetheless ``p``'s when at least
   :data:`SHARED_FACES` of its faces lie within :data:`SHARED_VIEW` of faces of ``p``'s
   anchors (the same look under another camera, where the rest of the track turns to
   views the anchors never show; different people's faces never came that near), none
   near another person's anchors, ``p`` is its nearest person by the references and
   allows it, and no anchor of ``p`` nor track given ``p`` shares a frame with it.
4. **Unconfirmed tracks** keep ``p`` when so lent ``p``; in a video with an anchor of
   ``p`` they are refused otherwise: a look-alike whose faces happen to fall within the
   tolerance is not ``p``, the person the video shows with confidence is.
5. **Without an anchor of p** nothing but the references speaks for an unconfirmed
   track of ``p``, and a look-alike of ``p`` shown in a video ``p`` is absent from
   looks, by every statistic of its own, like one of ``p``'s tracks (docs/quality.md,
   "Unconfirmed tracks without an anchor"). Such a track is kept (reason ``near``) only
   if one of its faces lies within :data:`NEAR_DISTANCE` of one of ``p``'s reference
   photos and within :data:`VIEW_DISTANCE` of that photo's second view, its face alone
   (:func:`view_distance`, :attr:`PendingTrack.best`); these near tracks then stand for
   ``p``'s anchors, and the video's other unconfirmed tracks of ``p`` keep ``p`` only if
   the clustering of step 3 lends it to them from a near track (reason ``confirmed``);
   the rest are refused (reason ``no anchor``). The borderline tracks still undecided
   may be adopted from near tracks the same way. With ``trust_references``
   (``--trust-references``) every such track is kept on the references' word instead,
   and tracks so kept that another one corroborates (:func:`corroborating`: two shots
   of ``p``, at least :data:`CORROBORATE_GAP` frames apart, within
   :data:`VIDEO_TOLERANCE` of each other) stand for ``p``'s anchors: the borderline
   tracks still undecided may be lent ``p`` from them by step 3 (reason
   ``corroborated``). One shot kept on the references' word (a look-alike of an absent
   ``p`` shown once within the tolerance) lends nothing.

Adopted tracks do not become anchors (no drift from one adoption to the next). Tracks
past the held-back window but within 0.2 of it are decided by shared views alone
(:mod:`faceripper.wide`).

Before all this, within each track (:func:`own_core`): a track whose faces vary, some
matched with confidence and the others past the tolerance (a head turning), keeps its
person, if its face changes only gradually (not a missed cut).

Every function here is pure; the step's records (held-back tracks, anchors, adoptions)
are in :mod:`faceripper.heldback`, the clustering itself in :mod:`faceripper.clustering`;
:mod:`faceripper.spool` turns a segment's anchors and held-back tracks into bytes for the
writer's spool (no pickle).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper.clustering import cluster_tracks, track_distances
from faceripper.heldback import (
    REFERENCE_SLACK,
    Adoption,
    Anchor,
    PendingTrack,
    confident_faces,
)
from faceripper.tracks import Decision

#: A held-back track is a person's if it is at most this far from one of their anchors
#: (:func:`faceripper.clustering.track_distances`) ...
VIDEO_TOLERANCE = 0.4
#: ... and every other person's anchors are at least this much farther.
VIDEO_GAP = 0.04
#: In a video without an anchor of ``p``, a track decided for ``p`` without a confident
#: face is kept only if one of its faces lies within this of one of ``p``'s reference
#: photos (whatever the tolerance, when that is looser: the bar does not move with
#: ``--tolerance``) ...
NEAR_DISTANCE = 0.4
#: ... and within this of the same photo's second view (the same face encoded the other
#: way: :func:`faceripper.refphoto.encode_reference_view`; :func:`view_distance`); the
#: others only if they look like such a track (:func:`decide_video`). A look-alike whom
#: one encoding of a photo puts near it rarely stays near the other: on the footage Kim
#: Hong-up comes 0.383 from Hu Jintao's photo and 0.484 from its face alone; a person's
#: own unconfirmed tracks without an anchor come 0.36-0.45 with whole photos, 0.35-0.44
#: with tight crops (footage), 699 of 707 within 0.45 (``lfw_dev``, docs/quality.md,
#: "Unconfirmed tracks without an anchor").
VIEW_DISTANCE = 0.45
#: A held-back track shows a view of a person's anchors when at least this many of its
#: faces ...
SHARED_FACES = 2
#: ... lie within this of a face of the anchors (:func:`shared_views`): nearer than two
#: different people's faces were ever seen (0.40 in ``lfw_dev``, docs/quality.md).
SHARED_VIEW = 0.3
#: Decisions of step 3 that :func:`shared_views` may overturn.
SHARED_REASONS = ("no cluster", "far", "unlike the video", "no anchors")
#: Two tracks kept on the references' word corroborate each other only if at least this
#: many frames apart: two shots, not one face cut in two at a segment's start.
CORROBORATE_GAP = 2


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
            (:func:`faceripper.refphoto.encode_reference_view`; a reference without one,
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


def _decide(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    n_people: int,
    tolerance: float,
) -> list[Adoption]:
    """Steps 3 and 4 of :func:`decide_video`; an unconfirmed track of a person without
    anchors comes back with reason ``references`` (the references alone decide it)."""
    items = [a.encodings for a in anchors] + [t.encodings for t in pending]
    spans = [(a.first_frame, a.last_frame) for a in anchors]
    spans += [(t.first_frame, t.last_frame) for t in pending]
    owner = np.array([a.person for a in anchors] + [-1] * len(pending), dtype=np.int64)
    n_anchor = len(anchors)
    distances = track_distances(items)
    first = np.array([s[0] for s in spans], dtype=np.int64)
    last = np.array([s[1] for s in spans], dtype=np.int64)
    overlap = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
    np.fill_diagonal(overlap, False)
    two_people = (owner[:, None] >= 0) & (owner[None, :] >= 0) & (owner[:, None] != owner[None, :])
    labels = cluster_tracks(distances, overlap | two_people)
    decisions: list[Adoption] = []
    for k, track in enumerate(pending):
        i = n_anchor + k
        members = np.flatnonzero(labels == labels[i])
        people = {int(owner[m]) for m in members if owner[m] >= 0}
        has_anchor = track.decided >= 0 and bool((owner == track.decided).any())
        decisions.append(
            _lend(
                track,
                i,
                members,
                people,
                owner,
                overlap,
                distances,
                n_people,
                tolerance,
                has_anchor,
            )
        )
    # Two faces in one frame are two people: of overlapping tracks, the nearer keeps p.
    final = list(decisions)
    for a, (track, adoption) in enumerate(zip(pending, decisions, strict=True)):
        if adoption.person < 0 or track.decided >= 0:
            continue
        for b, (other, rival) in enumerate(zip(pending, decisions, strict=True)):
            if (
                b != a
                and rival.person == adoption.person
                and other.overlaps(track.first_frame, track.last_frame)
                and (rival.video_distance, b) < (adoption.video_distance, a)
            ):
                final[a] = Adoption(-1, adoption.video_distance, "shares a frame")
                break
    return final


def decide_video(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    n_people: int,
    tolerance: float,
    *,
    trust_references: bool,
) -> list[Adoption]:
    """Decide a video's held-back tracks by clustering them with its anchor tracks.

    The rule (see the module docstring): every held-back track and every anchor is one
    item; :func:`faceripper.clustering.cluster_tracks` groups them (tracks that share a
    frame, and anchors of two people, never in one cluster). A cluster whose anchors are
    all ``p``'s lends ``p`` to a held-back track in it only if

    - no track of the cluster shares a frame with an anchor of ``p`` (a look-alike
      standing beside ``p`` once taints every track that looks like him);
    - the track itself is within :data:`VIDEO_TOLERANCE` of one of ``p``'s anchors in the
      cluster (not only through a chain of other held-back tracks), and every other
      person's anchors are at least :data:`VIDEO_GAP` farther;
    - ``p``'s references allow it (within ``tolerance`` + :data:`REFERENCE_SLACK`), and
      no track decided for ``p`` shares a frame with it (:attr:`PendingTrack.excluded`).

    A borderline track so lent ``p`` is adopted; of two sharing frames, only the nearer.
    An unconfirmed track (:attr:`PendingTrack.decided` ``p``) is confirmed so, and
    refused otherwise when the video has an anchor of ``p``. Without one, it is kept when
    its :attr:`PendingTrack.best` (:func:`view_distance`: a face within
    :data:`NEAR_DISTANCE` of one of ``p``'s photos and :data:`VIEW_DISTANCE` of its
    second view) allows it; such near tracks then stand for ``p``'s anchors, and the
    other unconfirmed tracks of ``p`` are confirmed by them the same way or refused;
    borderline tracks still undecided may be adopted from them (not beside a track kept
    for the same person). With ``trust_references`` (``--trust-references``:
    :attr:`faceripper.worker.RipSettings.trust_references`), such tracks are all kept on
    the references' word instead (reason ``references``), and those another one corroborates
    (:func:`corroborating`) stand for the person's anchors for the borderline tracks
    still undecided (reason ``corroborated``). In both ways a held-back track that shows
    a view of its person's anchors is lent that person (:func:`shared_views`, reason
    ``shared view``), before the tracks without an anchor are looked at.

    Returns:
        One :class:`Adoption` per pending track, in order.
    """
    decisions = shared_views(
        pending, anchors, _decide(pending, anchors, n_people, tolerance), n_people, tolerance
    )
    if trust_references:
        return _corroborated(pending, anchors, decisions, n_people, tolerance)
    alone = [k for k, d in enumerate(decisions) if d.reason == "references"]
    near = [k for k in alone if pending[k].best <= VIEW_DISTANCE]
    rest = [k for k in alone if pending[k].best > VIEW_DISTANCE]
    final = list(decisions)
    for k in near:
        final[k] = Adoption(pending[k].decided, decisions[k].video_distance, "near")
    if not near:
        for k in rest:
            final[k] = Adoption(-1, decisions[k].video_distance, "no anchor")
        return final
    stand_in = [
        Anchor(t.decided, t.first_frame, t.last_frame, t.encodings)
        for t in (pending[k] for k in near)
    ]
    again = _decide([pending[k] for k in rest], [*anchors, *stand_in], n_people, tolerance)
    for k, adoption in zip(rest, again, strict=True):
        if adoption.reason != "confirmed":
            adoption = Adoption(-1, adoption.video_distance, "no anchor")
        final[k] = adoption
    # The near tracks stand for the person's anchors for the borderline tracks too.
    return _lend_from(pending, anchors, stand_in, final, n_people, tolerance)


def shared_views(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    decisions: Sequence[Adoption],
    n_people: int,
    tolerance: float,
    reasons: Sequence[str] = SHARED_REASONS,
    slack: float = REFERENCE_SLACK,
) -> list[Adoption]:
    """Step 3b: a held-back track that shows a view of ``p`` that ``p``'s anchors show.

    The clustering compares whole tracks, and a track whose head turns through views
    that ``p``'s anchors never show is far from them on average (0.45-0.46 for Lance
    Armstrong's shots on the footage-like ground truth) even when some of its faces are
    nearly the same as faces of the anchors (0.17-0.29): the same look, another camera.
    Two different people's faces never come that near: the nearest pair of faces of two
    different people seen on the ground truth, look-alikes included, lies 0.425 apart
    (Kim Hong-up and Hu Jintao), in ``lfw_dev`` 0.40 (docs/quality.md). A track still
    undecided (or refused as unlike the video) gets ``p`` (reason ``shared view``; an
    unconfirmed track decided for ``p``: ``confirmed``) when

    - at least :data:`SHARED_FACES` of its summary encodings lie within
      :data:`SHARED_VIEW` of a face of ``p``'s anchors, and none of its faces lies within
      :data:`SHARED_VIEW` + :data:`VIDEO_GAP` of a face of another person's anchors;
    - ``p`` is the nearest person by the references, within ``tolerance`` +
      :data:`REFERENCE_SLACK` (unconfirmed tracks: ``p`` is the person they were
      decided for), and no track decided for ``p`` shares a frame with it;
    - no anchor of ``p`` shares a frame with it (two faces of one frame are two people);
    - no held-back track already given ``p`` shares a frame with it, and of two tracks
      so lent ``p`` sharing a frame, only one keeps ``p``: the one the references decided
      for ``p``, else the one with more shared faces, else the earlier.

    ``reasons``: the decisions it may overturn (:data:`SHARED_REASONS`;
    :mod:`faceripper.runanchors` adds ``no anchor``); ``slack``: the references allow
    ``p`` within ``tolerance`` + this (:mod:`faceripper.wide`: 0.2).

    Returns:
        ``decisions``, with the tracks so lent ``p``.
    """
    out = list(decisions)
    if not anchors or not pending:
        return out
    faces = np.concatenate([a.encodings.reshape(-1, 128) for a in anchors])
    face_owner = np.concatenate(
        [np.full(len(a.encodings), a.person, dtype=np.int64) for a in anchors]
    )
    found: dict[int, tuple[int, int]] = {}  # pending index -> (person, shared faces)
    for k, (track, decision) in enumerate(zip(pending, decisions, strict=True)):
        if decision.person >= 0 or decision.reason not in reasons or not len(track.encodings):
            continue
        people = track.ref_distance[:n_people]
        person = track.decided if track.decided >= 0 else int(np.argmin(people))
        if (
            person in track.excluded
            or float(track.ref_distance[person]) > tolerance + slack
            or float(people[person]) > float(people.min())
        ):
            continue
        beside = any(
            track.overlaps(a.first_frame, a.last_frame) for a in anchors if a.person == person
        )
        mine = face_owner == person
        if beside or not mine.any():
            continue
        distances = np.linalg.norm(track.encodings[:, None] - faces[None], axis=2)
        shared = int((distances[:, mine].min(axis=1) <= SHARED_VIEW).sum())
        others = distances[:, ~mine]
        if shared < SHARED_FACES or (others.size and float(others.min()) < SHARED_VIEW + VIDEO_GAP):
            continue
        found[k] = (person, shared)

    def rank(j: int) -> tuple[bool, int, int]:
        """Of tracks sharing frames, the references' choice first, then more shared faces."""
        return (pending[j].decided >= 0, found[j][1], -j)

    for k, (person, _) in found.items():
        track = pending[k]
        rivals = [
            rank(j)
            for j, (p, _) in found.items()
            if j != k and p == person and pending[j].overlaps(track.first_frame, track.last_frame)
        ]
        if rivals and max(rivals) > rank(k):
            continue
        taken = any(
            decisions[j].person == person and other.overlaps(track.first_frame, track.last_frame)
            for j, other in enumerate(pending)
            if j != k
        )
        if taken:
            continue
        reason = "shared view" if track.decided < 0 else "confirmed"
        out[k] = Adoption(person, decisions[k].video_distance, reason)
    return out


def _lend_from(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    stand_in: Sequence[Anchor],
    final: list[Adoption],
    n_people: int,
    tolerance: float,
    reason: str | None = None,
) -> list[Adoption]:
    """The borderline tracks still undecided in ``final``, decided again by step 3 with
    ``stand_in`` tracks added to the anchors; a track is not adopted beside (sharing a
    frame with) a track kept for the same person. ``reason`` renames the adoptions."""
    undecided = [k for k, d in enumerate(final) if d.person < 0 and pending[k].decided < 0]
    again = _decide([pending[k] for k in undecided], [*anchors, *stand_in], n_people, tolerance)
    out = list(final)
    for k, adoption in zip(undecided, again, strict=True):
        track = pending[k]
        beside = any(
            out[j].person == adoption.person and other.overlaps(track.first_frame, track.last_frame)
            for j, other in enumerate(pending)
            if j != k
        )
        if adoption.person >= 0 and not beside:
            out[k] = (
                adoption
                if reason is None
                else Adoption(adoption.person, adoption.video_distance, reason)
            )
    return out


def corroborating(pending: Sequence[PendingTrack], decisions: Sequence[Adoption]) -> list[int]:
    """The tracks kept on the references' word (reason ``references``) that another such
    track of the same person corroborates: the two lie within :data:`VIDEO_TOLERANCE` of
    each other (:func:`faceripper.clustering.track_distances`) and are two shots, not one
    face cut in two (at least :data:`CORROBORATE_GAP` frames apart).

    Returns:
        Indices into ``pending``, in order.
    """
    kept = [k for k, d in enumerate(decisions) if d.reason == "references"]
    if len(kept) < 2:
        return []
    distances = track_distances([pending[k].encodings for k in kept])
    out = []
    for a, k in enumerate(kept):
        track = pending[k]
        for b, j in enumerate(kept):
            other = pending[j]
            apart = (
                other.first_frame - track.last_frame >= CORROBORATE_GAP
                or track.first_frame - other.last_frame >= CORROBORATE_GAP
            )
            if (
                b != a
                and other.decided == track.decided
                and apart
                and distances[a, b] <= VIDEO_TOLERANCE
            ):
                out.append(k)
                break
    return out


def _corroborated(
    pending: Sequence[PendingTrack],
    anchors: Sequence[Anchor],
    decisions: list[Adoption],
    n_people: int,
    tolerance: float,
) -> list[Adoption]:
    """Rule 5 with ``trust_references``: the video's corroborated tracks
    (:func:`corroborating`) stand for their person's anchors, and step 3 may lend that
    person to a borderline track still undecided (reason ``corroborated``)."""
    chosen = corroborating(pending, decisions)
    if not chosen:
        return decisions
    stand_in = [
        Anchor(t.decided, t.first_frame, t.last_frame, t.encodings)
        for t in (pending[k] for k in chosen)
    ]
    return _lend_from(pending, anchors, stand_in, decisions, n_people, tolerance, "corroborated")


def _lend(
    track: PendingTrack,
    i: int,
    members: npt.NDArray[np.int64],
    people: set[int],
    owner: npt.NDArray[np.int64],
    overlap: npt.NDArray[np.bool_],
    distances: npt.NDArray[np.float64],
    n_people: int,
    tolerance: float,
    has_anchor: bool,
) -> Adoption:
    """:func:`decide_video`'s word on one held-back track (item ``i``)."""
    nearest = np.full(n_people, np.inf)
    for who in range(n_people):
        mine = owner == who
        if mine.any():
            nearest[who] = float(distances[i, mine].min())

    def refuse(reason: str, distance: float) -> Adoption:
        if track.decided >= 0:
            if not has_anchor:
                return Adoption(track.decided, distance, "references")
            return Adoption(-1, distance, "unlike the video")
        return Adoption(-1, distance, reason)

    if not np.isfinite(nearest).any():
        return refuse("no anchors", float("inf"))
    if len(people) != 1:
        return refuse("no cluster", float(nearest.min()))
    (person,) = people
    own = members[owner[members] == person]
    distance = float(distances[i, own].min())
    if track.decided >= 0 and track.decided != person:
        return refuse("unlike the video", distance)
    theirs = np.flatnonzero(owner == person)
    if overlap[np.ix_(members, theirs)].any():
        return refuse("beside its person", distance)
    others = np.delete(nearest, person)
    if (
        person in track.excluded
        or float(track.ref_distance[person]) > tolerance + REFERENCE_SLACK
        or distance > VIDEO_TOLERANCE
    ):
        return refuse("far", distance)
    if others.size and float(others.min()) < distance + VIDEO_GAP:
        return refuse("ambiguous", distance)
    return Adoption(person, distance, "confirmed" if track.decided >= 0 else "adopted")
