"""The ``rip`` orchestrator: owns the worker pool, schedules segments, feeds the writer.

Work flows as: videos are scanned (in workers) a few ahead of need; each scan is split
into segments (:func:`faceripper.video.plan_segments`); segments run in worker
processes (:func:`faceripper.worker.process_segment`); their results are committed to
the :class:`faceripper.writer.Dataset` strictly in segment order, so the dataset and
its manifest are the same whatever the number of workers and whatever order they finish
in. They do not depend on the segment size either: a segment owns the frames between
reset points, where every face track ends (:func:`faceripper.worker.owned_frames`). At
most ``2 * threads`` segments are in flight, so memory stays bounded whatever the
number and length of the videos.

A worker that dies (a decoder crash, the OOM killer) breaks the pool; the pool is
replaced and the segments that were in flight are run again one at a time, so the one
that crashes it is found and reported as that video's error, and the others finish.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from faceripper import adaptive
from faceripper._version import __version__
from faceripper.config import DEFAULT_LABEL_FORMAT, Config, class_folders
from faceripper.corrections import Learned, ReconcileReport, judge, prepare_run, with_learned
from faceripper.engines import prepare_engine
from faceripper.errors import UsageError
from faceripper.processes import init_worker_process, terminate_executor
from faceripper.references import ReferenceSet
from faceripper.video import (
    DEFAULT_SEGMENT_FRAMES,
    SHORT_VIDEO_SEGMENTS,
    VIDEO_EXTENSIONS,
    VideoScan,
    find_videos,
    plan_segments,
    reach,
    video_id,
    video_key,
)
from faceripper.worker import (
    RUNTIME_ONLY,
    FaceHit,
    References,
    RipSettings,
    SegmentResult,
    SegmentTask,
    init_worker,
    process_segment,
    scan_task,
)
from faceripper.writer import Dataset, SegmentRecord, crop_name, inside, summarize

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

    A file given both ways, or reached through two links, is processed once (the first
    time it is met).

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
        real = os.path.realpath(video.path)
        if real not in seen:
            seen.add(real)
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
    return {
        **{k: v for k, v in asdict(settings).items() if k not in RUNTIME_ONLY},
        "people": [[p.name, p.label, p.group] for p in config.people],
        "label_format": label_format,
        "references_sha256": digest.hexdigest(),
        "faceripper_version": __version__,
    }


class Cluster(Protocol):
    """Somewhere other than local processes to run the work units.

    :class:`faceripper.distributed.DaskCluster` is one. Only the work units
    (:func:`scan_task`, :func:`process_segment`) run there; their results come back and
    are committed here, as for local processes.
    """

    def open(self, settings: RipSettings, references: References) -> tuple[Executor, int]:
        """An executor whose workers hold ``settings`` and ``references``, and how many
        units it runs at once. A unit that keeps killing its workers must complete with
        its crash result: ``BrokenProcessPool`` is a local pool's alone."""
        ...


def _init_pool_worker(settings: RipSettings, references: References) -> None:
    """Local worker initializer: end with the main process, then keep the run's settings."""
    init_worker_process()
    init_worker(settings, references)


