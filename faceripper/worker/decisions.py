"""The track decisions of a segment: when its tracks end, each is split where its face
changes person, joined again where the detector lost it for a moment, decided, and its
crops turned into :class:`~faceripper.worker.records.FaceHit` (near duplicates out); with
``--adapt``, what the video's second step needs is kept (:mod:`faceripper.adaptive`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceripper import adaptive, heldback
from faceripper.blur import soft_in_track
from faceripper.crops import signature_distance
from faceripper.joins import join
from faceripper.tracker import Tracker
from faceripper.tracks import Decision, Track, decide, one_per_frame, split
from faceripper.trim import trim_far
from faceripper.worker import notes
from faceripper.worker.records import FaceHit, References, RipSettings, SegmentResult

#: Crops of one track near duplicates (:attr:`RipSettings.dedupe_threshold`) of any of the
#: last this many crops kept are dropped: a still face whose box alternates between two
#: variants (a whole-frame search's and a region search's) is one face.
DEDUPE_RECENT = 4


def finish_tracks(
    tracker: Tracker,
    settings: RipSettings,
    result: SegmentResult,
    references: References,
    resets: Sequence[int] | None = None,
) -> None:
    """Decide every track's identity and turn its crops into hits (near duplicates out).

    Tracks are first split where their face changes person (:func:`faceripper.tracks.split`);
    with ``resets`` (the frames where every track ended: shot cuts and block starts),
    the parts of one face that the detector lost for a moment are joined again
    (:func:`faceripper.joins.join`); each is decided on its own, then at most one per
    person is kept in any frame (:func:`faceripper.tracks.one_per_frame`). Identities
    from ``references.n_people`` on are negatives: their tracks are dropped and counted.
    ``references``: the run's; they also give the video step's near rule its photos and
    their views (:func:`collect_adaptive`).
    """
    n_people = references.n_people
    tracker.cut()
    hits: list[FaceHit] = []
    parts = [
        part
        for track in tracker.finished
        for part in split(track, settings.tolerance, settings.ambiguity_gap)
    ]
    result.counts["track_splits"] += len(parts) - len(tracker.finished)

    def decide_all(tracks: list[Track]) -> list[Decision]:
        return [decide(t, settings.tolerance, settings.ambiguity_gap, n_people) for t in tracks]

    first = decide_all(parts)
    if settings.tracks and resets is not None:
        joined, groups = join(parts, first, resets)
        kept_parts: list[Track] = []
        kept: list[Decision] = []
        for track, group in zip(joined, groups, strict=True):
            if len(group) == 1:
                kept_parts.append(track)
                kept.append(first[group[0]])
                continue
            decision = decide(track, settings.tolerance, settings.ambiguity_gap, n_people)
            if decision.person < 0 and any(first[i].person >= 0 for i in group):
                # A join must never cost a face: a decided part stays on its own.
                kept_parts += [parts[i] for i in group]
                kept += [first[i] for i in group]
                result.counts["track_joins_undone"] += 1
                continue
            kept_parts.append(track)
            kept.append(decision)
            result.counts["track_joins"] += len(group) - 1
        parts, first = kept_parts, kept
    trimmed, first = trim_far(parts, first, settings.tolerance, settings.ambiguity_gap, n_people)
    result.counts["track_trims"] += len(trimmed) - len(parts)
    parts = trimmed
    if settings.adapt:
        first = [
            _own_core(t, d, settings, result, n_people) for t, d in zip(parts, first, strict=True)
        ]
    decisions = one_per_frame(parts, first)
    for track in parts:
        _soft_faces(track, settings, result)
    for track, decision in zip(parts, decisions, strict=True):
        written = [o for o in track.observations if o.jpeg is not None]
        result.counts["tracks"] += 1
        if decision.person < 0:
            if decision.reason == "negative":
                result.counts["negative"] += len(written)
            elif (
                decision.reason in ("ambiguous", "disagree", "same frame")
                and decision.nearest < n_people
            ):
                result.ambiguous[decision.nearest] += len(written)
                result.counts[f"tracks_{decision.reason.replace(' ', '_')}"] += 1
            else:
                result.counts["unknown"] += len(written)
            continue
        if settings.adapt and not _confirmed(track, decision.person, n_people):
            continue  # held back for the video's word (collect_adaptive)
        hits += _track_hits(track, decision.person, decision.distance, settings, result)
    if settings.adapt:
        collect_adaptive(parts, decisions, settings, result, references)
    tracker.finished = []
    hits.sort(key=lambda h: (h.frame, h.face_index))
    result.hits += hits


def _track_hits(
    track: Track, person: int, distance: float, settings: RipSettings, result: SegmentResult
) -> list[FaceHit]:
    """The crops of a track given to ``person`` (-1: not decided yet), near duplicates out."""
    hits: list[FaceHit] = []
    recent: dict[bool, deque[npt.NDArray[np.float32]]] = {}
    for observation in track.observations:
        if observation.jpeg is None:
            continue
        kept = recent.setdefault(observation.blurry, deque(maxlen=DEDUPE_RECENT))
        if (
            settings.dedupe
            and observation.signature is not None
            and any(
                signature_distance(observation.signature, previous) < settings.dedupe_threshold
                for previous in kept
            )
        ):
            result.counts["deduplicated"] += person >= 0
            continue
        if observation.signature is not None:
            kept.append(observation.signature)
        hits.append(
            FaceHit.from_observation(observation, person, distance, track.name, settings.model)
        )
    return hits


def _soft_faces(track: Track, settings: RipSettings, result: SegmentResult) -> None:
    """Decide which faces of a finished track under ``--blur`` are blurry after all
    (:func:`faceripper.blur.soft_in_track`): those as sharp as the track allows lose
    their blurry flag (counted ``blurry_kept``); the others lose their crop, unless
    blurry crops are kept (``--save-blurry``). Their sharpness stays as measured."""
    if not settings.tracks:
        return  # a face alone has nothing to be compared with (no crop either)
    scores = np.array([o.sharpness for o in track.observations], dtype=np.float64)
    soft = soft_in_track(scores, settings.blur_threshold, settings.blur_floor)
    for observation, kept in zip(track.observations, soft.tolist(), strict=True):
        if not observation.blurry:
            continue
        if kept:
            observation.blurry = False
            result.counts["blurry_kept"] += 1
        elif observation.jpeg is not None and not settings.save_blurry:
            observation.jpeg = observation.signature = None
            result.counts["blurry_skipped"] += 1


def _own_core(
    track: Track, decision: Decision, settings: RipSettings, result: SegmentResult, n_people: int
) -> Decision:
    """The track's decision after within-track voting (:func:`faceripper.adaptive.own_core`)."""
    encoded = [o for o in track.observations if o.distances is not None and o.encoding is not None]
    if decision.reason != "far" or not encoded:
        return decision
    kept = adaptive.own_core(
        np.stack([o.distances for o in encoded]),  # type: ignore[misc]
        np.stack([o.encoding for o in encoded]),  # type: ignore[misc]
        decision,
        n_people,
        settings.tolerance,
    )
    result.counts["tracks_own_core"] += kept is not decision
    return kept


