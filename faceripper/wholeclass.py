"""Class folders changed as a whole: renamed, or deleted with all their crops.

:func:`faceripper.corrections.reconcile` reads each crop the user took out of a class
folder as "this face is not the person", and later runs refuse faces like it. That is
what a crop deleted or moved on its own means, not what a whole folder gone means:

- a folder **renamed** (every crop of ``lin_manuel_miranda/`` now in ``lin/``, a folder
  of nobody) is another name for the same person;
- a folder **deleted** (``rm -r faces/lin``) most likely means "not this person at all"
  or "start this person over", rarely "every one of these faces is someone else".

Learning either as one correction per crop would refuse the person's faces in every
later video (on the Hamilton clip, 104 crops of Lin-Manuel Miranda to 0), and the log
survives ``--restart``. So :func:`check` refuses both, records nothing, and says what to
do. The one exception is a deleted folder under ``rip --restart``: the restart redoes
every crop anyway, so the folder's crops are not recorded and the person starts over
(:func:`describe` says so). To mark every crop of a folder as not the person, the user
recreates the folder empty: an emptied folder is a deliberate deletion of each crop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from faceripper.errors import UsageError
from faceripper.manifest import folder_of
from faceripper.words import counted

if TYPE_CHECKING:
    from faceripper.corrections import Correction, ReconcileReport


def check(
    target: Path, rows: Sequence[dict[str, str]], report: ReconcileReport, restart: bool
) -> set[tuple[str, str, int, int, str]]:
    """Refuse a class folder renamed or deleted as a whole (see the module); the keys
    (:attr:`Correction.key`) of the corrections not to record.

    Under ``restart`` a deleted folder is not refused: its deletions leave
    ``report.deleted`` for ``report.restarted`` and are not recorded.

    Raises:
        UsageError: a class folder was renamed whole, or deleted whole without ``restart``.
    """
    _refuse_a_renamed_class(target, rows, report.strays)
    gone = deleted_folders(target, report.deleted)
    if not gone:
        return set()
    if not restart:
        raise UsageError(_refusal(target, gone))
    report.restarted = [c for c in report.deleted if folder_of(c.path) in gone]
    report.deleted = [c for c in report.deleted if folder_of(c.path) not in gone]
    return {c.key for c in report.restarted}


def rows_to_keep(rows: Sequence[dict[str, str]], report: ReconcileReport) -> list[dict[str, str]]:
    """The manifest rows of the folders deleted whole under ``--restart``: left in the
    manifest (the restart clears it), so that a restart that fails before it clears the
    target leaves the deletion as it was, to be refused by the next resume."""
    paths = {c.path for c in report.restarted}
    return [r for r in rows if r["path"] in paths]


def deleted_folders(target: Path, deleted: Sequence[Correction]) -> dict[str, list[Correction]]:
    """The class folders that are gone from ``target`` (not merely emptied), with the
    crops deleted with them, by folder name."""
    gone: dict[str, list[Correction]] = {}
    for correction in deleted:
        folder = folder_of(correction.path)
        if folder is not None and not (target / folder).is_dir():
            gone.setdefault(folder, []).append(correction)
    return dict(sorted(gone.items()))


def _refusal(target: Path, gone: dict[str, list[Correction]]) -> str:
    """The one line that refuses the first deleted folder (and names the others)."""
    folder, crops = next(iter(gone.items()))
    person, where = crops[0].person, target / folder
    also = [f for f in gone if f != folder]
    n = counted(len(crops), "crop")
    return (
        f"{where}: class folder deleted with its {n}; nothing was recorded: to start "
        f"{person} over, rip with --restart (to drop them instead, remove their references "
        f"first); if none of the {n} is {person}, recreate the folder empty (mkdir {where}) "
        "and run again" + (f" (also deleted: {', '.join(also)})" if also else "")
    )


def describe(report: ReconcileReport) -> list[str]:
    """A line per class folder deleted whole and started over (``rip --restart``)."""
    by_folder: dict[str, list[Correction]] = {}
    for correction in report.restarted:
        by_folder.setdefault(str(folder_of(correction.path)), []).append(correction)
    return [
        f"{folder}: class folder deleted with its {counted(len(crops), 'crop')}: not "
        f"recorded as corrections; {crops[0].person} starts over"
        for folder, crops in sorted(by_folder.items())
    ]


def _refuse_a_renamed_class(
    target: Path, rows: Sequence[dict[str, str]], strays: Sequence[Correction]
) -> None:
    """A class folder renamed as a whole is not all wrong faces: learning each of its
    crops as not the person would refuse the person's faces in every later video."""
    moves = Counter((c.path.split("/")[0], c.to_path.split("/")[0]) for c in strays)
    saved = Counter(folder_of(r["path"]) for r in rows if r["status"] == "saved")
    for (old, new), n in sorted(moves.items()):
        if n > 1 and n == saved[old] and not (target / old).is_dir():
            raise UsageError(
                f"{target / new}: holds all {n} crops of the class folder {old}, which is gone: "
                f"rename it back to {old}; nothing was recorded (for another label: rename it "
                "back, edit the config, then rip with --restart)"
            )
