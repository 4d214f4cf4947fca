"""The ``rip`` orchestrator: owns the worker pool, schedules segments, feeds the writer.

Work flows as: videos are scanned (in workers) a few ahead of need; each scan is split
into segments (:func:`faceripper.video.plan_segments`); segments run in worker
processes (:func:`faceripper.worker.process_segment`, :mod:`faceripper.pool`); their
results are committed to the :class:`faceripper.writer.Dataset` strictly in segment
order (:class:`faceripper.commit.Committer`), so the dataset and its manifest are the
same whatever the number of workers and whatever order they finish in. They do not
depend on the segment size either: a segment owns the frames between reset points, where
every face track ends (:func:`faceripper.worker.owned_frames`). At most ``2 * threads``
segments are in flight, so memory stays bounded whatever the number and length of the
videos.

A worker that dies (a decoder crash, the OOM killer) breaks the pool; the pool is
replaced and the segments that were in flight are run again one at a time, so the one
that crashes it is found and reported as that video's error, and the others finish
(:class:`_Schedule`).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from faceripper import unsure
from faceripper._version import __version__
from faceripper.commit import Committer
from faceripper.config import DEFAULT_LABEL_FORMAT, Config, class_folders
from faceripper.corrections import ReconcileReport
from faceripper.decoding import merge_lost
from faceripper.duplicates import ripped_once
from faceripper.engines import prepare_engine
from faceripper.errors import UsageError
from faceripper.learned import Learned, prepare_run, with_learned
from faceripper.memostore import MemoStore
from faceripper.pool import Cluster, WorkerPool
from faceripper.references import ReferenceSet
from faceripper.unsure import Notice
from faceripper.video import (
    DEFAULT_SEGMENT_FRAMES,
    SHORT_VIDEO_SEGMENTS,
    VIDEO_EXTENSIONS,
    VideoError,
    VideoScan,
    find_videos,
    plan_segments,
    reach,
    video_key,
)
from faceripper.worker import (
    RUNTIME_ONLY,
    References,
    RipSettings,
    SegmentResult,
    SegmentTask,
    process_segment,
    try_scan,
)
from faceripper.writer import Dataset, inside, summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInput:
    """A video to process: its path and its stable key (path relative to the video folder)."""

    path: Path
    key: str


@dataclass
class RipProgress:
    """Where a run stands; passed to the progress callback."""

    frames_done: int = 0
    frames_total: int = 0
    videos_scanned: int = 0
    videos_total: int = 0
    faces_saved: int = 0
    frames_this_run: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def frames_per_s(self) -> float:
        """Frames processed per second by this run."""
        elapsed = time.monotonic() - self.started
        return self.frames_this_run / elapsed if elapsed > 0 else 0.0


@dataclass
class RipSummary:
    """The outcome of a run, for the whole dataset (earlier runs included).

    ``saved`` and ``blurry`` count the crops the manifest holds now, per label (crops
    the user deleted or moved are reconciled when the run starts:
    :mod:`faceripper.corrections`); ``ambiguous`` and ``counts`` add up the finished
    segments' tallies.
    """

    saved: Counter[str]
    blurry: Counter[str]
    ambiguous: Counter[str]
    counts: Counter[str]
    video_errors: dict[str, str]
    frames: int
    frames_this_run: int
    seconds: float
    rows: int
    #: The people's labels, in config order.
    labels: tuple[str, ...] = ()
    #: What the user corrected by hand since the last run (:mod:`faceripper.corrections`).
    corrections: ReconcileReport | None = None
    #: What this run learnt from all their corrections.
    learned: Learned | None = None
    #: The people never matched with confidence in a video, with their sheets of
    #: candidate faces (:func:`faceripper.unsure.report`), in config order.
    unsure: tuple[Notice, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether every video was processed without error."""
        return not self.video_errors


ProgressCallback = Callable[[RipProgress], None]


@dataclass(frozen=True)
class VideoCollection:
    """The videos a run will process, and the files passed over."""

    videos: list[VideoInput]
    ignored_files: int
    #: One line per entry the search could not look at (see :class:`VideoSearch`).
    problems: list[str] = field(default_factory=list)


