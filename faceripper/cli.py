"""The ``faceripper`` command line: options in, one library call, results out.

Results go to stdout; progress, warnings and errors go to stderr. Exit codes: 0 success,
1 some input failed (a video, a strict check), 2 usage or config error.
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from faceripper._version import __version__
from faceripper.config import (
    DEFAULT_CONFIG,
    DEFAULT_LABEL_FORMAT,
    Config,
    init_config,
)
from faceripper.errors import ConfigError, FaceripperError

app = typer.Typer(
    name="faceripper",
    help="Build per-person face datasets for deep learning from large sets of videos.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Detector(str, Enum):
    """Face detector choices."""

    hog = "hog"
    cnn = "cnn"


class Landmarks(str, Enum):
    """Landmark model choices."""

    five = "5"
    sixtyeight = "68"


class EngineChoice(str, Enum):
    """Where the face encoder network runs (faceripper.engines)."""

    auto = "auto"
    onnxruntime = "onnxruntime"
    opencv = "opencv"
    dlib = "dlib"


class DeviceChoice(str, Enum):
    """What the face encoder network runs on."""

    cpu = "cpu"
    cuda = "cuda"


# Options shared by several commands, declared once.
ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="Config file: a JSON object keyed by person name with label, group, faces_dir.",
        dir_okay=False,
    ),
]
RefsOption = Annotated[
    Path | None,
    typer.Option(
        "--refs",
        help="Use a folder of person folders (one subfolder of photos per person) "
        "instead of a config file.",
        file_okay=False,
    ),
]
JittersOption = Annotated[
    int,
    typer.Option(
        "--jitters",
        min=0,
        help="Times to re-sample each reference face when encoding (0 and 1 both mean "
        "once). Higher is slightly more accurate and proportionally slower.",
    ),
]
ModelOption = Annotated[
    Detector,
    typer.Option(
        "--model",
        help="Face detector: hog (fast on CPU) or cnn (more accurate; needs a CUDA build "
        "of dlib to be fast, see INSTALLING_DLIB.md).",
    ),
]
LandmarksOption = Annotated[
    Landmarks,
    typer.Option(
        "--landmarks",
        help="Landmark model used to align faces for encoding: 5 (face_recognition's "
        "default) or 68. Encodings made with one do not mix with the other.",
    ),
]
EngineOption = Annotated[
    EngineChoice,
    typer.Option(
        "--engine",
        help="Where the face encoder (dlib's network, same weights) runs: auto (onnxruntime "
        "if installed, else opencv), onnxruntime or opencv (about 10x faster than dlib, "
        "within 1e-5 of its numbers), or dlib (dlib's own code, bit for bit).",
    ),
]
DeviceOption = Annotated[
    DeviceChoice,
    typer.Option(
        "--device",
        help="Run the face encoder on the cpu, or on an NVIDIA GPU with cuda (needs "
        "onnxruntime-gpu; see docs/performance.md).",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option("--threads", "-j", min=1, help="Worker processes (default: the number of CPUs)."),
]
CacheOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Encodings cache file (.npz). Default: CONFIG.encodings.npz beside the config, "
        "or REFS/.faceripper-encodings.npz.",
        dir_okay=False,
    ),
]
ToleranceOption = Annotated[
    float,
    typer.Option(
        "--tolerance",
        "-t",
        min=0.0,
        max=2.0,
        help="Largest euclidean distance between two encodings of the same person.",
    ),
]


def _fail(error: FaceripperError) -> NoReturn:
    lines = error.problems if isinstance(error, ConfigError) else str(error).splitlines()
    for line in lines:
        err.print(f"error: {line}", markup=False)
    raise typer.Exit(error.exit_code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn faceripper's exceptions into messages on stderr and an exit code."""
    try:
        yield
    except FaceripperError as error:
        _fail(error)
    except KeyboardInterrupt as stop:
        signum = getattr(stop, "signum", signal.SIGINT)
        what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
        err.print(f"{what}: rerun the same command to continue", markup=False)
        raise typer.Exit(128 + signum) from None


