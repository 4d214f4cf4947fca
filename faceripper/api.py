"""``faceripper.rip``: the whole ``rip`` job as one library call.

The command line (``faceripper rip``) parses its options, calls :func:`rip` and prints
the summary; a script does the same without the command line::

    import faceripper
    from faceripper.worker import RipSettings

    summary = faceripper.rip(
        "faces", refs="refs", video_dir="videos", settings=RipSettings(tolerance=0.45)
    )
    print(summary.saved)

Everything is checked before any work: the people, the label format, the videos, the
settings, the target and the engine; then the references are encoded (cached), then
the videos are ripped (:func:`faceripper.pipeline.rip`). Nothing is printed: warnings
go to the ``warn`` callback (default: this module's logger), progress to the
``progress`` and ``encode_progress`` callbacks. Errors are
:class:`~faceripper.errors.FaceripperError` subclasses with a one-line message.

This module imports nothing heavy at import time, so ``import faceripper`` stays cheap.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faceripper.config import Config
    from faceripper.pipeline import ProgressCallback, RipSummary, VideoCollection
    from faceripper.pool import Cluster
    from faceripper.references import EncodeReport, EncodeSettings, ReferenceSet
    from faceripper.worker import RipSettings

log = logging.getLogger(__name__)

#: The config file used when neither ``config`` nor ``refs`` is given.
DEFAULT_CONFIG = Path("config.json")
#: The largest crop side: a 16-megapixel crop is far beyond any training input size.
MAX_SIZE_PX = 4096

Warn = Callable[[str], None]


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def load_people(config: Path | Config | None, refs: Path | None, warn: Warn) -> Config:
    """The people: from ``refs`` (a folder of person folders) if given, else ``config``
    (a file, default ``config.json``, or a :class:`~faceripper.config.Config`)."""
    from faceripper.config import Config, config_from_refs, load_config
    from faceripper.errors import UsageError

    if refs is not None and config is not None:
        raise UsageError(f"--config {config} and --refs {refs}: give one of them, not both")
    if refs is not None:
        people, skipped = config_from_refs(Path(refs))
        for folder in skipped:
            warn(f"{folder}: no images, skipped")
        return people
    if isinstance(config, Config):
        return config
    return load_config(Path(config) if config is not None else DEFAULT_CONFIG)


def check_settings(settings: RipSettings) -> None:
    """Refuse settings that cannot work, before any work.

    Raises:
        UsageError: one line naming the option and the problem.
    """
    from faceripper.errors import UsageError

    if not 0.0 <= settings.tolerance <= 2.0:
        raise UsageError(f"--tolerance must be between 0 and 2, got {settings.tolerance:g}")
    if settings.min_size_px < 1:
        raise UsageError(f"--min-size must be 1 or more, got {settings.min_size_px}")
    if settings.blur_threshold < 0:
        raise UsageError(f"--blur must be 0 or more, got {settings.blur_threshold:g}")
    if settings.blur_floor < 0:
        raise UsageError(f"--blur-floor must be 0 or more, got {settings.blur_floor:g}")
    if not 0.0 <= settings.margin <= 2.0:
        raise UsageError(f"--margin must be between 0 and 2, got {settings.margin:g}")
    if settings.size_px < 0 or settings.size_px > MAX_SIZE_PX:
        raise UsageError(f"--size must be between 0 and {MAX_SIZE_PX}, got {settings.size_px}")
    if settings.align and settings.size_px == 0:
        raise UsageError("--size 0 (the frame's pixels) needs --no-align")
    if settings.every < 1 or settings.detect_every < 1 or settings.fps < 0:
        raise UsageError("--every and --detect-every must be 1 or more, --fps 0 or more")
    if settings.model not in ("hog", "cnn"):
        raise UsageError(f"unknown detector model {settings.model!r}: use hog or cnn")


def check_folders(target_dir: Path, video_dir: Path | None) -> None:
    """Refuse a target inside the video folder, or a video folder inside the target.

    Raises:
        UsageError: one is inside the other.
    """
    from faceripper.errors import UsageError
    from faceripper.writer import inside

    if video_dir is None:
        return
    if inside(video_dir, target_dir):
        raise UsageError(
            f"{target_dir}: the target is inside the video folder {video_dir}: "
            "choose a target outside it"
        )
    if inside(target_dir, video_dir):
        raise UsageError(
            f"{video_dir}: the video folder is inside the target {target_dir}, where it "
            "would be taken for a class: choose a target outside it"
        )


def encode_people(
    people: Config,
    settings: EncodeSettings,
    cache: Path | None,
    threads: int,
    warn: Warn,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> EncodeReport:
    """Encode the people's reference photos (cached), reporting problems to ``warn``.

    ``force``: encode every photo again, ignoring the cache.
    """
    from faceripper.references import encode_references

    report = encode_references(
        people, cache, settings, threads=threads, progress=progress, force=force
    )
    if report.rebuilt_reason:
        warn(f"rebuilt the encodings cache: {report.rebuilt_reason}")
    for result in report.references.files:
        if result.message:
            warn(result.message)
    return report


def rip(
    target_dir: Path | str,
    *,
    config: Path | str | Config | None = None,
    refs: Path | str | None = None,
    video_dir: Path | str | None = None,
    videos: Sequence[Path | str] = (),
    settings: RipSettings | None = None,
    threads: int | None = None,
    jitters: int = 0,
    tight_crops: str = "mirrored",
    cache: Path | str | None = None,
    blurry_dir: Path | str | None = None,
    restart: bool = False,
    max_per_video: int = 0,
    negatives: Path | str | None = None,
    segment_frames: int | None = None,
    label_format: str | None = None,
    cluster: Cluster | None = None,
    start_method: str | None = None,
    progress: ProgressCallback | None = None,
    encode_progress: Callable[[int, int], None] | None = None,
    warn: Warn | None = None,
) -> RipSummary:
    """Extract the faces of the configured people from videos into a training dataset.

    The library call behind ``faceripper rip``, with its defaults (in
    :class:`~faceripper.worker.RipSettings` and here); rerun, it continues where it stopped.

    Args:
        target_dir: the dataset folder: one class folder per label, and ``manifest.csv``.
        config: a config file (default ``config.json``) or a loaded ``Config``; not with ``refs``.
        refs: a folder with one folder of reference photos per person, instead of a config.
        video_dir: a folder searched recursively for videos.
        videos: video files, after those of ``video_dir``.
        settings: what decides which faces are written (default ``RipSettings()``: the CLI's).
        threads: worker processes (default: one per CPU); with ``cluster``, work units at once.
        jitters: re-samples of each reference face when encoding the references.
        tight_crops: how a reference face whose chip reaches beyond its photo is encoded:
            ``"mirrored"`` or ``"black"`` (face_recognition's; docs/encode.md).
        cache: the reference encodings cache (default: beside the config, or in ``refs``).
        blurry_dir: blurry crops' folder, outside the target (default ``<target>-blurry``).
        restart: forget earlier runs on the target (deleting their crops) and start over.
        max_per_video: keep at most this many crops per person and video (0: no limit).
        negatives: photos of people never to save, one folder per person or one folder.
        segment_frames: frames per unit of work (default 300).
        label_format: the class folder names (default ``"{label}"``).
        cluster: run the work on it (:class:`faceripper.distributed.DaskCluster`).
        start_method: multiprocessing start method (default: the platform's; cuda: spawn).
        progress: called with a :class:`~faceripper.pipeline.RipProgress` as work completes.
        encode_progress: called as ``(done, total)`` while reference photos are encoded.
        warn: called with each warning (one line, no "warning:" prefix); default: logged.

    Returns:
        The :class:`~faceripper.pipeline.RipSummary` of the whole dataset.

    Raises:
        ConfigError, UsageError, TargetLockedError, SettingsChangedError, the engine's
        errors: each with a one-line message, before any work when the input is wrong.

    Example:
        >>> import faceripper
        >>> faceripper.rip("faces", refs="no-such-folder", video_dir=".")
        Traceback (most recent call last):
        ...
        faceripper.errors.UsageError: no-such-folder: references folder does not exist
    """
    from faceripper.pipeline import rip as run_pipeline
    from faceripper.video import DEFAULT_SEGMENT_FRAMES
    from faceripper.worker import RipSettings

    warn, settings, target = warn or log.warning, settings or RipSettings(), Path(target_dir)
    people = load_people(_as_path(config), _as_path(refs), warn)
    label_format = _check_options(people, settings, label_format, segment_frames, max_per_video)
    collection, engine = _check_videos(target, video_dir, videos, settings, warn)
    workers = threads or cpu_count()
    _warn_resources(settings, engine, workers, cluster is not None, warn)
    references, negative_refs = _encode_job(
        people, settings, jitters, cache, negatives, workers, warn, encode_progress, tight_crops
    )
    return run_pipeline(
        people,
        references,
        collection.videos,
        target,
        settings,
        threads=workers,
        blurry_dir=_blurry_dir(settings, target, blurry_dir),
        restart=restart,
        progress=progress,
        # A CUDA context does not survive fork: GPU workers start fresh.
        start_method=start_method or ("spawn" if settings.device == "cuda" else None),
        segment_frames=DEFAULT_SEGMENT_FRAMES if segment_frames is None else segment_frames,
        cluster=cluster,
        negatives=negative_refs,
        label_format=label_format,
        max_per_video=max_per_video,
        warn=warn,
    )


def _as_path(value: Path | str | Config | None) -> Any:
    """A ``str`` as a :class:`~pathlib.Path`; anything else as it is."""
    return Path(value) if isinstance(value, str) else value


def _check_options(
    people: Config,
    settings: RipSettings,
    label_format: str | None,
    segment_frames: int | None,
    max_per_video: int,
) -> str:
    """Check the class folder names, the settings and the counts; the label format.

    Raises:
        UsageError: one line naming the option and the problem.
    """
    from faceripper.config import DEFAULT_LABEL_FORMAT, class_folders
    from faceripper.errors import UsageError

    label_format = DEFAULT_LABEL_FORMAT if label_format is None else label_format
    class_folders(people, label_format)
    check_settings(settings)
    if segment_frames is not None and segment_frames < 10:
        raise UsageError(f"--segment-frames must be 10 or more, got {segment_frames}")
    if max_per_video < 0:
        raise UsageError(f"--max-per-video must be 0 or more, got {max_per_video}")
    return label_format


def _check_videos(
    target: Path,
    video_dir: Path | str | None,
    videos: Sequence[Path | str],
    settings: RipSettings,
    warn: Warn,
) -> tuple[VideoCollection, str]:
    """The videos (their problems warned) and the engine, after checking the target and
    video folders and the engine.

    Raises:
        UsageError: a folder is inside the other, or the target is not writable.
        EngineUnavailableError: the engine or device cannot be used.
    """
    from faceripper.engines import prepare_engine
    from faceripper.pipeline import collect_videos
    from faceripper.words import counted
    from faceripper.writer import ensure_writable

    folder = Path(video_dir) if video_dir is not None else None
    collection = collect_videos(folder, [Path(v) for v in videos])
    for problem in collection.problems:
        warn(problem)
    if collection.ignored_files:
        warn(f"{counted(collection.ignored_files, 'non-video file')} ignored")
    check_folders(target, folder)
    ensure_writable(target)
    # fails here, in one line (also a --model cnn file that is not dlib's CNN)
    engine = prepare_engine(settings.engine, settings.device, cnn=settings.uses_cnn)
    return collection, engine


def _blurry_dir(settings: RipSettings, target: Path, blurry_dir: Path | str | None) -> Path | None:
    """Where blurry crops go: None unless ``settings.save_blurry``; by default beside the
    target."""
    from faceripper.writer import blurry_dir_for

    if not settings.save_blurry:
        return None
    return Path(blurry_dir) if blurry_dir is not None else blurry_dir_for(target)


def _warn_resources(
    settings: RipSettings, engine: str, workers: int, on_cluster: bool, warn: Warn
) -> None:
    """Warn of dlib's own CNN detector running on the CPU, and of more local workers than
    CPUs."""
    from faceripper.words import counted

    if settings.model == "cnn" and engine == "dlib":
        from faceripper.models import dlib_has_cuda

        if not dlib_has_cuda():
            warn(
                "dlib was built without CUDA: --model cnn --engine dlib runs dlib's CNN on "
                "the CPU (about 1.4 s for one 640x360 frame); see INSTALLING_DLIB.md"
            )
    if not on_cluster and workers > cpu_count():
        warn(
            f"--threads {workers} is more than the {counted(cpu_count(), 'CPU')} this process "
            "may use: the workers share them, each with its own models in memory"
        )


def _encode_job(
    people: Config,
    settings: RipSettings,
    jitters: int,
    cache: Path | str | None,
    negatives: Path | str | None,
    workers: int,
    warn: Warn,
    progress: Callable[[int, int], None] | None,
    tight_crops: str = "mirrored",
) -> tuple[ReferenceSet, ReferenceSet | None]:
    """Encode the people's references (cached) and the negatives, if any.

    Raises:
        UsageError: no person has a usable reference photo (each one without is warned).
    """
    from faceripper.config import negatives_config
    from faceripper.errors import UsageError
    from faceripper.references import EncodeSettings

    # Reference photos are located with HOG whatever settings.model says: they are large
    # and frontal, and the CNN detector costs seconds a photo on a CPU.
    encode_settings = EncodeSettings(
        detector="hog",
        jitters=jitters,
        landmarks=settings.landmarks,
        engine=settings.engine,
        device=settings.device,
        tight_crops=tight_crops,  # type: ignore[arg-type]  # checked by EncodeSettings
    )
    cache_path = Path(cache) if cache is not None else None
    report = encode_people(people, encode_settings, cache_path, workers, warn, progress)
    missing = [p.name for p in people if p.name not in set(report.references.person)]
    for name in missing:
        warn(f"{name}: no usable reference photo; never matched")
    if len(missing) == len(people):
        raise UsageError("no person has a usable reference photo")
    negative_refs = None
    if negatives is not None:
        negative_refs = encode_people(
            negatives_config(Path(negatives)), encode_settings, None, workers, warn
        ).references
    return report.references, negative_refs