def collect_videos(video_dir: Path | None, video_files: Sequence[Path] = ()) -> VideoCollection:
    """The videos of ``--video-dir`` (recursively, sorted) then of ``--video``, each once.

    A file given twice (both ways, or twice with ``--video``) is processed once (the
    first time it is met); one reached through a link, or copied, is found by
    :func:`faceripper.duplicates.unique_videos` when the run starts.

    Raises:
        UsageError: the folder or a file is missing, or no video is found.
    """
    if video_dir is None and not video_files:
        raise UsageError("no videos given: use --video-dir DIR or --video FILE")
    inputs: list[VideoInput] = []
    ignored = 0
    problems: list[str] = []
    if video_dir is not None:
        if not video_dir.is_dir():
            what = "does not exist" if not video_dir.exists() else "is not a folder"
            raise UsageError(f"{video_dir}: video folder {what}")
        found = find_videos(video_dir)
        ignored = found.ignored_files
        problems = found.problems
        inputs += [VideoInput(p, video_key(p, video_dir)) for p in found.videos]
    for path in video_files:
        if not path.is_file():
            raise UsageError(f"{path}: video file not found")
        inputs.append(VideoInput(path, video_key(path, None)))
    seen: set[str] = set()
    unique = []
    for video in inputs:
        given = os.path.abspath(video.path)  # noqa: PTH100 (links: faceripper.duplicates)
        if given not in seen:
            seen.add(given)
            unique.append(video)
    if not unique:
        where = f" in {video_dir}" if video_dir is not None else ""
        extensions = " ".join(sorted(e.lstrip(".") for e in VIDEO_EXTENSIONS))
        raise UsageError(f"no videos found{where} (looked for {extensions})")
    return VideoCollection(unique, ignored, problems)


def references_for_run(
    config: Config, references: ReferenceSet, negatives: ReferenceSet | None = None
) -> References:
    """Map reference rows to identity indices for the workers.

    ``config``'s people come first (their order), then the negative identities
    (``--negatives``), each negative person name its own identity.
    """
    index = {person.name: i for i, person in enumerate(config.people)}
    person = [index[name] for name in references.person]
    encodings = [references.encodings]
    n_negatives = 0
    if negatives is not None and len(negatives):
        names = sorted(set(negatives.person.tolist()))
        negative_index = {name: len(index) + i for i, name in enumerate(names)}
        person += [negative_index[name] for name in negatives.person]
        encodings.append(negatives.encodings)
        n_negatives = len(names)
    return References(
        np.concatenate(encodings).reshape(-1, 128),
        np.array(person, dtype=np.int64),
        len(config.people),
        n_negatives,
        views=references.views,
    )


def run_fingerprint(
    config: Config,
    references: References,
    settings: RipSettings,
    label_format: str = DEFAULT_LABEL_FORMAT,
) -> dict[str, Any]:
    """What a resumed run must share with the run it continues."""
    digest = hashlib.sha256(references.encodings.tobytes())
    digest.update(references.person.tobytes())
    if references.views is not None:
        digest.update(references.views.tobytes())
    return {
        **{k: v for k, v in asdict(settings).items() if k not in RUNTIME_ONLY},
        "people": [[p.name, p.label, p.group] for p in config.people],
        "label_format": label_format,
        "references_sha256": digest.hexdigest(),
        "faceripper_version": __version__,
    }