class Interrupted(KeyboardInterrupt):
    """``SIGINT`` or ``SIGTERM`` arrived: stop the way Ctrl-C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        return (Interrupted, (self.signum,))


def stop_on_signals() -> None:
    """Make ``SIGTERM`` stop a command as Ctrl-C does, and a second signal end it at once.

    The first ``SIGINT`` or ``SIGTERM`` raises :class:`Interrupted` (a
    ``KeyboardInterrupt``): the run stops its workers and closes its files, and the
    exit code is 128 + the signal's number (130, 143). A second one while that happens
    exits at once with the same code: what a run wrote is safe at any moment (the next
    run resumes), and worker processes end with their parent.
    """
    received: list[int] = []

    def handler(signum: int, frame: object) -> None:
        if received:
            os.write(2, b"interrupted again: stopping now\n")
            os._exit(128 + received[0])
        received.append(signum)
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, handler)


def print_table(table: Any) -> None:
    """Print a rich table on stdout; piped, as wide as it needs (headers never cut)."""
    if out.is_terminal:
        out.print(table)
        return
    from rich.measure import Measurement

    needed = Measurement.get(out, out.options.update(width=10_000), table).maximum
    wide = Console(file=out.file, width=max(out.width, needed), highlight=False, soft_wrap=True)
    wide.print(table)


def load_people(config: Path, refs: Path | None) -> Config:
    """The config from ``--refs DIR`` if given, else from the config file."""
    from faceripper.api import load_people as load

    return load(None if config == DEFAULT_CONFIG else config, refs, _warn)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, fed through a ``callback(done, total)``."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # piped: no bar, and no blank line left behind
    )
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


def _default_blur() -> str:
    from faceripper.blur import DEFAULT_BLUR_THRESHOLD

    return f"{DEFAULT_BLUR_THRESHOLD:g}"


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"faceripper {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Show the version."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more detail.")] = False,
) -> None:
    """Build per-person face datasets for deep learning from large sets of videos."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_time=False, show_path=False)],
        force=True,
    )