class _Pool:
    """Where the work units run: a process pool that can be replaced when a worker dies,
    or a :class:`Cluster`'s executor."""

    def __init__(
        self,
        threads: int,
        start_method: str | None,
        initargs: tuple[Any, ...],
        cluster: Cluster | None = None,
    ) -> None:
        self.threads = threads
        self.context = multiprocessing.get_context(start_method)
        self.initargs = initargs
        self.cluster = cluster
        self.executor = self._new()

    def _new(self) -> Executor:
        if self.cluster is not None:
            executor, self.threads = self.cluster.open(*self.initargs)
            return executor
        return ProcessPoolExecutor(
            max_workers=self.threads,
            mp_context=self.context,
            initializer=_init_pool_worker,
            initargs=self.initargs,
        )

    def replace(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._new()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop at once (an interrupted or failed run): running units are abandoned."""
        terminate_executor(self.executor)


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

    Raises:
        ConfigError: ``label_format`` is invalid or gives two people one folder.
        UsageError: no videos, or the target cannot be written.
        TargetLockedError: another run holds the target.
        SettingsChangedError: the target was made with other settings.
        ModelFormatError, EngineUnavailableError: the encoder engine cannot run
            (``settings.engine``, ``settings.device``).
    """
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
        target, [p.name for p in config.people], {v.key: v.path for v in videos}, settings.landmarks
    )
    run_refs = with_learned(run_refs, learned)
    labels = [p.label for p in config.people]
    started = time.monotonic()
    state = RipProgress(videos_total=len(videos))
    errors: dict[str, str] = {}
    counts: Counter[str] = Counter()

    renamed = {p.label: f for p, f in zip(config.people, folders, strict=True) if f != p.label}
    with Dataset(
        target, fingerprint, blurry_dir=blurry_dir, restart=restart, folders=renamed
    ) as dataset:
        pool = _Pool(threads, start_method, (settings, run_refs), cluster)
        try:
            _schedule(
                pool,
                dataset,
                videos,
                settings,
                labels,
                config,
                state,
                errors,
                counts,
                progress,
                segment_frames,
                max_per_video,
                learned,
            )
        except BaseException:
            # Ctrl-C, SIGTERM, a full disk: the workers' running units are abandoned
            # (the next run redoes them) rather than waited for.
            pool.terminate()
            raise
        pool.shutdown()
        totals = summarize(dataset.done.values())
        counts.update(dataset.adapt_counts)
        for record in dataset.done.values():
            counts.update(record.counts)
            if record.error:
                errors.setdefault(record.video, record.error)
        rows = dataset.rows_written
        held = dataset.row_counts
    return RipSummary(
        saved=Counter({label: n for (label, status), n in held.items() if status == "saved"}),
        blurry=Counter({label: n for (label, status), n in held.items() if status == "blurry"}),
        ambiguous=totals["ambiguous"],
        counts=counts,
        video_errors=errors,
        frames=state.frames_done,
        frames_this_run=state.frames_this_run,
        seconds=time.monotonic() - started,
        rows=rows,
        labels=tuple(person.label for person in config.people),
        corrections=corrected,
        learned=learned,
    )


