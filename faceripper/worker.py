"""The unit of work of ``rip``: one segment of one video, processed in a worker process.

A worker decodes its own frames (nothing but a few hundred timestamps travels to it),
and returns the faces to write as JPEG bytes with their manifest fields. It never
writes files and never prints: one process, the orchestrator, writes the dataset.

Per frame, cheapest test first: detect (on a frame shrunk as far as ``min_size`` allows),
drop faces under ``min_size``, score sharpness and skip blurry faces (unless blurry
crops are kept), encode the rest, match against the references.

A segment processes the frames it owns (:func:`owned_frames`): from its first reset
point (a shot cut, or every :data:`~faceripper.video.RESET_FRAMES` looked-at frames),
where every track ends and the work starts afresh, to the next segment's first one. So
the result does not depend on where a video is cut into segments.
"""

from __future__ import annotations

import contextlib
import traceback
from collections import Counter, deque
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceripper import adaptive
from faceripper.blur import DEFAULT_BLUR_THRESHOLD, sharpness
from faceripper.crops import aligned_crop, box_crop, encode_jpeg, signature, signature_distance
from faceripper.detector import (
    detect_around,
    detect_faces_batch_scaled,
    detect_faces_scaled,
    detection_scale,
)
from faceripper.encoder import encode_faces, face_distances
from faceripper.follow import FollowSettings, RecentFrame, follow_back, follow_lost, recent_frames
from faceripper.geometry import BoxArray, box_sizes
from faceripper.images import ImageRGB
from faceripper.matching import person_distances
from faceripper.models import DetectorModel, Device, EncoderEngine, LandmarkModel, get_models
from faceripper.tracks import (
    APPEARANCE_JUMP,
    MEDIAN_SLACK,
    Decision,
    Observation,
    Track,
    Tracker,
    decide,
    frame_thumbnail,
    is_cut,
    join,
    one_per_frame,
    split,
    vote,
)
from faceripper.trim import trim_far
from faceripper.video import (
    RESET_FRAMES,
    DecodedFrame,
    VideoError,
    VideoScan,
    iter_frames,
    reach,
)

#: Crops of one track closer than this (see :func:`faceripper.crops.signature_distance`)
#: to one of the last crops kept are near duplicates (measured in docs/quality.md) ...
DEFAULT_DEDUPE_THRESHOLD = 0.12
#: ... to any of the last this many crops kept: a still face whose box alternates
#: between two variants (a whole-frame search's and a region search's) is one face.
DEDUPE_RECENT = 4

#: Frames detected together by dlib's CNN detector (one GPU batch with a CUDA build).
CNN_BATCH_FRAMES = 8
#: ... unless the batch's frames hold more pixels than this (memory stays bounded for 8K).
CNN_BATCH_PIXELS = 16_000_000


#: Settings that say how a run computes, not what it writes: left out of the resume check.
RUNTIME_ONLY = frozenset({"engine", "device"})


@dataclass(frozen=True)
class RipSettings:
    """Everything that decides which crops a run writes (part of the resume check,
    except :data:`RUNTIME_ONLY`)."""

    tolerance: float = 0.4
    min_size_px: int = 100
    blur_threshold: float = DEFAULT_BLUR_THRESHOLD
    save_blurry: bool = False
    model: DetectorModel = "hog"
    landmarks: LandmarkModel = "5"
    margin: float = 0.3
    ambiguity_gap: float = 0.04
    jpeg_quality: int = 95
    align: bool = True
    size_px: int = 256
    tracks: bool = True
    dedupe: bool = True
    dedupe_threshold: float = DEFAULT_DEDUPE_THRESHOLD
    every: int = 1
    fps: float = 0.0
    detect_every: int = 5
    #: Where encodings are computed and on what (:mod:`faceripper.engines`). Not part of
    #: the resume check (:data:`RUNTIME_ONLY`): the engines agree within 1e-5.
    engine: EncoderEngine = "auto"
    device: Device = "cpu"
    #: Every track ends every this many looked-at frames (:data:`RESET_FRAMES`).
    reset_frames: int = RESET_FRAMES
    #: Decide borderline tracks from the video's confident faces (:mod:`faceripper.adaptive`).
    adapt: bool = True
    #: Follow a person's track with the CNN where HOG loses its face (:mod:`faceripper.follow`).
    follow: bool = True

    def frame_step(self, video_fps: float) -> int:
        """Process every this many frames (``--every``, or ``--fps`` for this video)."""
        if self.fps > 0 and video_fps > 0:
            return max(1, round(video_fps / self.fps))
        return max(1, self.every)

    def block_frames(self, video_fps: float) -> int:
        """Frames of this video between two frames where every track ends, cuts aside."""
        return self.reset_frames * self.frame_step(video_fps)

    def detection_scale(self) -> float:
        """Factor frames are resized by before detection (see :func:`detection_scale`)."""
        return detection_scale(self.min_size_px, self.model)

    @property
    def follows(self) -> bool:
        """Whether lost tracks are followed with the CNN (only HOG runs with tracks)."""
        return self.follow and self.tracks and self.model == "hog"

    @property
    def uses_cnn(self) -> bool:
        """Whether the CNN detector runs: ``--model cnn``, or following."""
        return self.model == "cnn" or self.follows


