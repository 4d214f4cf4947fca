"""The commands on a written dataset: ``review``, ``reconcile``, ``split``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from faceripper.cli.common import app, err, out, user_errors
from faceripper.words import counted


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
            f"warning: {counted(report.missing, 'crop')} listed in the manifest "
            f"{'is' if report.missing == 1 else 'are'} missing "
            f"(deleted or moved by hand): not split; 'faceripper reconcile {target_dir}' "
            "records them",
            markup=False,
        )
    for folder in report.empty_folders():
        err.print(
            f"warning: {out_dir / folder} is empty: too few groups for every split",
            markup=False,
        )