def rip(
    config: Config,
    references: ReferenceSet,
    videos: Sequence[VideoInput],
    target: Path,
    settings: RipSettings,
    threads: int = 1,
    blurry_dir: Path | None = None,
    restart: bool = False,
    progress: ProgressCallback | None = None,
    start_method: str | None = None,
    segment_frames: int = DEFAULT_SEGMENT_FRAMES,
    cluster: Cluster | None = None,
    negatives: ReferenceSet | None = None,
    label_format: str = DEFAULT_LABEL_FORMAT,
    max_per_video: int = 0,
    warn: Callable[[str], None] = log.warning,
) -> RipSummary:
    """Extract the faces of ``config``'s people from ``videos`` into ``target``.

    Args:
        config: the people (their labels name the class folders, through
            ``label_format``).
        references: their reference encodings (:func:`faceripper.references.encode_references`).
        videos: the videos, in processing order.
        target: the dataset folder (created if needed).
        settings: what decides which faces are written.
        threads: worker processes.
        blurry_dir: where blurry crops go when ``settings.save_blurry`` (outside ``target``).
        restart: forget earlier runs on ``target`` and start over.
        progress: called with a :class:`RipProgress` as work completes.
        start_method: multiprocessing start method (``fork``, ``spawn``, ``forkserver``);
            default: the platform's.
        segment_frames: frames per unit of work.
        negatives: encodings of people who must never be saved (look-alikes): a face
            nearer to one of them than to any of ``config``'s people is dropped.
        max_per_video: keep at most this many saved crops per person and video, the
            sharpest, spread over the video (0: no limit); applied as each video ends.
        label_format: the class folder names, from the fields ``{label}``, ``{group}``
            and ``{person}`` (:func:`faceripper.config.class_folders`); the manifest's
            ``label`` stays the person's label.
        cluster: run the work units there (``threads`` and ``start_method`` are then
            unused); default: ``threads`` local worker processes.
        warn: called with each warning, one line naming the file: a video that is the
            same as an earlier one (ripped once: :mod:`faceripper.duplicates`), a file
            cut short (:attr:`VideoScan.truncated`).

    Raises:
        ConfigError: ``label_format`` is invalid or gives two people one folder.
        UsageError: no videos, or the target cannot be written.
        TargetLockedError: another run holds the target.
        SettingsChangedError: the target was made with other settings.
        ModelFormatError, EngineUnavailableError: the encoder engine cannot run
            (``settings.engine``, ``settings.device``).
    """
    folders = _check_run(config, videos, target, blurry_dir, start_method, label_format)
    # A wrong model file or a missing engine fails here, once, not in every worker.
    settings = replace(
        settings,
        engine=prepare_engine(settings.engine, settings.device, cnn=settings.uses_cnn),
    )
    run_refs = references_for_run(config, references, negatives)
    fingerprint = {
        **run_fingerprint(config, run_refs, settings, label_format),
        "segment_frames": segment_frames,
        "short_video_segments": SHORT_VIDEO_SEGMENTS,
        "max_per_video": max_per_video,
    }
    # Corrections by hand: recorded, then learnt; not in the fingerprint, so that a
    # corrected target resumes (see faceripper.corrections).
    corrected, learned = prepare_run(
        target,
        [p.name for p in config.people],
        {v.key: v.path for v in videos},
        settings.landmarks,
        restart,
    )
    run_refs = with_learned(run_refs, learned)
    renamed = {p.label: f for p, f in zip(config.people, folders, strict=True) if f != p.label}
    with Dataset(
        target, fingerprint, blurry_dir=blurry_dir, restart=restart, folders=renamed
    ) as dataset:
        videos = ripped_once(videos, {key for key, _, _ in dataset.done}, warn)
        state = RipProgress(videos_total=len(videos))
        committer = Committer(dataset, config, settings, max_per_video, learned)
        pool = WorkerPool(threads, start_method, (settings, run_refs), cluster)
        schedule = _Schedule(pool, committer, videos, settings, segment_frames, state, progress)
        schedule.warn = warn
        try:
            schedule.run()
        except BaseException:
            # Ctrl-C, SIGTERM, a full disk: the workers' running units are abandoned
            # (the next run redoes them) rather than waited for.
            pool.terminate()
            raise
        pool.shutdown()
        summary = _summary(dataset, committer, config, state)
        review = unsure.unsure_dir_for(target)
        notices = unsure.report(dataset.unsure, config, renamed, review, summary.saved)
    return replace(summary, corrections=corrected, learned=learned, unsure=tuple(notices))


def _check_run(
    config: Config,
    videos: Sequence[VideoInput],
    target: Path,
    blurry_dir: Path | None,
    start_method: str | None,
    label_format: str,
) -> tuple[str, ...]:
    """What :func:`rip` refuses before any work (see its Raises); the people's class
    folders, in config order."""
    folders = class_folders(config, label_format)
    if not videos:
        raise UsageError("no videos to process")
    if start_method and start_method not in multiprocessing.get_all_start_methods():
        methods = ", ".join(multiprocessing.get_all_start_methods())
        raise UsageError(f"unknown start method {start_method!r}: use one of {methods}")
    if blurry_dir is not None and inside(target, blurry_dir):
        raise UsageError(
            f"{blurry_dir}: the blurry crops' folder must be outside the dataset {target}: "
            "dataset loaders would take it as a class or walk into it"
        )
    return folders