@dataclass(frozen=True)
class References:
    """Reference encodings as a worker needs them.

    Attributes:
        encodings: ``(m, 128)`` float64.
        person: ``(m,)`` int64 identity of each row: ``0 .. n_people - 1`` are the run's
            people, ``n_people .. n_people + n_negatives - 1`` are negative identities
            (``--negatives``: people who must never be saved).
        n_people: number of people.
        n_negatives: number of negative identities.
    """

    encodings: npt.NDArray[np.float64]
    person: npt.NDArray[np.int64]
    n_people: int
    n_negatives: int = 0

    @property
    def n_identities(self) -> int:
        """People and negative identities together."""
        return self.n_people + self.n_negatives


@dataclass(frozen=True)
class SegmentTask:
    """Frames ``[start, end)`` of one video."""

    sequence: int
    video_key: str
    path: Path
    scan: VideoScan
    start: int
    end: int


@dataclass
class FaceHit:
    """A face to write: where it was, whose it is, and its JPEG crop."""

    frame: int
    time_s: float
    face_index: int
    box_trbl: tuple[int, int, int, int]
    person: int
    distance: float
    sharpness: float
    status: str
    jpeg: bytes
    track: str = ""
    encoded: bool = True
    #: What found the face: ``"hog"`` or ``"cnn"`` (``--model``), or ``"followed"`` (the
    #: CNN, around a person's track that HOG lost: :mod:`faceripper.follow`).
    detector: str = "hog"


@dataclass
class SegmentResult:
    """What a worker found in one segment."""

    sequence: int
    frames: int = 0
    hits: list[FaceHit] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[int] = field(default_factory=Counter)
    error: str = ""
    #: The frames ``[first, stop)`` whose faces the segment reports (the frames it owns:
    #: :func:`owned_frames`); the writer tells whose a manifest row is by them.
    owned: tuple[int, int] = (0, 0)
    #: The traceback of an unexpected failure (a bug), for the log (``-v``).
    traceback: str = ""
    #: The video itself is broken (truncated, corrupt): rerunning will not help.
    decode_error: bool = False
    #: With ``settings.adapt``: faces matched with confidence, and the tracks left for
    #: the video's second step (:mod:`faceripper.adaptive`).
    exemplars: adaptive.Exemplars = field(default_factory=adaptive.Exemplars)
    pending: list[adaptive.PendingTrack] = field(default_factory=list)


_worker: dict[str, object] = {}


def init_worker(settings: RipSettings, references: References) -> None:
    """Executor initializer: keep the run's settings and references in this process,
    and run its CNN detector on the run's engine."""
    _worker["settings"] = settings
    _worker["references"] = references
    get_models().configure_cnn(settings.engine, settings.device)


@dataclass
class _FrameState:
    """What a segment carries from frame to frame.

    A new one is made at every reset point (:func:`process_segment`): whatever is added
    here must not carry over a shot cut, or the result would depend on where the video
    is cut into segments.
    """

    tracker: Tracker
    #: The last frame searched whole for faces.
    last_full: int = -(10**9)
    #: The last looked-at frames, to follow tracks backwards (:mod:`faceripper.follow`).
    recent: deque[RecentFrame] = field(default_factory=recent_frames)


