"""The same video under two names: found before a run plans its work, and ripped once.

A video copied into two folders, downloaded twice, or reached through a hard link or a
symbolic link would give the dataset two sets of the same crops, which then fall on both
sides of a train/validation split. :func:`unique_videos` keeps one video of each group
with the same content and names the others.

Two files are the same video when they are the same file (device and inode: a hard link,
or a symbolic link to it), or when they have the same size, the same SHA-256 of their
first and last MiB, and then the same SHA-256 of their whole content. Only files of the
same size are read, and only those whose ends agree are read whole.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

#: Bytes read at each end of a file for the first comparison.
SAMPLE_BYTES = 1 << 20


class _Video(Protocol):
    @property
    def path(self) -> Path: ...

    @property
    def key(self) -> str: ...


V = TypeVar("V", bound=_Video)


@dataclass(frozen=True)
class Duplicate:
    """A video not ripped: ``skipped`` has the content of ``kept``."""

    skipped: _Video
    kept: _Video
    #: The target holds crops of ``skipped`` from an earlier run (they stay).
    held: bool = False

    def line(self) -> str:
        """The one-line warning.

        >>> from faceripper.pipeline import VideoInput
        >>> a, b = VideoInput(Path("v/a.mp4"), "a.mp4"), VideoInput(Path("v/b.mp4"), "b.mp4")
        >>> Duplicate(b, a).line()
        'v/b.mp4: the same video as v/a.mp4, skipped'
        >>> Duplicate(b, a, held=True).line()  # doctest: +NORMALIZE_WHITESPACE
        'v/b.mp4: the same video as v/a.mp4, skipped (its crops from an earlier run stay in
        the dataset: rip with --restart to have them once)'
        """
        text = f"{self.skipped.path}: the same video as {self.kept.path}, skipped"
        if self.held:
            text += (
                " (its crops from an earlier run stay in the dataset: rip with --restart to"
                " have them once)"
            )
        return text


def unique_videos(
    videos: Sequence[V], held: Collection[str] = ()
) -> tuple[list[V], list[Duplicate]]:
    """The videos with one of each group of the same content, in their order, and the
    ones left out.

    The one kept is the first, in the run's order, of those whose key is in ``held``
    (videos the target already has crops of: resuming never rips a second copy of a
    video already ripped), else the first in the run's order. A file that cannot be
    looked at is kept (its scan reports it).
    """
    files: dict[tuple[int, int], list[int]] = {}  # positions of each file
    sizes: dict[tuple[int, int], int] = {}
    for position, video in enumerate(videos):
        try:
            stat = video.path.stat()
        except OSError:
            continue
        file = (stat.st_dev, stat.st_ino)
        files.setdefault(file, []).append(position)
        sizes[file] = stat.st_size
    by_size: dict[int, list[list[int]]] = {}
    for file, positions in files.items():
        by_size.setdefault(sizes[file], []).append(positions)
    same: list[list[int]] = []
    for of_a_size in by_size.values():
        same += _same_content(videos, of_a_size)
    left_out: dict[int, Duplicate] = {}
    for members in same:
        if len(members) < 2:
            continue
        holding = [m for m in members if videos[m].key in held]
        keep = min(holding) if holding else min(members)
        for member in members:
            if member != keep:
                left = Duplicate(videos[member], videos[keep], videos[member].key in held)
                left_out[member] = left
    kept = [video for position, video in enumerate(videos) if position not in left_out]
    return kept, [left_out[position] for position in sorted(left_out)]


def _same_content(videos: Sequence[_Video], files: list[list[int]]) -> list[list[int]]:
    """Files of one size (each given as the positions of its videos) grouped by content:
    their ends compared first, then, where they agree, their whole content."""
    if len(files) < 2:
        return files
    groups: list[list[int]] = []
    for by_ends in _grouped(videos, files, ends_digest):
        if len(by_ends) == 1:
            groups += by_ends
            continue
        for by_content in _grouped(videos, by_ends, _digest):
            groups.append([position for file in by_content for position in file])
    return groups


def _grouped(
    videos: Sequence[_Video], files: list[list[int]], digest: Callable[[Path], str]
) -> list[list[list[int]]]:
    """Files grouped by ``digest`` of their content (one that cannot be read: alone)."""
    groups: dict[str, list[list[int]]] = {}
    for file in files:
        try:
            key = digest(videos[file[0]].path)
        except OSError:
            key = f"unreadable {file[0]}"
        groups.setdefault(key, []).append(file)
    return list(groups.values())


def ends_digest(path: Path) -> str:
    """SHA-256 of the first and the last :data:`SAMPLE_BYTES` of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        digest.update(file.read(SAMPLE_BYTES))
        size = file.seek(0, os.SEEK_END)
        file.seek(max(0, size - SAMPLE_BYTES))
        digest.update(file.read(SAMPLE_BYTES))
    return digest.hexdigest()


def _digest(path: Path) -> str:
    """SHA-256 of a whole file."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(SAMPLE_BYTES * 4):
            digest.update(chunk)
    return digest.hexdigest()


def ripped_once(videos: Sequence[V], held: Collection[str], warn: Callable[[str], None]) -> list[V]:
    """``videos`` but the copies of another (:func:`unique_videos`), each copy dropped
    warned about (one line naming both files)."""
    kept, duplicates = unique_videos(videos, held)
    for duplicate in duplicates:
        warn(duplicate.line())
    return kept
