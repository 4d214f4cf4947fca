"""The ``rip`` command: its options into :func:`faceripper.rip`, its summary out."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faceripper.blur import DEFAULT_BLUR_THRESHOLD
from faceripper.cli.common import (
    ConfigOption,
    Detector,
    DeviceChoice,
    DeviceOption,
    EngineChoice,
    EngineOption,
    Landmarks,
    LandmarksOption,
    RefsOption,
    ThreadsOption,
    TightCropsChoice,
    TightCropsOption,
    app,
    check_interrupted,
    err,
    out,
    progress_bar,
    user_errors,
    warn,
)
from faceripper.cli.rip_options import (
    AdaptOption,
    AlignOption,
    BlurFloorOption,
    BlurOption,
    BlurryDirOption,
    DedupeOption,
    DetectEveryOption,
    EveryOption,
    FollowOption,
    FpsOption,
    LabelFormatOption,
    MarginOption,
    MaxPerVideoOption,
    MinSizeOption,
    NegativesOption,
    RestartOption,
    ReuseOption,
    RipCacheOption,
    RipJittersOption,
    RipModelOption,
    RipToleranceOption,
    RunAnchorsOption,
    SaveBlurryOption,
    SchedulerOption,
    SchedulerTimeoutOption,
    SegmentFramesOption,
    SizeOption,
    TargetDirOption,
    TlsCaFileOption,
    TlsCertOption,
    TlsKeyOption,
    TracksOption,
    TrustReferencesOption,
    VideoDirOption,
    VideosOption,
)
from faceripper.config import DEFAULT_CONFIG, DEFAULT_LABEL_FORMAT
from faceripper.words import counted


@app.command(
    "rip",
    help="Extract the faces of the configured people from videos into a training dataset."
    "\n\nRerunning it resumes the run; 'faceripper review TARGET' shows the crops to check.",
)
def rip_command(
    target_dir: TargetDirOption,
    config: ConfigOption = DEFAULT_CONFIG,
    refs: RefsOption = None,
    video_dir: VideoDirOption = None,
    video: VideosOption = None,
    tolerance: RipToleranceOption = 0.4,
    threads: ThreadsOption = None,
    jitters: RipJittersOption = 0,
    tight_crops: TightCropsOption = TightCropsChoice.mirrored,
    model: RipModelOption = Detector.hog,
    blur: BlurOption = None,
    blur_floor: BlurFloorOption = None,
    save_blurry: SaveBlurryOption = False,
    blurry_dir: BlurryDirOption = None,
    min_size: MinSizeOption = 100,
    margin: MarginOption = 0.3,
    align: AlignOption = True,
    size: SizeOption = 256,
    tracks: TracksOption = True,
    dedupe: DedupeOption = True,
    adapt: AdaptOption = True,
    trust_references: TrustReferencesOption = False,
    run_anchors: RunAnchorsOption = True,
    follow: FollowOption = True,
    every: EveryOption = 1,
    fps: FpsOption = 0.0,
    detect_every: DetectEveryOption = 5,
    label_format: LabelFormatOption = DEFAULT_LABEL_FORMAT,
    landmarks: LandmarksOption = Landmarks.five,
    engine: EngineOption = EngineChoice.auto,
    device: DeviceOption = DeviceChoice.cpu,
    cache: RipCacheOption = None,
    restart: RestartOption = False,
    reuse: ReuseOption = True,
    max_per_video: MaxPerVideoOption = 0,
    negatives: NegativesOption = None,
    segment_frames: SegmentFramesOption = 300,
    scheduler: SchedulerOption = None,
    scheduler_timeout: SchedulerTimeoutOption = 30.0,
    tls_ca_file: TlsCaFileOption = None,
    tls_cert: TlsCertOption = None,
    tls_key: TlsKeyOption = None,
) -> None:
    from faceripper.api import rip
    from faceripper.worker import RipSettings

    settings = RipSettings(
        tolerance=tolerance,
        min_size_px=min_size,
        blur_threshold=DEFAULT_BLUR_THRESHOLD if blur is None else blur,
        blur_floor=math.nan if blur_floor is None else blur_floor,  # nan: it follows --blur
        save_blurry=save_blurry,
        model=model.value,
        landmarks=landmarks.value,
        margin=margin,
        align=align,
        size_px=size,
        tracks=tracks,
        dedupe=dedupe,
        adapt=adapt,
        trust_references=trust_references,
        run_anchors=run_anchors,
        follow=follow,
        every=every,
        fps=fps,
        detect_every=detect_every,
        engine=engine.value,
        device=device.value,
        reuse=reuse,
    )
    with user_errors(), ExitStack() as stack:
        cluster = connect_cluster(  # first: a wrong address fails at once, writes nothing
            stack, scheduler, scheduler_timeout, tls_ca_file, tls_cert, tls_key, threads
        )
        summary = rip(
            target_dir,
            config=None if config == DEFAULT_CONFIG else config,
            refs=refs,
            video_dir=video_dir,
            videos=video or [],
            settings=settings,
            threads=threads,
            jitters=jitters,
            tight_crops=tight_crops.value,
            cache=cache,
            blurry_dir=blurry_dir,
            restart=restart,
            max_per_video=max_per_video,
            negatives=negatives,
            segment_frames=segment_frames,
            label_format=label_format,
            cluster=cluster,
            start_method=os.environ.get("FACERIPPER_START_METHOD"),
            encode_progress=stack.enter_context(progress_bar("encoding references")),
            progress=stack.enter_context(rip_progress()),
            warn=warn,
        )
    _report(summary)


def connect_cluster(
    stack: ExitStack,
    scheduler: str | None,
    timeout_s: float,
    tls_ca_file: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    threads: int | None,
) -> Any:
    """The Dask cluster of ``--scheduler`` (closed with ``stack``), or None for local work.

    Connecting comes first, before the references are encoded, so that a wrong address
    fails at once and writes nothing.
    """
    from faceripper.errors import UsageError

    if scheduler is None:
        if tls_ca_file or tls_cert or tls_key:
            raise UsageError("the --tls-* options need --scheduler")
        return None
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            '--scheduler needs the package "distributed": pip install "faceripper[distributed]"'
        ) from None
    from faceripper.distributed import DaskCluster, security

    tls = security(tls_ca_file, tls_cert, tls_key)
    return stack.enter_context(DaskCluster(scheduler, tls, timeout_s=timeout_s, threads=threads))


@contextmanager
def rip_progress() -> Iterator[Callable[[Any], None]]:
    """The rip progress bar on stderr: frames, faces saved, frames/s, ETA."""
    progress = Progress(
        TextColumn("ripping"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("frames"),
        TextColumn("{task.fields[faces]} faces"),
        TextColumn("{task.fields[videos]} videos"),
        TextColumn("{task.fields[fps]:.1f} frames/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # piped: no bar, and no blank line left behind
    )
    task = progress.add_task("rip", total=None, faces=0, fps=0.0, videos="0/?")

    def update(state: Any) -> None:
        check_interrupted()
        progress.update(
            task,
            completed=state.frames_done,
            total=state.frames_total or None,
            faces=state.faces_saved,
            fps=state.frames_per_s,
            videos=f"{state.videos_scanned}/{state.videos_total}",
        )

    with progress:
        yield update


def _report(summary: Any) -> None:
    """Print the run's summary: the table of labels to stdout, errors to stderr; exit 1
    when the run is not ok (a video failed)."""
    from rich.table import Table

    table = Table(title="faces in the dataset")
    for column in ("label", "saved", "blurry", "ambiguous"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for label in summary.labels:
        table.add_row(
            label,
            str(summary.saved[label]),
            str(summary.blurry[label]),
            str(summary.ambiguous[label]),
        )
    out.print(table)
    counts = summary.counts
    adopted = counts["adapt_adopted"] + counts["adapt_shared_view"] + counts["adapt_corroborated"]
    held = counts["tracks_pending"] + counts["tracks_wide"]  # past the window too
    out.print(
        f"{counted(summary.frames, 'frame')} ({summary.frames_this_run} this run, "
        f"{summary.seconds:.1f} s); faces detected {counts['detected']}, "
        f"too small {counts['too_small']}, blurry skipped {counts['blurry_skipped']} "
        f"({counts['blurry_kept']} soft kept by their track), "
        f"unknown {counts['unknown']}, negatives {counts['negative']}; "
        f"{counted(counts['tracks'], 'track')}, {counted(counts['encoded'], 'face')} encoded, "
        f"{counted(counts['whole_frame_searches'], 'frame')} searched whole, "
        f"{counted(counts['followed'], 'face')} followed, "
        f"{counted(counts['deduplicated'], 'near duplicate')} skipped, "
        f"{adopted} of {counted(held, 'borderline track')} adopted "
        f"from their video, {counted(counts['adapt_run_anchors'], 'track')} given their "
        f"person by earlier videos and {counted(counts['adapt_later_anchors'], 'track')} by "
        "later ones, "
        f"{counted(counts['adapt_no_anchor'], 'track')} refused for want "
        f"of a face near the reference; {counted(summary.rows, 'manifest row')}",
        markup=False,
    )
    if counts["frames_reused"] or counts["encodings_reused"]:
        out.print(
            f"reused detections of {counted(counts['frames_reused'], 'frame')} and "
            f"{counted(counts['encodings_reused'], 'face encoding')} from earlier runs "
            f"({counts['searches_run']} searches and {counts['encoder_calls_run']} encoder "
            "calls run)",
            markup=False,
        )
    _print_corrections(summary)
    for notice in summary.unsure:
        # Advice on the references, like the other warnings about them: on stderr, so
        # that stdout stays the dataset's table and counts.
        err.print(f"note: {notice.line()}", markup=False)
    for key, message in summary.video_errors.items():
        err.print(f"error: {_naming(key, message)}", markup=False)
    if not summary.ok:
        raise typer.Exit(1)


def _naming(key: str, message: str) -> str:
    """``message`` led by the video's name, once: most messages start with its path.

    >>> _naming("a/x.mp4", "videos/a/x.mp4: empty file (0 bytes)")
    'videos/a/x.mp4: empty file (0 bytes)'
    >>> _naming("x.mp4", "the worker process crashed")
    'x.mp4: the worker process crashed'

    A ``--video`` file's key is its absolute path, its message the path as given:
    >>> import os
    >>> key = os.path.abspath("v/x.mp4").replace(os.sep, "/")
    >>> _naming(key, "v/x.mp4: no video stream")
    'v/x.mp4: no video stream'
    """
    named = message.split(": ", 1)[0].replace("\\", "/")
    given = os.path.abspath(named).replace(os.sep, "/") if named else ""  # noqa: PTH100
    same = named == key or named.endswith("/" + key) or given == key
    return message if same else f"{key}: {message}"


def _print_corrections(summary: Any) -> None:
    """What rip found corrected by hand, and learnt (nothing when there is nothing)."""
    from faceripper import wholeclass
    from faceripper.corrections import describe

    report, learned = summary.corrections, summary.learned
    if report is not None and report.changed:
        for line in wholeclass.describe(report):  # class folders deleted whole (--restart)
            out.print(line, markup=False)
        out.print(describe(report)[-1], markup=False)  # the counts; reconcile lists them
    if learned is not None and (len(learned) or learned.pending):
        added = len(learned.references)
        text = (
            f"learnt from your corrections: {counted(len(learned.exclusions), 'face')} "
            f"excluded, {added} added as {'a reference' if added == 1 else 'references'}"
        )
        if summary.counts["corrected_skipped"]:
            skipped = counted(summary.counts["corrected_skipped"], "corrected crop")
            text += f", {skipped} not rewritten"
        if learned.pending:
            waiting = "its video" if learned.pending == 1 else "their video"
            text += f"; {learned.pending} waiting for {waiting} to be encoded"
        out.print(text, markup=False)