def process_frame(
    image: ImageRGB,
    frame: int,
    time_s: float,
    settings: RipSettings,
    references: References,
    state: _FrameState,
    result: SegmentResult,
    boxes: BoxArray | None = None,
) -> None:
    """Find, filter and track the faces of one frame; encode and crop those that need it.

    Identities are decided when the tracks end (:func:`finish_tracks`). ``boxes`` are
    the frame's detections when they were found already (CNN batches). Shot cuts are
    found by the caller (:func:`process_segment`), which gives each shot a new ``state``.
    """
    if boxes is None:
        boxes = _detect(image, frame, settings, state, result)
    boxes = boxes[np.lexsort((boxes[:, 0], boxes[:, 3]))]  # stable order: left, then top
    face_index = np.arange(len(boxes))
    result.counts["detected"] += len(boxes)
    large = box_sizes(boxes) >= settings.min_size_px
    result.counts["too_small"] += int((~large).sum())
    boxes, face_index = boxes[large], face_index[large]
    followed = np.zeros(len(boxes), dtype=bool)
    hog = boxes
    if settings.follows:
        lost = state.tracker.lost(boxes)
        if lost:
            extra = follow_lost(
                image,
                boxes,
                state.tracker.active,
                lost,
                _follow_settings(settings, references),
                result.counts,
            )
            boxes = np.concatenate([boxes, extra])
            face_index = np.concatenate([face_index, len(large) + np.arange(len(extra))])
            followed = np.concatenate([followed, np.ones(len(extra), dtype=bool)])
    tracks = state.tracker.assign(frame, boxes, face_index)
    if settings.follows:
        state.recent.append(
            RecentFrame(frame, time_s, image, hog, list(boxes), len(large) + int(followed.sum()))
        )
    if len(boxes) == 0:
        return
    sharp = sharpness(image, boxes)
    blurry = (
        sharp < settings.blur_threshold
        if settings.blur_threshold > 0
        else np.zeros(len(boxes), dtype=bool)
    )
    keep = ~blurry | settings.save_blurry
    result.counts["blurry_skipped"] += int((~keep).sum())
    appearance = [_appearance(image, box) for box in boxes]
    if settings.tracks:
        far = settings.tolerance + MEDIAN_SLACK  # beyond it, no track can be anyone's
        due = np.array([t.wants_encoding(frame, far) for t in tracks], dtype=bool)
        # A face that suddenly looks different may be another person: encode it now.
        due |= np.array([_appearance_jumped(t, a) for t, a in zip(tracks, appearance, strict=True)])
        # A blurry face is encoded only when its track has nothing better yet.
        due &= ~blurry | np.array([not t.votes and t.last_encoded < 0 for t in tracks])
    else:
        due = np.ones(len(boxes), dtype=bool)
    due &= ~followed  # a followed face never votes (:mod:`faceripper.follow`)
    encode = keep & due
    needs_landmarks = keep & (encode | settings.align)
    landmarks = np.zeros((len(boxes), 0, 2))
    distances: dict[int, npt.NDArray[np.float64]] = {}
    encoded_faces: dict[int, npt.NDArray[np.float64]] = {}
    if needs_landmarks.any():
        rows = np.flatnonzero(needs_landmarks)
        faces = encode_faces(
            image,
            boxes[rows],
            landmark_model=settings.landmarks,
            jitters=1,
            encode=encode[rows],
            engine=settings.engine,
            device=settings.device,
        )
        landmarks = np.zeros((len(boxes), faces.landmarks_xy.shape[1], 2))
        landmarks[rows] = faces.landmarks_xy
        encoded_rows = rows[encode[rows]]
        if len(encoded_rows):
            encodings = faces.encodings[encode[rows]]
            per_person = person_distances(
                face_distances(encodings, references.encodings),
                references.person,
                references.n_identities,
            )
            distances = dict(zip(encoded_rows.tolist(), per_person, strict=True))
            encoded_faces = dict(zip(encoded_rows.tolist(), encodings, strict=True))
            result.counts["encoded"] += len(encoded_rows)
    for i, track in enumerate(tracks):
        observation = Observation(
            frame=frame,
            time_s=time_s,
            face_index=int(face_index[i]),
            box_trbl=tuple(int(v) for v in boxes[i]),  # type: ignore[arg-type]
            sharpness=float(sharp[i]),
            blurry=bool(blurry[i]),
            distances=distances.get(i),
            encoding=encoded_faces.get(i),
            appearance=appearance[i],
            followed=bool(followed[i]),
        )
        if observation.distances is not None:
            track.last_encoded = frame
            person = vote(observation.distances, settings.tolerance, settings.ambiguity_gap)
            if person >= 0:
                track.votes[person] += 1
        if keep[i]:
            if settings.align:
                crop = aligned_crop(
                    image, boxes[i], landmarks[i], settings.margin, settings.size_px
                )
            else:
                crop = box_crop(image, boxes[i], settings.margin, settings.size_px)
            observation.jpeg = encode_jpeg(crop, settings.jpeg_quality)
            if settings.dedupe:
                observation.signature = signature(crop)
        track.observations.append(observation)
    if settings.follows:
        follow_back(tracks, state.recent, _follow_settings(settings, references), result.counts)
    if not settings.tracks:
        state.tracker.cut()


