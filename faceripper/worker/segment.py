"""The unit of work of ``rip``: one segment of one video, processed in a worker process.

A worker decodes its own frames (nothing but a few hundred timestamps travels to it),
and returns the faces to write as JPEG bytes with their manifest fields. It never
writes files and never prints: one process, the orchestrator, writes the dataset.

A segment processes the frames it owns (:func:`owned_frames`): from its first reset
point (a shot cut, or every :data:`~faceripper.video.RESET_FRAMES` looked-at frames),
where every track ends and the work starts afresh, to the next segment's first one. So
the result does not depend on where a video is cut into segments. Each frame goes
through :func:`faceripper.worker.frame.process_frame`; the tracks are decided at the
end (:func:`faceripper.worker.decisions.finish_tracks`).
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from faceripper import memo
from faceripper.decoding import Damage, decode_frames, lost_message, timed_runs
from faceripper.detector import detect_faces_batch_scaled
from faceripper.geometry import BoxArray
from faceripper.images import ImageRGB
from faceripper.models import get_models
from faceripper.shots import frame_thumbnail, is_cut
from faceripper.tracker import Tracker
from faceripper.tracks import Track
from faceripper.video import DecodedFrame, VideoError, reach
from faceripper.worker.decisions import finish_tracks
from faceripper.worker.frame import _FrameState, process_frame
from faceripper.worker.records import References, RipSettings, SegmentResult, SegmentTask

#: Frames detected together by dlib's CNN detector (one GPU batch with a CUDA build).
CNN_BATCH_FRAMES = 8
#: ... unless the batch's frames hold more pixels than this (memory stays bounded for 8K).
CNN_BATCH_PIXELS = 16_000_000

_worker: dict[str, object] = {}


def init_worker(settings: RipSettings, references: References) -> None:
    """Executor initializer: keep the run's settings and references in this process,
    and run its CNN detector on the run's engine."""
    _worker["settings"] = settings
    _worker["references"] = references
    get_models().configure_cnn(settings.engine, settings.device)


