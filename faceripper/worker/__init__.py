"""The work units of ``rip``, run in worker processes (local or on a Dask cluster).

A worker scans a video (:func:`try_scan`) or processes one segment of one video
(:func:`process_segment`), and returns its result: it never writes files and never
prints; one process, the orchestrator (:mod:`faceripper.pipeline`), writes the dataset.

Modules, in the order a segment goes through them:

* :mod:`~faceripper.worker.records`: the run's settings (:class:`RipSettings`), the
  references as a worker keeps them (:class:`References`), a segment to process
  (:class:`SegmentTask`) and what it found (:class:`SegmentResult`, :class:`FaceHit`);
* :mod:`~faceripper.worker.segment`: the segment walk, the frames a segment owns between
  reset points (:func:`owned_frames`, :func:`starts_shot`), :func:`process_segment`;
* :mod:`~faceripper.worker.frame`: one frame's faces found, filtered, tracked, encoded
  and cropped (:func:`process_frame`);
* :mod:`~faceripper.worker.decisions`: the tracks decided when they end
  (:func:`finish_tracks`), what the video's second step needs (:func:`collect_adaptive`);
* :mod:`~faceripper.worker.scan`: a video scanned (:func:`try_scan`: the scan or its
  :class:`~faceripper.video.VideoError`).
"""

from faceripper.worker.decisions import DEDUPE_RECENT, collect_adaptive, finish_tracks
from faceripper.worker.frame import process_frame
from faceripper.worker.records import (
    DEFAULT_DEDUPE_THRESHOLD,
    RUNTIME_ONLY,
    FaceHit,
    References,
    RipSettings,
    SegmentResult,
    SegmentTask,
)
from faceripper.worker.scan import try_scan
from faceripper.worker.segment import (
    CNN_BATCH_FRAMES,
    CNN_BATCH_PIXELS,
    SegmentWalk,
    init_worker,
    owned_frames,
    process_segment,
    starts_shot,
)

__all__ = [
    "CNN_BATCH_FRAMES",
    "CNN_BATCH_PIXELS",
    "DEDUPE_RECENT",
    "DEFAULT_DEDUPE_THRESHOLD",
    "RUNTIME_ONLY",
    "FaceHit",
    "References",
    "RipSettings",
    "SegmentResult",
    "SegmentTask",
    "SegmentWalk",
    "collect_adaptive",
    "finish_tracks",
    "init_worker",
    "owned_frames",
    "process_frame",
    "process_segment",
    "starts_shot",
    "try_scan",
]
