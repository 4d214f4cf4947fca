"""What every command shares: the app, the consoles, the options declared once, and
the mapping of faceripper's exceptions to messages and exit codes."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from faceripper.config import DEFAULT_CONFIG, Config
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


class TightCropsChoice(str, Enum):
    """How a reference face whose chip reaches beyond its photo is encoded."""

    mirrored = "mirrored"
    black = "black"


class EngineChoice(str, Enum):
    """Where the face encoder and the CNN detector run (faceripper.engines)."""

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
TightCropsOption = Annotated[
    TightCropsChoice,
    typer.Option(
        "--tight-crops",
        help="How a reference face that fills its photo so closely that the encoder's face "
        "chip reaches beyond it (a tight face crop) is encoded: mirrored (its surroundings "
        "mirrored outward, averaged with its mirror image: nearer the person's other "
        "photos) or black (dlib's chip as it is: face_recognition's encoding).",
    ),
]
ModelOption = Annotated[
    Detector,
    typer.Option(
        "--model",
        help="Face detector: hog (fast on CPU) or cnn (dlib's CNN: also turned faces; runs "
        "on --engine, about 5x hog's cost on a CPU).",
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
        help="Where the face encoder and the cnn detector (dlib's networks, same weights) "
        "run: auto (onnxruntime if installed, else opencv), onnxruntime or opencv (about "
        "10x faster than dlib, within 1e-5 of its numbers), or dlib (dlib's own code, bit "
        "for bit).",
    ),
]
DeviceOption = Annotated[
    DeviceChoice,
    typer.Option(
        "--device",
        help="Run the face encoder and the cnn detector on the cpu, or on an NVIDIA GPU "
        "with cuda (needs onnxruntime-gpu; see docs/performance.md).",
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
        report_interrupt(getattr(stop, "signum", signal.SIGINT))
    received: list[int] = _signals["received"]
    if received:  # its Interrupted was raised where Python ignores exceptions (a __del__)
        report_interrupt(received[0])


#: The signals :func:`stop_on_signals`' handler received, whether one was reported, and
#: whether :func:`check_interrupted` raised one again.
_signals: dict[str, Any] = {"received": [], "reported": False, "raised_again": False}


def check_interrupted() -> None:
    """Raise :class:`Interrupted` again, once, for a signal whose first one was lost.

    The handler raises where the signal finds the main thread; when that is a
    finalizer (an object's ``__del__``, run by the garbage collector at any moment),
    Python prints the exception and goes on, and the command would run to its end as
    if Ctrl-C had never been pressed. Called where a command reports progress.
    """
    received: list[int] = _signals["received"]
    if received and not _signals["raised_again"]:
        _signals["raised_again"] = True
        raise Interrupted(received[0])


def say_interrupted(signum: int) -> int:
    """Say on stderr that the command was stopped by ``signum``; its exit code."""
    _signals["reported"] = True
    what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
    err.print(f"{what}: rerun the same command to continue", markup=False)
    return 128 + signum


def report_interrupt(signum: int) -> NoReturn:
    """Say that the command was stopped by ``signum`` and exit with 128 + its number."""
    raise typer.Exit(say_interrupted(signum)) from None


def interrupted_outside_commands(code: object) -> int | None:
    """The signal that stopped the CLI outside :func:`user_errors` (while parsing, or
    before a command's body), which Typer turns into a silent exit 130; else None."""
    received: list[int] = _signals["received"]
    if received and not _signals["reported"] and code == 130:
        return received[0]
    return None


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
    received: list[int] = _signals["received"]

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

    return load(None if config == DEFAULT_CONFIG else config, refs, warn)


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
        check_interrupted()
        progress.update(task, completed=done, total=total)

    with progress:
        yield update


def warn(message: str) -> None:
    """A warning on stderr, one line."""
    err.print(f"warning: {message}", markup=False)


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