def _confirmed(track: Track, person: int, n_people: int) -> bool:
    """Whether a track decided for ``person`` has a face matched with confidence
    (:func:`faceripper.heldback.confident_faces`); one without waits for its video."""
    encoded = [o.distances for o in track.observations if o.distances is not None]
    if not encoded:
        return True  # nothing to compare (not decided from encodings)
    distances = np.stack(encoded)  # (n, n_identities)
    return bool(heldback.confident_faces(distances, person, n_people).any())


def collect_adaptive(
    tracks: list[Track],
    decisions: list[Decision],
    settings: RipSettings,
    result: SegmentResult,
    references: References,
) -> None:
    """Keep a segment's anchors (tracks decided with a face matched with confidence),
    its borderline tracks and its tracks decided without a face matched with confidence
    for the video's second step (:mod:`faceripper.adaptive`). A track of the last kind
    keeps its :func:`faceripper.adaptive.view_distance` to its person's ``references``.
    A track nearest a person past the held-back window, within the notes' window, is
    held back too, for a shared view only (:mod:`faceripper.wide`); for the notes only,
    the nearest of those are kept as well, a few a person with one crop each
    (:mod:`faceripper.worker.notes`)."""
    n_people = references.n_people
    spans = [(t.observations[0].frame, t.observations[-1].frame) for t in tracks]
    far: list[tuple[int, heldback.PendingTrack]] = []  # for the notes only
    for track, decision, (first, last) in zip(tracks, decisions, spans, strict=True):
        noted = -1
        encoded = [
            o for o in track.observations if o.distances is not None and o.encoding is not None
        ]
        if not encoded:
            continue
        distances = np.stack([o.distances for o in encoded])  # type: ignore[misc]
        encodings = np.stack([o.encoding for o in encoded])  # type: ignore[misc]
        median = np.median(distances, axis=0)
        if decision.person >= 0:
            if heldback.confident_faces(distances, decision.person, n_people).any():
                chosen = encodings[heldback.spread(len(encodings), heldback.ANCHOR_ENCODINGS)]
                result.anchors.append(heldback.Anchor(decision.person, first, last, chosen))
                continue
            excluded: list[int] = []
            result.counts["tracks_unconfirmed"] += 1
        elif heldback.is_borderline(median, decision.reason, n_people, settings.tolerance):
            excluded = _sharing(decisions, spans, first, last)
            result.counts["tracks_pending"] += 1
        else:
            noted = notes.notes_person(median, decision.reason, n_people, settings.tolerance)
            excluded = _sharing(decisions, spans, first, last)
            if noted < 0 or noted in excluded:
                continue
        hits = _track_hits(track, -1, float("nan"), settings, result)
        by_frame = {o.frame: o.distances for o in encoded}
        pending = heldback.PendingTrack(
            name=track.name,
            first_frame=first,
            last_frame=last,
            ref_distance=median,
            encodings=encodings[heldback.spread(len(encodings), heldback.PENDING_ENCODINGS)],
            excluded=tuple(excluded),
            hits=hits,
            own_distances=[by_frame.get(h.frame) if h.encoded else None for h in hits],
            decided=decision.person,
            best=_view_distance(encodings, decision.person, settings, references),
        )
        result.pending.append(pending)  # past the window: for a shared view (faceripper.wide)
        if noted >= 0:
            result.counts["tracks_wide"] += 1
            if (shown := notes.for_notes(pending, noted)) is not None:
                far.append((noted, shown))
    result.pending += notes.nearest_per_person(far)


def _sharing(
    decisions: Sequence[Decision], spans: Sequence[tuple[int, int]], first: int, last: int
) -> list[int]:
    """The people of the decided tracks that share a frame with ``[first, last]``."""
    return sorted(
        {
            d.person
            for d, (f, la) in zip(decisions, spans, strict=True)
            if d.person >= 0 and f <= last and first <= la
        }
    )


def _view_distance(
    encodings: npt.NDArray[np.float64],
    person: int,
    settings: RipSettings,
    references: References,
) -> float:
    """:attr:`faceripper.heldback.PendingTrack.best` of a track decided for ``person``
    (inf for a borderline one): its :func:`faceripper.adaptive.view_distance`."""
    if person < 0:
        return float("inf")
    photos, views = references.photos_of(person)
    return adaptive.view_distance(encodings, photos, views, settings.tolerance)