@app.command("init-config")
def init_config_command(
    refs_dir: Annotated[
        Path,
        typer.Argument(
            help="Folder with one subfolder of reference photos per person.",
            metavar="REFS_DIR",
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Config file to write.", dir_okay=False)
    ] = DEFAULT_CONFIG,
    group: Annotated[str, typer.Option("--group", "-g", help="Group written for everyone.")] = "",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a config with one person per subfolder of REFS_DIR (name and label = folder name)."""
    with user_errors():
        config, skipped = init_config(refs_dir, output, group=group, force=force)
    for folder in skipped:
        err.print(f"warning: {folder}: no images, skipped", markup=False)
    out.print(
        f"wrote {output} with {len(config)} people: {', '.join(p.name for p in config)}",
        markup=False,
    )


def _encode(
    config: Config,
    cache: Path | None,
    jitters: int,
    model: Detector,
    landmarks: Landmarks,
    threads: int | None,
    engine: EngineChoice = EngineChoice.auto,
    device: DeviceChoice = DeviceChoice.cpu,
    force: bool = False,
) -> Any:
    from faceripper.api import cpu_count, encode_people
    from faceripper.engines import prepare_engine
    from faceripper.references import EncodeSettings

    prepare_engine(engine.value, device.value)  # fails here, in one line, before any work
    settings = EncodeSettings(
        detector=model.value,
        jitters=jitters,
        landmarks=landmarks.value,
        engine=engine.value,
        device=device.value,
    )
    with progress_bar("encoding references") as update:
        workers = threads or cpu_count()
        report = encode_people(config, settings, cache, workers, _warn, update, force)
    for result in report.references.files:
        if result.found_by and not result.message:
            err.print(
                f"note: {result.path}: face found only by a fallback search "
                f"({result.found_by}): a tight crop?",
                markup=False,
            )
    return report


@app.command("encode")
def encode_command(
    config: ConfigOption = DEFAULT_CONFIG,
    refs: RefsOption = None,
    output: CacheOption = None,
    jitters: JittersOption = 1,
    model: ModelOption = Detector.hog,
    landmarks: LandmarksOption = Landmarks.five,
    threads: ThreadsOption = None,
    engine: EngineOption = EngineChoice.auto,
    device: DeviceOption = DeviceChoice.cpu,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Encode every photo again, ignoring the cache (a photo edited without a "
            "change of size or modification time is otherwise not noticed).",
        ),
    ] = False,
) -> None:
    """Encode every reference photo once and cache the encodings in a .npz file.

    Re-running encodes only new or changed photos; changed settings re-encode all.
    """
    with user_errors():
        people = load_people(config, refs)
        report = _encode(people, output, jitters, model, landmarks, threads, engine, device, force)
    refs_set = report.references
    found = sum(1 for f in refs_set.files if f.found_by)
    out.print(
        f"{report.cache_path}: {len(refs_set)} encodings of {len(people)} people "
        f"({report.encoded} photos encoded, {report.reused} unchanged, "
        f"{report.dropped} removed)" + (f"; {found} found by a fallback search" if found else ""),
        markup=False,
    )


@app.command("check-refs")
def check_refs_command(
    config: ConfigOption = DEFAULT_CONFIG,
    refs: RefsOption = None,
    output: CacheOption = None,
    tolerance: ToleranceOption = 0.6,
    sheet: Annotated[
        Path | None,
        typer.Option(
            "--sheet",
            help="Write one contact-sheet PNG per person into this folder.",
            file_okay=False,
        ),
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Open the contact sheets (implies --sheet).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit with code 1 if any problem is found.")
    ] = False,
    jitters: JittersOption = 1,
    model: ModelOption = Detector.hog,
    landmarks: LandmarksOption = Landmarks.five,
    threads: ThreadsOption = None,
    engine: EngineOption = EngineChoice.auto,
    device: DeviceOption = DeviceChoice.cpu,
) -> None:
    """Check the reference photos: faces found, outliers, and people who could be confused.

    Pairs of different people closer than --tolerance are listed: at that tolerance,
    rip would confuse them.
    """
    from faceripper.checkrefs import check_references, summary_tables, write_contact_sheets
    from faceripper.sheets import open_file

    with user_errors():
        people = load_people(config, refs)
        report = _encode(people, output, jitters, model, landmarks, threads, engine, device)
        check = check_references(
            report.references,
            [p.name for p in people],
            tolerance,
            labels={p.name: p.label for p in people},
        )
        for table in summary_tables(check):
            print_table(table)
        if show and sheet is None:
            sheet = Path("refs-sheets")
        if sheet is not None:
            written = write_contact_sheets(check, sheet)
            out.print(f"wrote {len(written)} contact sheets to {sheet}", markup=False)
            if show:
                for path in written:
                    open_file(path)
    problems = check.problems()
    if problems:
        err.print(f"{len(problems)} problem(s) found", markup=False)
        if strict:
            for line in problems:
                err.print(f"problem: {line}", markup=False)
            raise typer.Exit(1)


@app.command("review")
def review_command(
    target_dir: Annotated[
        Path,
        typer.Argument(
            help="The dataset folder that rip wrote (it holds manifest.csv).",
            metavar="TARGET_DIR",
        ),
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for the sheets (default: TARGET_DIR-review beside the dataset; "
            "never inside it).",
            file_okay=False,
        ),
    ] = None,
    per_label: Annotated[
        int,
        typer.Option(
            "--per-label",
            min=1,
            help="Crops per sheet, spread evenly over the label's crops.",
        ),
    ] = 48,  # faceripper.review.DEFAULT_PER_LABEL
    check_margin: Annotated[
        float,
        typer.Option(
            "--check-margin",
            min=0.0,
            help="A face track decided within this of the run's tolerance (its median "
            "distance) needs a look: shown first, counted, listed in check.csv.",
        ),
    ] = 0.05,  # faceripper.review.DEFAULT_CHECK_MARGIN
    show: Annotated[bool, typer.Option("--show", help="Open the sheets.")] = False,
) -> None:
    """Write a contact sheet per label of a dataset, to check the crops by eye.

    Each sheet shows first the face tracks decided with the least margin (one crop
    each), then a sample of the label's other crops, largest distance first, each with
    its distance, sharpness, video and frame; check.csv lists every track to check.
    """
    from faceripper.review import describe, review_dataset
    from faceripper.sheets import open_file

    with user_errors():
        sheets = review_dataset(target_dir, out_dir, per_label=per_label, check_margin=check_margin)
        if not sheets:
            out.print(
                f"{target_dir}: no saved crops in the manifest, no sheet written", markup=False
            )
        for sheet in sheets:
            out.print(describe(sheet), markup=False)
        if show:
            for sheet in sheets:
                open_file(sheet.path)


@app.command("reconcile")
def reconcile_command(
    target_dir: Annotated[
        Path,
        typer.Argument(
            help="The dataset folder that rip wrote (it holds manifest.csv).",
            metavar="TARGET_DIR",
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Only list what changed; record and change nothing."),
    ] = False,
) -> None:
    """Record the crops you deleted or moved between class folders, in the manifest.

    A deleted crop is never written again as that person, and its face teaches later
    rips who that person is not; a moved crop becomes its new person's (rip also does
    this when it starts).
    """
    from faceripper.corrections import describe, reconcile_dataset

    with user_errors():
        report = reconcile_dataset(target_dir, dry_run=dry_run)
    for line in describe(report):
        out.print(line, markup=False)


class GroupByChoice(str, Enum):
    """What never straddles two splits."""

    track = "track"
    video = "video"


class LinkChoice(str, Enum):
    """How a split's files point at the dataset's crops."""

    hardlink = "hardlink"
    symlink = "symlink"
    copy = "copy"


@app.command("split")
def split_command(
    target_dir: Annotated[
        Path,
        typer.Argument(
            help="The dataset folder that rip wrote (it holds manifest.csv); only read.",
            metavar="TARGET_DIR",
        ),
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the split: OUT/train|val|test/<class folder>/*.jpg and "
            "OUT/splits.csv (new, empty, or an earlier split, replaced; never inside "
            "TARGET_DIR).",
            file_okay=False,
        ),
    ],
    fractions: Annotated[
        str,
        typer.Option(
            "--fractions",
            help="Shares of train,val[,test] per label, adding up to 1.",
            metavar="TRAIN,VAL[,TEST]",
        ),
    ] = "0.8,0.1,0.1",
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same split.")
    ] = 0,
    group_by: Annotated[
        GroupByChoice,
        typer.Option(
            "--group-by",
            help="What never has crops in two splits: track (a face track, joined across "
            "the points where rip ends every track) or video (stricter).",
        ),
    ] = GroupByChoice.track,
    link: Annotated[
        LinkChoice,
        typer.Option(
            "--link",
            help="hardlink (no extra space; same file system), symlink or copy.",
        ),
    ] = LinkChoice.hardlink,
    max_per_label: Annotated[
        int,
        typer.Option(
            "--max-per-label",
            min=0,
            help="Keep at most N crops per label, the sharpest of every track and video "
            "first (0: all).",
        ),
    ] = 0,
    balance: Annotated[
        bool,
        typer.Option(
            "--balance",
            help="Keep as many crops per label as the smallest label has (the same choice "
            "as --max-per-label).",
        ),
    ] = False,
) -> None:
    """Split a dataset into train/val/test folders so that no face track is in two splits.

    Folders of hard links (or symlinks, or copies) in the layout of torchvision's
    ImageFolder and Keras' image_dataset_from_directory, and splits.csv listing each
    crop's split.
    """
    from faceripper.split import describe, parse_fractions, split_dataset

    with user_errors():
        report = split_dataset(
            target_dir,
            out_dir,
            parse_fractions(fractions),
            seed=seed,
            group_by=group_by.value,
            link=link.value,
            max_per_label=max_per_label,
            balance=balance,
        )
    for line in describe(report):
        out.print(line, markup=False)
    if report.missing:
        err.print(
            f"warning: {report.missing} crop(s) listed in the manifest are missing "
            f"(deleted or moved by hand): not split; 'faceripper reconcile {target_dir}' "
            "records them",
            markup=False,
        )
    for folder in report.empty_folders():
        err.print(
            f"warning: {out_dir / folder} is empty: too few groups for every split",
            markup=False,
        )


@app.command("rip")
def rip_command(
    target_dir: Annotated[
        Path,
        typer.Option(
            "--target-dir",
            help="Dataset folder: one subfolder of face crops per label.",
            file_okay=False,
        ),
    ],
    config: ConfigOption = DEFAULT_CONFIG,
    refs: RefsOption = None,
    video_dir: Annotated[
        Path | None,
        typer.Option(
            "--video-dir", help="Folder searched recursively for videos.", file_okay=False
        ),
    ] = None,
    video: Annotated[
        list[Path] | None,
        typer.Option(
            "--video",
            help="A video file to process (repeatable).",
            dir_okay=False,
            metavar="FILE",
        ),
    ] = None,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            "-t",
            min=0.0,
            max=2.0,
            help="Euclidean distance to a person's nearest reference encoding within which "
            "a face counts as theirs. With --tracks a face track is theirs when most of its "
            "frames are within it and its median distance is within it + 0.1; with "
            "--no-tracks each face must be within it.",
        ),
    ] = 0.4,
    threads: ThreadsOption = None,
    jitters: Annotated[
        int,
        typer.Option(
            "--jitters",
            min=0,
            help="Times to re-sample each reference face when encoding the references "
            "(0 and 1 both mean once).",
        ),
    ] = 0,
    model: Annotated[
        Detector,
        typer.Option(
            "--model",
            help="Face detector for the video frames: hog (fast on CPU) or cnn (more "
            "accurate; needs a CUDA build of dlib to be fast, see INSTALLING_DLIB.md). "
            "Reference photos are always located with hog.",
        ),
    ] = Detector.hog,
    blur: Annotated[
        float | None,
        typer.Option(
            "--blur",
            min=0.0,
            help="Sharpness threshold: faces scoring below it are blurry and skipped "
            "(size-normalised variance of the Laplacian; see docs/blur.md). 0 disables. "
            "[default: " + _default_blur() + "]",
        ),
    ] = None,
    save_blurry: Annotated[
        bool,
        typer.Option(
            "--save-blurry/--no-save-blurry",
            help="Keep blurry faces too, in a separate tree outside the dataset (--blurry-dir).",
        ),
    ] = False,
    blurry_dir: Annotated[
        Path | None,
        typer.Option(
            "--blurry-dir",
            help="Where --save-blurry writes (default: TARGET-blurry beside it).",
            file_okay=False,
        ),
    ] = None,
    min_size: Annotated[
        int, typer.Option("--min-size", min=1, help="Smallest face kept, in pixels (box side).")
    ] = 100,
    margin: Annotated[
        float,
        typer.Option(
            "--margin",
            min=0.0,
            max=2.0,
            help="Space around the face in the crop, as a fraction of the face size per side.",
        ),
    ] = 0.3,
    align: Annotated[
        bool,
        typer.Option(
            "--align/--no-align",
            help="Rotate crops so that the eyes are level (5-point landmarks); --no-align "
            "keeps plain box crops. The manifest box is the detected box either way.",
        ),
    ] = True,
    size: Annotated[
        int,
        typer.Option(
            "--size",
            min=0,
            max=4096,
            help="Side of the square crops in pixels, at most 4096 (0: the frame's pixels, "
            "plain crops only).",
        ),
    ] = 256,
    tracks: Annotated[
        bool,
        typer.Option(
            "--tracks/--no-tracks",
            help="Follow each face through consecutive frames and decide its identity from "
            "all its encoded frames (fewer encodings, steadier labels); --no-tracks "
            "decides every face alone, as FaceRipper v1 did.",
        ),
    ] = True,
    dedupe: Annotated[
        bool,
        typer.Option(
            "--dedupe/--no-dedupe",
            help="Skip a crop nearly identical to one of the last 4 kept of the same track.",
        ),
    ] = True,
    adapt: Annotated[
        bool,
        typer.Option(
            "--adapt/--no-adapt",
            help="Decide a face track that the references leave undecided (0.4-0.5 from "
            "them) from the faces of the same video matched with confidence; --no-adapt "
            "decides from the references alone.",
        ),
    ] = True,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow/--no-follow",
            help="Where HOG loses the face of a person's track (turned, tilted, looking "
            "down), search around it with the CNN detector and save the faces found as "
            "followed (manifest column detector); --no-follow saves HOG's faces only.",
        ),
    ] = True,
    every: Annotated[
        int,
        typer.Option("--every", min=1, help="Look at every Nth frame only."),
    ] = 1,
    fps: Annotated[
        float,
        typer.Option(
            "--fps",
            min=0.0,
            help="Look at about this many frames per second of video (overrides --every).",
        ),
    ] = 0.0,
    detect_every: Annotated[
        int,
        typer.Option(
            "--detect-every",
            min=1,
            help="Search the whole frame for faces once every N frames (and after every "
            "cut, and while no face is tracked); in between, only around the faces being "
            "tracked, several times faster. A face coming into view elsewhere is found up "
            "to N-1 frames late. 1: search every frame whole (as --model cnn always does).",
        ),
    ] = 5,
    label_format: Annotated[
        str,
        typer.Option(
            "--label-format",
            help="Class folder names, from the fields {label}, {group} and {person}: "
            "e.g. \"{group}___{label}\" (FaceRipper v1's GROUP___LABEL). The manifest's "
            "label column stays the label.",
            metavar="FORMAT",
        ),
    ] = DEFAULT_LABEL_FORMAT,
    landmarks: LandmarksOption = Landmarks.five,
    engine: EngineOption = EngineChoice.auto,
    device: DeviceOption = DeviceChoice.cpu,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache", help="Reference encodings cache (.npz); see 'encode'.", dir_okay=False
        ),
    ] = None,
    restart: Annotated[
        bool,
        typer.Option(
            "--restart",
            help="Forget earlier runs on TARGET and start over: deletes the crops listed in "
            "its manifest (and the manifest and journal); files it did not write stay.",
        ),
    ] = False,
    max_per_video: Annotated[
        int,
        typer.Option(
            "--max-per-video",
            min=0,
            help="Keep at most N crops per person and video: the sharpest, spread over the "
            "video (0: no limit).",
        ),
    ] = 0,
    negatives: Annotated[
        Path | None,
        typer.Option(
            "--negatives",
            help="Photos of people who must never be saved (look-alikes, band members): "
            "one subfolder per person, or a folder of photos. A face nearer to them than "
            "to any configured person is dropped and counted.",
            file_okay=False,
        ),
    ] = None,
    segment_frames: Annotated[
        int,
        typer.Option(
            "--segment-frames",
            min=10,
            help="Frames per unit of work handed to a worker (smaller: finer resume and "
            "load balancing; larger: less overhead). The crops do not depend on it.",
        ),
    ] = 300,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Run the work on a Dask cluster: its scheduler's address, tcp://HOST:8786 "
            "(trusted private network only) or tls://HOST:8786. Needs faceripper[distributed]; "
            "see docs/distributed.md. With it, --threads sets the work units run at once "
            "(default: the cluster's worker processes).",
            metavar="ADDRESS",
        ),
    ] = None,
    scheduler_timeout: Annotated[
        float,
        typer.Option(
            "--scheduler-timeout",
            min=0.1,
            help="Seconds to wait for the scheduler to answer.",
            metavar="S",
        ),
    ] = 30.0,
    tls_ca_file: Annotated[
        Path | None,
        typer.Option(
            "--tls-ca-file",
            help="TLS: the CA certificate (PEM) that signed the cluster's certificates.",
            dir_okay=False,
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            help="TLS: this client's certificate (PEM), signed by that CA.",
            dir_okay=False,
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key",
            help="TLS: this client's private key (PEM), unless it is in the --tls-cert file.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Extract the faces of the configured people from videos into a training dataset.

    Rerunning the same command continues where the last run stopped. 'faceripper
    review TARGET' then draws contact sheets of the crops to check them.
    """
    from faceripper.api import rip
    from faceripper.blur import DEFAULT_BLUR_THRESHOLD
    from faceripper.worker import RipSettings

    settings = RipSettings(
        tolerance=tolerance,
        min_size_px=min_size,
        blur_threshold=DEFAULT_BLUR_THRESHOLD if blur is None else blur,
        save_blurry=save_blurry,
        model=model.value,
        landmarks=landmarks.value,
        margin=margin,
        align=align,
        size_px=size,
        tracks=tracks,
        dedupe=dedupe,
        adapt=adapt,
        follow=follow,
        every=every,
        fps=fps,
        detect_every=detect_every,
        engine=engine.value,
        device=device.value,
    )
    with user_errors(), ExitStack() as stack:
        # Connecting comes first: a wrong address fails at once and writes nothing.
        cluster = connect_cluster(
            stack, scheduler, scheduler_timeout, tls_ca_file, tls_cert, tls_key, threads
        )
        encoding = stack.enter_context(progress_bar("encoding references"))
        ripping = stack.enter_context(rip_progress())
        summary = rip(
            target_dir,
            config=None if config == DEFAULT_CONFIG else config,
            refs=refs,
            video_dir=video_dir,
            videos=video or [],
            settings=settings,
            threads=threads,
            jitters=jitters,
            cache=cache,
            blurry_dir=blurry_dir,
            restart=restart,
            max_per_video=max_per_video,
            negatives=negatives,
            segment_frames=segment_frames,
            label_format=label_format,
            cluster=cluster,
            start_method=os.environ.get("FACERIPPER_START_METHOD"),
            progress=ripping,
            encode_progress=encoding,
            warn=_warn,
        )
    _print_summary(summary)
    if not summary.ok:
        raise typer.Exit(1)


def _warn(message: str) -> None:
    """A warning on stderr, one line."""
    err.print(f"warning: {message}", markup=False)


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


def _print_summary(summary: Any) -> None:
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
    out.print(
        f"{summary.frames} frames ({summary.frames_this_run} this run, "
        f"{summary.seconds:.1f} s); faces detected {counts['detected']}, "
        f"too small {counts['too_small']}, blurry skipped {counts['blurry_skipped']}, "
        f"unknown {counts['unknown']}, negatives {counts['negative']}; "
        f"{counts['tracks']} tracks, {counts['encoded']} faces encoded, "
        f"{counts['whole_frame_searches']} frames searched whole, "
        f"{counts['followed']} faces followed, "
        f"{counts['deduplicated']} near duplicates skipped, "
        f"{counts['adapt_adopted']} of {counts['tracks_pending']} borderline tracks adopted "
        f"from their video; {summary.rows} manifest rows",
        markup=False,
    )
    _print_corrections(summary)
    for key, message in summary.video_errors.items():
        err.print(f"error: {_naming(key, message)}", markup=False)


def _naming(key: str, message: str) -> str:
    """``message`` led by the video's name, once: most messages start with its path.

    >>> _naming("a/x.mp4", "videos/a/x.mp4: empty file (0 bytes)")
    'videos/a/x.mp4: empty file (0 bytes)'
    >>> _naming("x.mp4", "the worker process crashed")
    'x.mp4: the worker process crashed'
    """
    named = message.split(": ", 1)[0].replace("\\", "/")
    return message if named == key or named.endswith("/" + key) else f"{key}: {message}"


def _print_corrections(summary: Any) -> None:
    """What rip found corrected by hand, and learnt (nothing when there is nothing)."""
    from faceripper.corrections import describe

    report, learned = summary.corrections, summary.learned
    if report is not None and report.changed:
        out.print(describe(report)[-1], markup=False)  # the counts; reconcile lists them
    if learned is not None and (len(learned) or learned.pending):
        text = (
            f"learnt from your corrections: {len(learned.exclusions)} faces excluded, "
            f"{len(learned.references)} added as references"
        )
        if summary.counts["corrected_skipped"]:
            text += f", {summary.counts['corrected_skipped']} corrected crops not rewritten"
        if learned.pending:
            text += f"; {learned.pending} waiting for their video to be encoded"
        out.print(text, markup=False)


#: FaceRipper v1's flags: a command line that starts with one of them is a ``rip``.
V1_FLAGS = frozenset(
    {
        "--config",
        "--video-dir",
        "--target-dir",
        "--tolerance",
        "--threads",
        "--jitters",
        "--model",
        "--blur",
        "--save-blurry",
    }
)
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def v1_argv(argv: list[str]) -> list[str]:
    """Accept FaceRipper v1 command lines unchanged.

    v1 had no subcommands (``face_ripper.py --config c.json --video-dir v ...``), so a
    command line starting with a v1 flag is taken as ``rip``; v1 also accepted a value
    after ``--save-blurry`` (``--save-blurry True``), which is mapped to the flag.

    >>> v1_argv(["--config", "c.json", "--save-blurry", "True", "--blur", "80"])
    ['rip', '--config', 'c.json', '--save-blurry', '--blur', '80']
    """
    args = list(argv)
    if args and args[0].split("=", 1)[0] in V1_FLAGS:
        args.insert(0, "rip")
    fixed: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        following = args[i + 1].lower() if i + 1 < len(args) else ""
        if arg == "--save-blurry" and following in _TRUE | _FALSE:
            fixed.append("--save-blurry" if following in _TRUE else "--no-save-blurry")
            i += 2
            continue
        if arg.startswith("--save-blurry="):
            value = arg.split("=", 1)[1].lower()
            fixed.append("--no-save-blurry" if value in _FALSE else "--save-blurry")
            i += 1
            continue
        fixed.append(arg)
        i += 1
    return fixed


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    import sys

    args = v1_argv(sys.argv[1:] if argv is None else argv)
    stop_on_signals()
    app(args=args, prog_name="faceripper")