def _schedule(
    pool: _Pool,
    dataset: Dataset,
    videos: Sequence[VideoInput],
    settings: RipSettings,
    labels: list[str],
    config: Config,
    state: RipProgress,
    errors: dict[str, str],
    counts: Counter[str],
    progress: ProgressCallback | None,
    segment_frames: int,
    max_per_video: int = 0,
    learned: Learned | None = None,
) -> None:
    window = 2 * pool.threads
    lookahead = max(2, pool.threads)
    next_scan = 0  # next video to submit a scan for
    next_plan = 0  # next video whose segments are to be planned
    scans: dict[int, VideoScan | str] = {}
    ready: deque[SegmentTask] = deque()  # created lazily, a window's worth at a time
    plans: deque[Iterator[SegmentTask]] = deque()
    suspects: deque[tuple[str, Any]] = deque()  # work re-run alone after a pool break
    in_flight: dict[Future[Any], tuple[str, Any]] = {}
    buffer: dict[int, tuple[SegmentTask, SegmentResult]] = {}
    sequence = 0
    next_commit = 0
    unfinished: dict[str, int] = {}  # segments of a video still to commit
    incomplete: set[str] = set()  # videos with a segment left for the next run
    frame_counts: dict[str, int] = {}

    def video_finished(key: str) -> None:
        if settings.adapt and key not in dataset.adapted and key not in incomplete:
            # Every segment is finished (a broken video's too: its decode errors are
            # final), so a resumed run decides exactly what an uninterrupted one does.
            adapt_video(dataset, key, config, settings, learned)
        if key in errors:
            return
        if max_per_video and key not in dataset.pruned:
            counts["over_limit"] += dataset.prune_video(key, frame_counts[key], max_per_video)

    def report() -> None:
        if progress:
            progress(state)

    def submit(kind: str, item: Any, suspect: bool = False) -> None:
        future: Future[Any]
        if kind == "scan":
            future = pool.executor.submit(scan_task, videos[item].path)
        else:
            future = pool.executor.submit(process_segment, item)
        in_flight[future] = ("suspect-" + kind if suspect else kind, item)

    def crashed(kind: str, item: Any, detail: str) -> None:
        if kind == "scan":
            scans[item] = f"{videos[item].path}: {detail}"
        else:
            buffer[item.sequence] = (
                item,
                SegmentResult(item.sequence, error=f"{item.path}: {detail}"),
            )

    while True:
        quarantine = bool(suspects) or any(k.startswith("suspect") for k, _ in in_flight.values())
        if not quarantine:
            while next_scan < len(videos) and next_scan - next_plan < lookahead:
                submit("scan", next_scan)
                next_scan += 1
        # Plan the segments of scanned videos, in video order, while work is short.
        while len(ready) < window and (plans or next_plan in scans):
            if plans:
                task = next(plans[0], None)
                if task is None:
                    plans.popleft()
                else:
                    ready.append(task)
                continue
            scanned = scans.pop(next_plan)
            video = videos[next_plan]
            if isinstance(scanned, str):
                errors[video.key] = scanned
            else:
                todo = []
                block = settings.block_frames(scanned.fps)
                ranges = plan_segments(scanned, segment_frames, SHORT_VIDEO_SEGMENTS, block)
                for start, end in ranges:
                    state.frames_total += end - start
                    record = dataset.done.get((video.key, start, end))
                    if record is None:
                        todo.append((start, end))
                    else:
                        state.frames_done += record.frames
                plans.append(_tasks(video, scanned, todo, sequence, block))
                sequence += len(todo)
                frame_counts[video.key] = scanned.frame_count
                unfinished[video.key] = len(todo)
                if not todo:
                    video_finished(video.key)
            state.videos_scanned += 1
            next_plan += 1
            report()
        # Submit work: suspects alone, one at a time; otherwise up to the window.
        if suspects:
            if not in_flight:
                kind, item = suspects.popleft()
                submit(kind, item, suspect=True)
        elif not quarantine:
            while ready and len(in_flight) < window and len(buffer) < 4 * window:
                submit("segment", ready.popleft())
        # Commit finished segments in order.
        while next_commit in buffer:
            task, result = buffer.pop(next_commit)
            _commit(dataset, task, result, labels, config, state, errors, counts, learned)
            if not dataset.is_done(task.video_key, task.start, task.end):
                incomplete.add(task.video_key)  # retried by the next run
            unfinished[task.video_key] -= 1
            if unfinished[task.video_key] == 0:
                video_finished(task.video_key)
            next_commit += 1
            report()
        if not in_flight:
            if next_plan >= len(videos) and not (ready or plans or suspects or buffer):
                return
            continue
        done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
        broken: list[tuple[str, Any]] = []
        for future in done:
            kind, item = in_flight.pop(future)
            try:
                value = future.result()
            except BrokenProcessPool:
                broken.append((kind, item))
                continue
            if kind.endswith("scan"):
                scans[item] = value
            else:
                buffer[item.sequence] = (item, value)
        if broken:
            # Every future still in flight died with the pool too.
            broken += list(in_flight.values())
            in_flight.clear()
            log.warning("a worker process died; restarting the pool and retrying its work")
            pool.replace()
            for kind, item in broken:
                if kind.startswith("suspect"):
                    crashed(kind.removeprefix("suspect-"), item, "the worker process crashed")
                else:
                    suspects.append((kind, item))
            suspects = deque(sorted(suspects, key=_order_key))


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