def _summary(
    dataset: Dataset, committer: Committer, config: Config, state: RipProgress
) -> RipSummary:
    """The :class:`RipSummary` of the dataset as it stands (earlier runs included)."""
    totals = summarize(dataset.done.values())
    counts = Counter(committer.counts)
    errors = dict(committer.errors)
    counts.update(dataset.adapt_counts)
    damage: dict[str, list[tuple[int, str]]] = {}
    for record in dataset.done.values():
        counts.update(record.counts)
        if record.error:
            damage.setdefault(record.video, []).append((record.start, record.error))
    for video, found in damage.items():
        errors[video] = merge_lost(errors.get(video), [message for _, message in sorted(found)])
    held = dataset.row_counts
    return RipSummary(
        saved=Counter({label: n for (label, status), n in held.items() if status == "saved"}),
        blurry=Counter({label: n for (label, status), n in held.items() if status == "blurry"}),
        ambiguous=totals["ambiguous"],
        counts=counts,
        video_errors=errors,
        frames=state.frames_done,
        frames_this_run=state.frames_this_run,
        seconds=time.monotonic() - state.started,
        rows=dataset.rows_written,
        labels=tuple(person.label for person in config.people),
    )


class _Schedule:
    """Where a run's work units go and when: one run's schedule.

    Videos are scanned a few ahead of need (``lookahead``), their segments planned in
    video order and made into tasks lazily, and at most ``window`` units are in flight;
    results go to the :class:`Committer` in whatever order they finish (no segment is
    submitted while it holds ``4 * window`` of them). When a worker dies, the pool is
    replaced and the units that were in flight become *suspects*, run again one at a
    time: the one that crashes a worker alone is recorded as crashed, and the others
    finish.
    """

    def __init__(
        self,
        pool: WorkerPool,
        committer: Committer,
        videos: Sequence[VideoInput],
        settings: RipSettings,
        segment_frames: int,
        state: RipProgress,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.pool = pool
        self.committer = committer
        self.videos = videos
        self.settings = settings
        self.segment_frames = segment_frames
        self.state = state
        self.progress = progress
        self.window = 2 * pool.threads
        self.lookahead = max(2, pool.threads)
        self.next_scan = 0  # next video to submit a scan for
        self.next_plan = 0  # next video whose segments are to be planned
        self.sequence = 0  # the sequence number of the next segment planned
        self.scans: dict[int, VideoScan | VideoError] = {}
        self.ready: deque[SegmentTask] = deque()  # created lazily, a window's worth at a time
        self.plans: deque[Iterator[SegmentTask]] = deque()
        self.suspects: deque[tuple[str, Any]] = deque()  # work re-run alone after a pool break
        self.in_flight: dict[Future[Any], tuple[str, Any]] = {}
        self.warn: Callable[[str], None] = log.warning
        # The detector's searches of earlier runs (settings.reuse), and this run's kept.
        self.memos = MemoStore.open(committer.dataset.target, settings, lambda m: self.warn(m))

    def run(self) -> None:
        """Schedule until every video is planned and every segment committed, then end
        the run (:meth:`Committer.finish_run`: no unit is in flight then)."""
        while True:
            quarantine = bool(self.suspects) or any(
                kind.startswith("suspect") for kind, _ in self.in_flight.values()
            )
            if not quarantine:
                self._submit_scans()
            self._plan()
            self._submit_work(quarantine)
            self._commit()
            if not self.in_flight:
                if self.next_plan >= len(self.videos) and not (
                    self.ready or self.plans or self.suspects or self.committer.waiting
                ):
                    self.committer.finish_run()
                    return
                continue
            self._collect()

    def _report(self) -> None:
        if self.progress:
            self.progress(self.state)

    def _submit(self, kind: str, item: Any, suspect: bool = False) -> None:
        """Submit a scan (``item``: the video's index) or a segment (its task)."""
        future: Future[Any]
        if kind == "scan":
            future = self.pool.executor.submit(try_scan, self.videos[item].path)
        else:
            future = self.pool.executor.submit(process_segment, self.memos.attach(item))
        self.in_flight[future] = ("suspect-" + kind if suspect else kind, item)

    def _submit_scans(self) -> None:
        """Scan the next videos, up to ``lookahead`` ahead of the planning."""
        videos = len(self.videos)
        while self.next_scan < videos and self.next_scan - self.next_plan < self.lookahead:
            self._submit("scan", self.next_scan)
            self.next_scan += 1

    def _plan(self) -> None:
        """Plan the segments of scanned videos, in video order, while work is short."""
        while len(self.ready) < self.window and (self.plans or self.next_plan in self.scans):
            if self.plans:
                task = next(self.plans[0], None)
                if task is None:
                    self.plans.popleft()
                else:
                    self.ready.append(task)
                continue
            self._plan_video(self.videos[self.next_plan], self.scans.pop(self.next_plan))
            self.state.videos_scanned += 1
            self.next_plan += 1
            self._report()

    def _plan_video(self, video: VideoInput, scanned: VideoScan | VideoError) -> None:
        """A scanned video's segments not finished by an earlier run, made into tasks as
        they are needed; a video that could not be scanned: its error."""
        if isinstance(scanned, VideoError):
            self.committer.fail_video(video.key, str(scanned))
            return
        if scanned.truncated:
            self.warn(scanned.truncated)
        todo = []
        block = self.settings.block_frames(scanned.fps)
        ranges = plan_segments(scanned, self.segment_frames, SHORT_VIDEO_SEGMENTS, block)
        for start, end in ranges:
            self.state.frames_total += end - start
            record = self.committer.dataset.done.get((video.key, start, end))
            if record is None:
                todo.append((start, end))
            else:
                self.state.frames_done += record.frames
        self.plans.append(_tasks(video, scanned, todo, self.sequence, block))
        self.sequence += len(todo)
        self.committer.add_video(video.key, len(todo), scanned.frame_count)

    def _submit_work(self, quarantine: bool) -> None:
        """Suspects alone, one at a time; otherwise segments up to the window."""
        if self.suspects:
            if not self.in_flight:
                kind, item = self.suspects.popleft()
                self._submit(kind, item, suspect=True)
        elif not quarantine:
            while (
                self.ready
                and len(self.in_flight) < self.window
                and self.committer.waiting < 4 * self.window
            ):
                self._submit("segment", self.ready.popleft())

    def _commit(self) -> None:
        """Commit the finished segments that are next in order."""
        while (record := self.committer.commit_next()) is not None:
            self.state.faces_saved += sum(record.saved.values())
            self.state.frames_done += record.frames
            self.state.frames_this_run += record.frames
            self._report()

    def _collect(self) -> None:
        """Wait for units to finish and hand on their results; a broken pool is replaced."""
        done, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
        broken: list[tuple[str, Any]] = []
        for future in done:
            kind, item = self.in_flight.pop(future)
            try:
                value = future.result()
            except BrokenProcessPool:
                broken.append((kind, item))
                continue
            if kind.endswith("scan"):
                self.scans[item] = value
            else:
                self.memos.keep(item, value)
                self.committer.add(item, value)
        if broken:
            self._recover(broken)

    def _recover(self, broken: list[tuple[str, Any]]) -> None:
        """After a worker died: a new pool, and the units that were in flight as suspects
        (a suspect that broke the pool again is recorded as crashed)."""
        # Every future still in flight died with the pool too.
        broken += list(self.in_flight.values())
        self.in_flight.clear()
        log.warning("a worker process died; restarting the pool and retrying its work")
        self.pool.replace()
        for kind, item in broken:
            if kind == "suspect-scan":
                path = self.videos[item].path
                self.scans[item] = VideoError(f"{path}: the worker process crashed")
            elif kind == "suspect-segment":
                error = f"{item.path}: the worker process crashed"
                self.committer.add(item, SegmentResult(item.sequence, error=error))
            else:
                self.suspects.append((kind, item))
        self.suspects = deque(sorted(self.suspects, key=_order_key))


def _tasks(
    video: VideoInput,
    scan: VideoScan,
    ranges: list[tuple[int, int]],
    first_sequence: int,
    block_frames: int,
) -> Iterator[SegmentTask]:
    """The tasks of one video's unfinished segments, made one at a time.

    Each carries the timestamps up to where its worker may go past its end
    (:func:`faceripper.video.reach`).
    """
    for offset, (start, end) in enumerate(ranges):
        window = scan.window(start, reach(end, scan.frame_count, block_frames))
        yield SegmentTask(first_sequence + offset, video.key, video.path, window, start, end)


def _order_key(entry: tuple[str, Any]) -> tuple[int, int]:
    kind, item = entry
    return (0, item) if kind == "scan" else (1, item.sequence)