def _follow_settings(settings: RipSettings, references: References) -> FollowSettings:
    """What :func:`faceripper.follow.follow_lost` needs of the run."""
    return FollowSettings(
        min_size_px=settings.min_size_px,
        tolerance=settings.tolerance,
        ambiguity_gap=settings.ambiguity_gap,
        landmarks=settings.landmarks,
        engine=settings.engine,
        device=settings.device,
        encodings=references.encodings,
        person=references.person,
        n_identities=references.n_identities,
        n_people=references.n_people,
        align=settings.align,
        margin=settings.margin,
        size_px=settings.size_px,
        jpeg_quality=settings.jpeg_quality,
        blur_threshold=settings.blur_threshold,
        save_blurry=settings.save_blurry,
        dedupe=settings.dedupe,
    )


def _appearance(image: ImageRGB, box: npt.NDArray[np.int64]) -> npt.NDArray[np.float32] | None:
    """The signature (:func:`faceripper.crops.signature`) of a face's box, None if empty."""
    top, right, bottom, left = (int(v) for v in box)
    region = image[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
    if region.shape[0] < 2 or region.shape[1] < 2:
        return None
    return signature(np.ascontiguousarray(region))


def _appearance_jumped(track: Track, appearance: npt.NDArray[np.float32] | None) -> bool:
    """Whether a face looks unlike its track's previous face (:data:`APPEARANCE_JUMP`)."""
    if appearance is None or not track.observations:
        return False
    previous = track.last.appearance
    if previous is None:
        return False
    return signature_distance(previous, appearance) > APPEARANCE_JUMP


def _detect(
    image: ImageRGB, frame: int, settings: RipSettings, state: _FrameState, result: SegmentResult
) -> BoxArray:
    """The frame's faces: over the whole frame, or only around the tracked faces.

    With tracks, the whole frame is searched once every ``settings.detect_every`` frames
    of video, after a cut, and whenever no face is tracked; in between only the regions
    around the tracked faces are (:func:`faceripper.detector.detect_around`), several
    times cheaper. A face that comes into view away from every tracked face is found at
    the next whole-frame search, at most ``detect_every - 1`` frames late. (With
    ``--every N`` for ``N >= detect_every``, every frame looked at is searched whole.)
    """
    active = state.tracker.active
    full = not settings.tracks or not active or frame - state.last_full >= settings.detect_every
    if full:
        state.last_full = frame
        result.counts["whole_frame_searches"] += 1
        return detect_faces_scaled(image, settings.detection_scale(), model=settings.model)
    last = np.array([t.last.box_trbl for t in active], dtype=np.int64)
    return detect_around(image, last, settings.detection_scale(), model=settings.model)


def finish_tracks(
    tracker: Tracker,
    settings: RipSettings,
    result: SegmentResult,
    n_people: int,
    resets: Sequence[int] | None = None,
) -> None:
    """Decide every track's identity and turn its crops into hits (near duplicates out).

    Tracks are first split where their face changes person (:func:`faceripper.tracks.split`);
    with ``resets`` (the frames where every track ended: shot cuts and block starts),
    the parts of one face that the detector lost for a moment are joined again
    (:func:`faceripper.tracks.join`); each is decided on its own, then at most one per
    person is kept in any frame (:func:`faceripper.tracks.one_per_frame`). Identities
    from ``n_people`` on are negatives: their tracks are dropped and counted.
    """
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
    decisions = one_per_frame(parts, first)
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
        collect_adaptive(parts, decisions, settings, result, n_people)
    tracker.finished = []
    hits.sort(key=lambda h: (h.frame, h.face_index))
    result.hits += hits


def starts_shot(
    previous: npt.NDArray[np.float32] | None,
    thumbnail: npt.NDArray[np.float32],
    frame: int,
    block_frames: int,
) -> bool:
    """Whether a looked-at frame is a reset point: every track ends before it.

    It is one when its thumbnail (:func:`faceripper.tracks.frame_thumbnail`) differs
    from the previous looked-at frame's by a shot cut (:func:`faceripper.tracks.is_cut`;
    never when ``previous`` is None), or when ``frame`` is a multiple of
    ``block_frames`` (:meth:`RipSettings.block_frames`). It depends on these two
    frames alone, never on what was found in earlier ones.
    """
    return frame % block_frames == 0 or is_cut(previous, thumbnail)


@dataclass
class SegmentWalk:
    """What :func:`owned_frames` decoded."""

    #: Frames of ``[task.start, task.end)`` decoded.
    planned: int = 0
    #: All frames decoded from ``task.start`` on (those past ``task.end`` included).
    decoded: int = 0
    #: Looked-at frames decoded but left to the previous segment.
    skipped: int = 0
    #: Looked-at frames the segment owns.
    owned: int = 0
    #: The first and the last of them (-1: none).
    first: int = -1
    last: int = -1


def owned_frames(
    task: SegmentTask, settings: RipSettings, walk: SegmentWalk | None = None
) -> Generator[tuple[DecodedFrame, ImageRGB, bool], None, None]:
    """The looked-at frames that the segment ``[task.start, task.end)`` owns, in order,
    with their pixels and whether each is a reset point (:func:`starts_shot`).

    Every track ends at each reset point: a shot cut, and every
    :attr:`RipSettings.reset_frames` looked-at frames. The work starts afresh there, so
    what is found in a frame depends only on the frames since the last reset point.
    A segment owns the frames from its first reset point at or after ``task.start``
    (frame 0 for the first segment) up to the first one at or after ``task.end``, where
    only cuts between frames from ``task.end`` on count, so that the next segment finds
    the same point without looking before its start. It decodes and compares the frames
    before its first reset point without yielding them (the previous segment owns
    them), and goes on past ``task.end`` to the next segment's first reset point, at
    most to the next block (:func:`faceripper.video.reach`).

    Raises:
        VideoError: the video cannot be decoded.
    """
    walk = walk if walk is not None else SegmentWalk()
    step = settings.frame_step(task.scan.fps)
    block = settings.block_frames(task.scan.fps)
    last = reach(task.end, task.scan.frame_count, block) if task.scan.seekable else task.end
    owning = False
    previous: npt.NDArray[np.float32] | None = None  # the last looked-at frame's thumbnail
    frames = iter_frames(task.path, task.scan, task.start, last)
    with contextlib.closing(frames):
        for decoded in frames:
            index = decoded.index
            walk.decoded += 1
            if index < task.end:
                walk.planned += 1
            if index % step:
                continue  # decoded (the codec needs it) but not looked at
            if index >= task.end and index % block == 0:
                return  # the next segment's first reset point, known without looking
            image = decoded.rgb()
            thumbnail = frame_thumbnail(image)
            reset = starts_shot(previous, thumbnail, index, block)
            previous = thumbnail
            if index >= task.end and reset and index - step >= task.end:
                return  # the next segment's first reset point
            owning = owning or reset
            if not owning:
                if index >= task.end:
                    return  # the segment owns no frame
                walk.skipped += 1
                continue  # the previous segment's frame
            walk.owned += 1
            walk.first = index if walk.first < 0 else walk.first
            walk.last = index
            yield decoded, image, reset


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
        own = observation.distances
        hits.append(
            FaceHit(
                frame=observation.frame,
                time_s=observation.time_s,
                face_index=observation.face_index,
                box_trbl=observation.box_trbl,
                person=person,
                distance=float(own[person]) if own is not None and person >= 0 else distance,
                sharpness=observation.sharpness,
                status="blurry" if observation.blurry else "saved",
                jpeg=observation.jpeg,
                track=track.name,
                encoded=own is not None,
                detector="followed" if observation.followed else settings.model,
            )
        )
    return hits


def _confirmed(track: Track, person: int, n_people: int) -> bool:
    """Whether a track decided for ``person`` has a face matched with confidence
    (:func:`faceripper.adaptive.confident_faces`); one without waits for its video."""
    encoded = [o.distances for o in track.observations if o.distances is not None]
    if not encoded:
        return True  # nothing to compare (not decided from encodings)
    distances = np.stack(encoded)  # (n, n_identities)
    return bool(adaptive.confident_faces(distances, person, n_people).any())


def collect_adaptive(
    tracks: list[Track],
    decisions: list[Decision],
    settings: RipSettings,
    result: SegmentResult,
    n_people: int,
) -> None:
    """Keep a segment's confident faces, its borderline tracks and its tracks decided
    without a face matched with confidence for the video's second step
    (:mod:`faceripper.adaptive`)."""
    spans = [(t.observations[0].frame, t.observations[-1].frame) for t in tracks]
    for track, decision, (first, last) in zip(tracks, decisions, spans, strict=True):
        encoded = [
            o for o in track.observations if o.distances is not None and o.encoding is not None
        ]
        if not encoded:
            continue
        distances = np.stack([o.distances for o in encoded])  # type: ignore[misc]
        encodings = np.stack([o.encoding for o in encoded])  # type: ignore[misc]
        median = np.median(distances, axis=0)
        if decision.person >= 0:
            sure = np.flatnonzero(adaptive.confident_faces(distances, decision.person, n_people))
            if len(sure):
                chosen = sure[adaptive.spread(len(sure), adaptive.EXEMPLARS_PER_TRACK)]
                result.exemplars.add(decision.person, encodings[chosen])
                continue
            excluded: list[int] = []
            result.counts["tracks_unconfirmed"] += 1
        elif adaptive.is_borderline(median, decision.reason, n_people, settings.tolerance):
            excluded = sorted(
                {
                    d.person
                    for d, (f, la) in zip(decisions, spans, strict=True)
                    if d.person >= 0 and f <= last and first <= la
                }
            )
            result.counts["tracks_pending"] += 1
        else:
            continue
        hits = _track_hits(track, -1, float("nan"), settings, result)
        by_frame = {o.frame: o.distances for o in encoded}
        pending = adaptive.PendingTrack(
            name=track.name,
            first_frame=first,
            last_frame=last,
            ref_distance=median,
            encodings=encodings[adaptive.spread(len(encodings), adaptive.PENDING_ENCODINGS)],
            excluded=tuple(excluded),
            hits=hits,
            own_distances=[by_frame.get(h.frame) if h.encoded else None for h in hits],
            decided=decision.person,
        )
        result.pending.append(pending)


def process_segment(task: SegmentTask) -> SegmentResult:
    """Process the frames of a video that the segment ``[task.start, task.end)`` owns
    (:func:`owned_frames`), in a worker.

    The result does not depend on how a video is cut into segments: a new
    :class:`_FrameState` starts at every reset point. ``result.frames`` counts the
    decoded frames of ``[task.start, task.end)``.
    """
    settings = _worker["settings"]
    references = _worker["references"]
    assert isinstance(settings, RipSettings) and isinstance(references, References)
    result = SegmentResult(task.sequence)
    finished: list[Track] = []
    state: _FrameState | None = None
    batch: list[tuple[int, float, ImageRGB]] = []
    step = settings.frame_step(task.scan.fps)
    walk = SegmentWalk()
    resets: list[int] = []  # the frames where every track ended (shot cuts, blocks)
    damage: VideoError | None = None
    try:
        frames = owned_frames(task, settings, walk)
        with contextlib.closing(frames):
            try:
                for decoded, image, reset in frames:
                    if reset or state is None:
                        resets.append(decoded.index)
                        _process_batch(batch, settings, references, state, result)
                        batch = []
                        state = _new_state(settings, state, finished)
                    batch.append((decoded.index, decoded.time_s, image))
                    if (decoded.index // step + 1) % _batch_frames(settings, image) == 0:
                        _process_batch(batch, settings, references, state, result)
                        batch = []
            except VideoError as exc:
                damage = exc  # a damaged file: what decoded before the damage is kept
        if state is not None:
            _process_batch(batch, settings, references, state, result)
            _new_state(settings, state, finished)  # ends the last tracks
        tracker = Tracker(enabled=settings.tracks)
        tracker.finished = finished
        finish_tracks(tracker, settings, result, references.n_people, resets)
        result.frames = walk.planned
        result.owned = (walk.first, walk.last + 1) if walk.first >= 0 else (task.end, task.end)
        expected = task.end - task.start
        if damage is not None and (walk.planned < expected or not task.scan.seekable):
            # (Damage past the end is the next segment's to report.)
            lost = task.start + walk.planned
            message = f"{damage} at frame {lost}: frames {lost}-{task.end - 1} lost"
            if lost > task.start:
                message += f", frames {task.start}-{lost - 1} kept"
            raise VideoError(message)
        if task.scan.seekable and result.frames < expected:
            raise VideoError(
                f"{task.path}: frames {task.start}-{task.end}: only {result.frames} of "
                f"{expected} frames could be decoded (truncated or corrupt video)"
            )
    except VideoError as exc:
        result.frames = walk.planned
        result.error = str(exc)
        result.decode_error = True
    except Exception as exc:  # any other failure is this segment's, not the run's
        result.frames = walk.planned
        result.error = f"{task.path}: frames {task.start}-{task.end}: {type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
    return result


def _new_state(
    settings: RipSettings, state: _FrameState | None, finished: list[Track]
) -> _FrameState:
    """A fresh state for a reset point; the ended tracks of ``state`` go to ``finished``."""
    if state is not None:
        state.tracker.cut()
        finished += state.tracker.finished
    return _FrameState(Tracker(enabled=settings.tracks))


def _batch_frames(settings: RipSettings, image: ImageRGB) -> int:
    """Looked-at frames detected together: :data:`CNN_BATCH_FRAMES` with ``--model cnn``,
    fewer for frames so large that they would hold more than :data:`CNN_BATCH_PIXELS`.

    Batches end at reset points and at every this many looked-at frames of the video, so
    that they are the same however the video is cut into segments.
    """
    if settings.model != "cnn":
        return 1
    pixels = image.shape[0] * image.shape[1]
    return max(1, min(CNN_BATCH_FRAMES, -(-CNN_BATCH_PIXELS // pixels)))


def _process_batch(
    batch: list[tuple[int, float, ImageRGB]],
    settings: RipSettings,
    references: References,
    state: _FrameState | None,
    result: SegmentResult,
) -> None:
    if not batch or state is None:
        return
    found: list[BoxArray | None]
    if settings.model == "cnn":
        # Whole frames in batches (one GPU call for several frames): no region searches.
        found = detect_faces_batch_scaled(  # type: ignore[assignment]
            [image for _, _, image in batch], settings.detection_scale()
        )
        result.counts["whole_frame_searches"] += len(batch)
    else:
        found = [None] * len(batch)
    for (index, time_s, image), boxes in zip(batch, found, strict=True):
        process_frame(image, index, time_s, settings, references, state, result, boxes=boxes)


def scan_task(path: Path) -> VideoScan | str:
    """Scan a video in a worker; a string is the error message."""
    from faceripper.video import scan_video

    try:
        return scan_video(path)
    except VideoError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"
