"""The commands on reference photos: ``init-config``, ``encode``, ``check-refs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from faceripper.cli.common import (
    CacheOption,
    ConfigOption,
    Detector,
    DeviceChoice,
    DeviceOption,
    EngineChoice,
    EngineOption,
    JittersOption,
    Landmarks,
    LandmarksOption,
    ModelOption,
    RefsOption,
    ThreadsOption,
    TightCropsChoice,
    TightCropsOption,
    ToleranceOption,
    app,
    err,
    load_people,
    out,
    print_table,
    progress_bar,
    user_errors,
    warn,
)
from faceripper.config import DEFAULT_CONFIG, Config, init_config
from faceripper.words import counted


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
    tight_crops: TightCropsChoice = TightCropsChoice.mirrored,
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
        tight_crops=tight_crops.value,
    )
    with progress_bar("encoding references") as update:
        workers = threads or cpu_count()
        report = encode_people(config, settings, cache, workers, warn, update, force)
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
    tight_crops: TightCropsOption = TightCropsChoice.mirrored,
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
        report = _encode(
            people, output, jitters, model, landmarks, threads, engine, device, force, tight_crops
        )
    refs_set = report.references
    found = sum(1 for f in refs_set.files if f.found_by)
    out.print(
        f"{report.cache_path}: {counted(len(refs_set), 'encoding')} of "
        f"{counted(len(people), 'person', 'people')} ({counted(report.encoded, 'photo')} "
        f"encoded, {report.reused} unchanged, "
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
    tight_crops: TightCropsOption = TightCropsChoice.mirrored,
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
    from faceripper.checkrefs import check_references
    from faceripper.refreport import summary_tables, write_contact_sheets
    from faceripper.sheets import open_file

    with user_errors():
        people = load_people(config, refs)
        report = _encode(
            people, output, jitters, model, landmarks, threads, engine, device, False, tight_crops
        )
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
            out.print(f"wrote {counted(len(written), 'contact sheet')} to {sheet}", markup=False)
            if show:
                for path in written:
                    open_file(path)
    problems = check.problems()
    if problems:
        err.print(f"{counted(len(problems), 'problem')} found", markup=False)
        if strict:
            for line in problems:
                err.print(f"problem: {line}", markup=False)
            raise typer.Exit(1)