def starts_shot(
    previous: npt.NDArray[np.float32] | None,
    thumbnail: npt.NDArray[np.float32],
    frame: int,
    block_frames: int,
    after_loss: bool = False,
) -> bool:
    """Whether a looked-at frame is a reset point: every track ends before it.

    It is one when its thumbnail (:func:`faceripper.shots.frame_thumbnail`) differs
    from the previous looked-at frame's by a shot cut (:func:`faceripper.shots.is_cut`;
    never when ``previous`` is None), when ``frame`` is a multiple of ``block_frames``
    (:meth:`RipSettings.block_frames`), or when the looked-at frame before it was lost
    to damage (``after_loss``: no track goes on across a hole in the video). It depends
    on these two frames alone, never on what was found in earlier ones.
    """
    return frame % block_frames == 0 or after_loss or is_cut(previous, thumbnail)


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
    #: The frames of ``[task.start, task.end)`` lost to damage, as ``(first, last)`` runs.
    lost: list[tuple[int, int]] = field(default_factory=list)
    #: What went wrong first while decoding.
    damage: Damage = field(default_factory=Damage)
    #: The frame after the last one decoded.
    next: int = 0

    def expect(self, index: int, start: int, end: int) -> None:
        """Frames from the one after the last decoded up to ``index`` (excluded) are lost
        (those within ``[start, end)`` counted)."""
        first, last = max(self.next, start), min(index, end) - 1
        if first <= last:
            self.lost.append((first, last))
        self.next = max(self.next, index + 1)


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

    Frames of a damaged stretch of the video are left out
    (:func:`faceripper.decoding.decode_frames`), the same ones whatever the segment; the
    looked-at frame after a lost one is a reset point. ``walk`` gets the frames of
    ``[task.start, task.end)`` lost and why.

    Raises:
        VideoError: the video cannot be opened, or sought to ``task.start``.
    """
    walk = walk if walk is not None else SegmentWalk()
    walk.next = task.start
    step = settings.frame_step(task.scan.fps)
    block = settings.block_frames(task.scan.fps)
    last = reach(task.end, task.scan.frame_count, block) if task.scan.seekable else task.end
    owning = False
    previous: npt.NDArray[np.float32] | None = None  # the last looked-at frame's thumbnail
    looked = -1  # and its index
    frames = decode_frames(task.path, task.scan, task.start, last, walk.damage)
    with contextlib.closing(frames):
        for decoded in frames:
            index = decoded.index
            walk.expect(index, task.start, task.end)
            walk.decoded += 1
            if index < task.end:
                walk.planned += 1
            if index % step:
                continue  # decoded (the codec needs it) but not looked at
            if index >= task.end and index % block == 0:
                return  # the next segment's first reset point, known without looking
            image = decoded.rgb()
            thumbnail = frame_thumbnail(image)
            # Whether the looked-at frame before, one the segment decodes, was lost.
            hole = index - step >= task.start and looked != index - step
            reset = starts_shot(previous, thumbnail, index, block, hole)
            previous, looked = thumbnail, index
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
    if task.scan.seekable or walk.damage.reason:
        walk.expect(task.end, task.start, task.end)  # the frames never decoded are lost


def process_segment(task: SegmentTask) -> SegmentResult:
    """Process the frames of a video that the segment ``[task.start, task.end)`` owns
    (:func:`owned_frames`), in a worker.

    The result does not depend on how a video is cut into segments: a new
    :class:`_FrameState` starts at every reset point. ``result.frames`` counts the
    decoded frames of ``[task.start, task.end)``. The detector's searches that
    ``task.memo`` holds are not run again (:mod:`faceripper.memo`); those run come back
    in ``result.memo``.
    """
    known = memo.SegmentMemo.of(task.memo)
    with memo.using(known):
        result = _process_segment(task)
    if known is not None:
        known.report(result)
    return result


def _process_segment(task: SegmentTask) -> SegmentResult:
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
    try:
        frames = owned_frames(task, settings, walk)
        with contextlib.closing(frames):
            for decoded, image, reset in frames:
                if reset or state is None:
                    resets.append(decoded.index)
                    _process_batch(batch, settings, references, state, result)
                    batch = []
                    state = _new_state(settings, result, state, finished)
                batch.append((decoded.index, decoded.time_s, image))
                if (decoded.index // step + 1) % _batch_frames(settings, image) == 0:
                    _process_batch(batch, settings, references, state, result)
                    batch = []
        if state is not None:
            _process_batch(batch, settings, references, state, result)
            _new_state(settings, result, state, finished)  # ends the last tracks
        tracker = Tracker(enabled=settings.tracks)
        tracker.finished = finished
        finish_tracks(tracker, settings, result, references, resets)
        result.frames = walk.planned
        result.owned = (walk.first, walk.last + 1) if walk.first >= 0 else (task.end, task.end)
        if walk.lost:
            # A damaged file: the frames decoded are kept, those lost named (damage past
            # the end is the next segment's to report).
            lost = timed_runs(task.scan, walk.lost)
            raise VideoError(lost_message(task.path, walk.damage.reason, lost))
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
    settings: RipSettings,
    result: SegmentResult,
    state: _FrameState | None,
    finished: list[Track],
) -> _FrameState:
    """A fresh state for a reset point; the ended tracks of ``state`` go to ``finished``
    (their last faces checked first, :meth:`faceripper.worker.backfill.Backfill.end`)."""
    if state is not None:
        state.backfill.end((), settings, result)
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
        found = memo.recall_batch(  # type: ignore[assignment]
            memo.CNN_FULL,
            [index for index, _, _ in batch],
            lambda: detect_faces_batch_scaled(
                [image for _, _, image in batch], settings.detection_scale()
            ),
        )
        result.counts["whole_frame_searches"] += len(batch)
    else:
        found = [None] * len(batch)
    for (index, time_s, image), boxes in zip(batch, found, strict=True):
        process_frame(image, index, time_s, settings, references, state, result, boxes=boxes)