def _commit(
    dataset: Dataset,
    task: SegmentTask,
    result: SegmentResult,
    labels: list[str],
    config: Config,
    state: RipProgress,
    errors: dict[str, str],
    counts: Counter[str],
    learned: Learned | None = None,
) -> None:
    record = SegmentRecord(task.video_key, task.start, task.end, result.frames, owned=result.owned)
    for hit, corrected in judge(learned, task.video_key, result):
        label = _write_hit(dataset, task.video_key, hit, config, corrected)
        (record.blurry if hit.status == "blurry" else record.saved)[label] += 1
        if hit.status == "saved":
            state.faces_saved += 1
    for person_index, n in result.ambiguous.items():
        record.ambiguous[labels[person_index]] += n
    record.counts.update(result.counts)
    state.frames_done += result.frames
    state.frames_this_run += result.frames
    if result.error:
        if result.traceback:
            log.info("%s: an unexpected failure in a worker:\n%s", task.path, result.traceback)
        errors.setdefault(task.video_key, result.error)
        record.error = result.error
        if not result.decode_error:
            # A crash or an unexpected failure may not happen again: leave the segment
            # unfinished so that the next run retries it.
            counts.update(result.counts)
            return
    if result.pending or len(result.exemplars):
        data = adaptive.pack(result.exemplars, result.pending)
        dataset.spool_segment(task.video_key, task.start, task.end, data)
    dataset.finish_segment(record)


def _write_hit(
    dataset: Dataset, video_key: str, hit: FaceHit, config: Config, corrected: str = ""
) -> str:
    """Write one crop and its manifest row; return its person's label."""
    person = config.people[hit.person]
    name = crop_name(Path(video_key).stem, video_id(video_key), hit.frame, hit.face_index)
    top, right, bottom, left = hit.box_trbl
    row = {
        "label": person.label,
        "person": person.name,
        "group": person.group,
        "video": video_key,
        "frame": hit.frame,
        "time_s": f"{hit.time_s:.3f}",
        "top": top,
        "right": right,
        "bottom": bottom,
        "left": left,
        "distance": f"{hit.distance:.4f}",
        "sharpness": f"{hit.sharpness:.1f}",
        "status": hit.status,
        "track": hit.track,
        "encoded": int(hit.encoded),
        "face": hit.face_index,
        "corrected": corrected,
        "detector": hit.detector,
    }
    dataset.write_crop(person.label, name, hit.status, hit.jpeg, row)
    return person.label


def adapt_video(
    dataset: Dataset,
    video_key: str,
    config: Config,
    settings: RipSettings,
    learned: Learned | None = None,
) -> None:
    """The video-adaptive step of one finished video (:mod:`faceripper.adaptive`).

    Reads the spools of its segments twice, one at a time: first their exemplars
    (bounded per person), then their borderline tracks, decided and written segment by
    segment, so memory does not grow with the video's length. Deterministic: a run
    killed before :meth:`Dataset.finish_adapt` repeats it to the same crops.
    """
    spools = dataset.spools(video_key)
    n_people = len(config.people)
    exemplars = adaptive.Exemplars.merge(
        adaptive.unpack(p.read_bytes(), exemplars_only=True)[0] for p in spools
    )
    counts: Counter[str] = Counter()
    for spool in spools:
        _, pending = adaptive.unpack(spool.read_bytes())
        decisions = adaptive.decide_pending(pending, exemplars, n_people, settings.tolerance)
        for track, decision in zip(pending, decisions, strict=True):
            counts[f"adapt_{decision.reason.replace(' ', '_')}"] += 1
            if decision.person < 0:
                continue
            adopted = SegmentResult(-1, hits=list(adaptive.adopted_hits(track, decision)))
            for hit, corrected in judge(learned, video_key, adopted):
                _write_hit(dataset, video_key, hit, config, corrected)
                counts["adapted_crops" if track.decided < 0 else "confirmed_crops"] += 1
            counts.update(adopted.counts)
    dataset.finish_adapt(video_key, counts)
