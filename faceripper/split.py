"""Train/validation/test splits of a dataset without leaks: ``faceripper split``.

Consecutive frames of one face track are near copies: a split that scatters them puts
the same face in training and test and the test accuracy lies. :func:`split_dataset`
therefore splits *groups* of crops, never single crops:

- ``group_by="track"`` (default): one group per face track, as the manifest's ``track``
  column names it, and tracks joined when the same person's box goes on at the same
  place within :data:`JOIN_GAP_S` seconds of the same video (a track cut where every
  track ends every 300 looked-at frames, or crops written with ``rip --no-tracks``, are
  one group);
- ``group_by="video"``: one group per video, whoever it shows: no video has crops in two
  splits.

Each label's crops are divided between the splits as near the asked fractions as its
groups allow (:func:`assign_groups`): groups are taken in a seeded random order, the
largest first within each size class, each going to the split where it brings the
fractions nearest their targets. The same manifest, options and seed always give the
same split.

The split is written beside the dataset, never inside it::

    SPLIT_DIR/train/<class folder>/<crop>.jpg   hard links (or symlinks, or copies)
    SPLIT_DIR/val/<class folder>/...
    SPLIT_DIR/test/<class folder>/...
    SPLIT_DIR/splits.csv                        the manifest rows kept, with their split

the layout torchvision's ``ImageFolder`` and Keras' ``image_dataset_from_directory``
read. Every class folder is created in every split, even empty, so that class indices
(sorted folder names) are the same in all three.

With ``max_per_label`` (and ``balance``) each label keeps at most that many crops before
splitting, chosen by :func:`choose_varied`: the sharpest crop of every track of every
video first, then the second sharpest of each, and so on.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from faceripper.errors import UsageError
from faceripper.fileio import atomic_write_bytes
from faceripper.geometry import iou
from faceripper.manifest import MANIFEST_COLUMNS, dataset_manifest, folder_of, saved_rows
from faceripper.words import counted
from faceripper.writer import inside

GroupBy = Literal["track", "video"]
LinkMode = Literal["hardlink", "symlink", "copy"]

#: The splits, in order; two fractions give ``train`` and ``val`` only.
SPLIT_NAMES = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
#: The split's own listing in ``SPLIT_DIR``.
SPLITS_CSV = "splits.csv"
#: Two tracks of one person and video whose boxes overlap (IoU at least
#: :data:`JOIN_IOU`) within this many seconds are one group.
JOIN_GAP_S = 5.0
JOIN_IOU = 0.3
#: The columns ``splits.csv`` adds to the manifest's.
SPLIT_COLUMNS = ("split", "split_group")


@dataclass(frozen=True)
class LabelSplit:
    """How one class folder was split.

    Attributes:
        folder: the class folder (its name in ``T`` and in each split).
        label: the manifest's label of its crops.
        crops: its saved crops in the manifest whose file exists.
        groups: the groups they form.
        kept: the crops split (``crops`` less those over ``max_per_label``).
        counts: crops per split name, in :data:`SPLIT_NAMES` order.
        group_counts: groups per split name.
    """

    folder: str
    label: str
    crops: int
    groups: int
    kept: int
    counts: dict[str, int]
    group_counts: dict[str, int]

    def fraction(self, split: str) -> float:
        """The share of the kept crops in ``split`` (NaN when none is kept)."""
        return self.counts.get(split, 0) / self.kept if self.kept else math.nan


@dataclass
class SplitReport:
    """What :func:`split_dataset` wrote."""

    out_dir: Path
    splits: tuple[str, ...]
    fractions: tuple[float, ...]
    labels: list[LabelSplit]
    #: Manifest rows of saved crops whose file is gone (deleted by hand: not split).
    missing: int = 0
    #: The row of every crop split: its manifest columns plus ``split`` and ``split_group``.
    rows: list[dict[str, str]] = field(default_factory=list)
    #: Groups of ``group_by="video"`` holding crops of more than one label.
    shared_groups: int = 0

    @property
    def total(self) -> dict[str, int]:
        """Crops per split, all labels together."""
        return {s: sum(label.counts.get(s, 0) for label in self.labels) for s in self.splits}

    def empty_folders(self) -> list[str]:
        """``split/folder`` of every class folder left empty (too few groups)."""
        return [
            f"{s}/{label.folder}"
            for label in self.labels
            for s, share in zip(self.splits, self.fractions, strict=True)
            if share > 0 and label.counts.get(s, 0) == 0
        ]


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.8,0.1,0.1"`` -> ``(0.8, 0.1, 0.1)``: train, val and (optionally) test.

    >>> parse_fractions("0.7, 0.3")
    (0.7, 0.3)

    Raises:
        UsageError: not 2 or 3 numbers, a negative one, a zero train share, or a sum
            other than 1.
    """
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(
            f"--fractions {text!r}: give 2 or 3 numbers separated by commas, e.g. 0.8,0.1,0.1"
        ) from None
    if len(values) not in (2, 3):
        raise UsageError(
            f"--fractions {text!r}: give 2 (train, val) or 3 (train, val, test) numbers"
        )
    if any(not math.isfinite(v) or v < 0 for v in values):
        raise UsageError(f"--fractions {text!r}: fractions must be 0 or more")
    if values[0] <= 0:
        raise UsageError(f"--fractions {text!r}: the train fraction must be more than 0")
    if abs(sum(values) - 1.0) > 1e-6:
        raise UsageError(f"--fractions {text!r}: the fractions add up to {sum(values):g}, not 1")
    return values


class _Groups:
    """Union-find over row indices."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _box(row: dict[str, str]) -> np.ndarray:
    return np.array(
        [[int(row["top"]), int(row["right"]), int(row["bottom"]), int(row["left"])]],
        dtype=np.int64,
    )


def _time(row: dict[str, str]) -> float:
    try:
        return float(row["time_s"])
    except ValueError:
        return float(row["frame"])


def group_rows(rows: Sequence[dict[str, str]], group_by: GroupBy = "track") -> list[str]:
    """The group name of each row (its video, or its joined track: see the module doc).

    A group name is the video key, then for ``"track"`` ``#`` and the first row's frame
    and face: ``clip.avi#f0000031.1``.

    >>> rows = [dict(video="v", label="a", track="0.0", frame=str(f), time_s=str(f / 10),
    ...              face="0", top="0", right="10", bottom="10", left="0")
    ...         for f in (0, 1, 40)]
    >>> rows[2]["track"] = "40.0"  # 3.9 s later, at the same place
    >>> group_rows(rows)
    ['v#f0000000.0', 'v#f0000000.0', 'v#f0000000.0']
    >>> group_rows(rows, "video")
    ['v', 'v', 'v']
    """
    if group_by == "video":
        return [row["video"] for row in rows]
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i]["video"], rows[i]["label"], int(rows[i]["frame"]), i),
    )
    groups = _Groups(len(rows))
    first_of_track: dict[tuple[str, str, str], int] = {}
    recent: dict[tuple[str, str], list[int]] = defaultdict(list)  # last row of each chain
    for i in order:
        row = rows[i]
        key = (row["video"], row["label"])
        track = row.get("track") or ""
        if track:
            mate = first_of_track.setdefault((*key, track), i)
            groups.join(mate, i)
        now = _time(row)
        alive = [j for j in recent[key] if now - _time(rows[j]) <= JOIN_GAP_S]
        if alive:
            overlap = iou(np.concatenate([_box(rows[j]) for j in alive]), _box(row))[:, 0]
            for j, value in zip(alive, overlap, strict=True):
                if value >= JOIN_IOU and int(rows[j]["frame"]) < int(row["frame"]):
                    groups.join(j, i)
        # keep one row per chain: the latest
        roots = {groups.find(j): j for j in alive}
        roots[groups.find(i)] = i
        recent[key] = list(roots.values())
    names: list[str] = []
    for i in range(len(rows)):
        first = rows[groups.find(i)]
        names.append(f"{first['video']}#f{int(first['frame']):07d}.{first.get('face') or 0}")
    return names


def assign_groups(
    sizes: dict[str, Counter[str]], fractions: Sequence[float], seed: int
) -> dict[str, int]:
    """The split index of each group: per label, as near ``fractions`` as groups allow.

    Args:
        sizes: each group's crops per label (a track group has one label; a video group
            may have several).
        fractions: the wanted share of each split, adding up to 1.
        seed: the random order in which groups are taken.

    Groups are shuffled with ``seed`` (from their sorted names), then taken largest
    first by size class (powers of two) and given, one by one, to the split that brings
    the squared error of every label's fractions down the most; ties go to the earlier
    split. Labels weigh equally whatever their size.

    >>> sizes = {f"g{i}": Counter(a=10) for i in range(10)}
    >>> sorted(Counter(assign_groups(sizes, (0.8, 0.1, 0.1), seed=1).values()).items())
    [(0, 8), (1, 1), (2, 1)]
    """
    labels = sorted({label for counts in sizes.values() for label in counts})
    totals = Counter[str]()
    for counts in sizes.values():
        totals.update(counts)
    target = {label: [totals[label] * f for f in fractions] for label in labels}
    current = {label: [0.0] * len(fractions) for label in labels}
    names = sorted(sizes)
    random.Random(seed).shuffle(names)
    names.sort(key=lambda g: -int(math.log2(max(1, sum(sizes[g].values())))))
    chosen: dict[str, int] = {}
    for name in names:
        best, best_cost = 0, math.inf
        for k, share in enumerate(fractions):
            if share <= 0:
                continue
            cost = 0.0
            for label, n in sizes[name].items():
                scale = totals[label]
                now = current[label][k] - target[label][k]
                cost += ((now + n) ** 2 - now**2) / scale**2
            if cost < best_cost - 1e-12:
                best, best_cost = k, cost
        chosen[name] = best
        for label, n in sizes[name].items():
            current[label][best] += n
    return chosen


def _sharpness(row: dict[str, str]) -> float:
    try:
        return float(row["sharpness"])
    except ValueError:
        return 0.0


def choose_varied(rows: Sequence[dict[str, str]], groups: Sequence[str], limit: int) -> list[int]:
    """Indices of at most ``limit`` rows: the sharpest and most varied, not the first.

    Rows are ranked by their sharpness rank within their group (the sharpest crop of
    each group first), then by their group's rank within its video (groups ordered by
    their sharpest crop), then by video, so that every video and every group gives its
    best crop before any gives its second. Returned in the rows' order.

    >>> rows = [dict(video=v, sharpness=s) for v, s in
    ...         [("a", "10"), ("a", "90"), ("a", "50"), ("b", "20")]]
    >>> choose_varied(rows, ["a1", "a1", "a2", "b1"], 3)
    [1, 2, 3]
    """
    if limit >= len(rows):
        return list(range(len(rows)))
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        by_group[group].append(i)
    rank_in_group: dict[int, int] = {}
    best_of: dict[str, float] = {}
    for group, members in by_group.items():
        members.sort(key=lambda i: (-_sharpness(rows[i]), i))
        for rank, i in enumerate(members):
            rank_in_group[i] = rank
        best_of[group] = _sharpness(rows[members[0]])
    by_video: dict[str, list[str]] = defaultdict(list)
    for group, members in by_group.items():
        by_video[rows[members[0]]["video"]].append(group)
    rank_of_group: dict[str, int] = {}
    for names in by_video.values():
        names.sort(key=lambda g: (-best_of[g], g))
        for rank, group in enumerate(names):
            rank_of_group[group] = rank
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            rank_in_group[i],
            rank_of_group[groups[i]],
            -_sharpness(rows[i]),
            rows[i]["video"],
            i,
        ),
    )
    return sorted(order[:limit])


def _check_out_dir(target: Path, out_dir: Path) -> None:
    if inside(target, out_dir):
        raise UsageError(
            f"{out_dir}: the split must go outside the dataset {target}: dataset loaders "
            "would take its folders as classes or walk into them"
        )
    if inside(out_dir, target):
        raise UsageError(f"{out_dir}: the split folder must not contain the dataset {target}")
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / SPLITS_CSV).is_file():
        raise UsageError(
            f"{out_dir}: the folder is not empty and holds no {SPLITS_CSV}: "
            "choose an empty or new folder for the split"
        )


def _place(source: Path, destination: Path, link: LinkMode) -> None:
    if link == "hardlink":
        try:
            os.link(source, destination)
        except OSError as exc:
            raise UsageError(
                f"{destination}: cannot hard-link {source} ({exc.strerror or exc}); "
                "use --link symlink or --link copy (another file system?)"
            ) from None
    elif link == "symlink":
        destination.symlink_to(source.resolve())
    else:
        shutil.copy2(source, destination)


def _rows_csv(rows: Iterable[dict[str, str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer,
        fieldnames=[*MANIFEST_COLUMNS, *SPLIT_COLUMNS],
        lineterminator="\n",
        restval="",
        extrasaction="ignore",
    )
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def split_dataset(
    target: Path,
    out_dir: Path,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seed: int = 0,
    group_by: GroupBy = "track",
    link: LinkMode = "hardlink",
    max_per_label: int = 0,
    balance: bool = False,
) -> SplitReport:
    """Write a leak-free train/val(/test) split of the dataset ``target`` to ``out_dir``.

    Args:
        target: a dataset written by ``rip`` (it holds ``manifest.csv``). It is only read.
        out_dir: the split's folder, outside ``target``: new, empty, or an earlier split
            (which is replaced).
        fractions: train, val and optionally test shares (:func:`parse_fractions`).
        seed: the random order of the groups; the same seed gives the same split.
        group_by: ``"track"`` or ``"video"``: what never straddles two splits.
        link: how the split's files point at the crops: ``"hardlink"`` (no space, same
            file system only), ``"symlink"`` (absolute links) or ``"copy"``.
        max_per_label: keep at most this many crops per class folder (0: all), chosen by
            :func:`choose_varied`.
        balance: keep, per class folder, at most as many crops as the smallest one has
            (after ``max_per_label``).

    Returns:
        The report: per-label counts per split.

    Raises:
        UsageError: ``target`` or its manifest is missing, ``out_dir`` is inside
            ``target`` (or holds it, or holds other files), bad fractions, or a link
            cannot be made.
    """
    manifest = dataset_manifest(target)
    fractions = tuple(fractions)
    parse_fractions(",".join(repr(f) for f in fractions))
    if max_per_label < 0:
        raise UsageError(f"--max-per-label must be 0 or more, got {max_per_label}")
    if group_by not in ("track", "video"):
        raise UsageError(f"--group-by {group_by!r}: use track or video")
    _check_out_dir(target, out_dir)
    rows, lost = saved_rows(target, manifest)
    missing = len(lost)
    names = group_rows(rows, group_by)
    for row, name in zip(rows, names, strict=True):
        row["split_group"] = name
    by_folder, kept = _keep(rows, names, max_per_label, balance)
    sizes: dict[str, Counter[str]] = defaultdict(Counter)
    for i in kept:
        sizes[names[i]][folder_of(rows[i]["path"]) or ""] += 1
    where = assign_groups(sizes, fractions, seed)
    splits = SPLIT_NAMES[: len(fractions)]
    out_rows = []
    for i in kept:
        rows[i]["split"] = splits[where[names[i]]]
        out_rows.append(rows[i])
    report = SplitReport(out_dir, splits, fractions, [], missing, out_rows)
    report.shared_groups = sum(1 for counts in sizes.values() if len(counts) > 1)
    report.labels = _label_splits(rows, names, by_folder, splits)
    _write(target, out_dir, report, link)
    return report


def _keep(
    rows: list[dict[str, str]], names: list[str], max_per_label: int, balance: bool
) -> tuple[dict[str, list[int]], list[int]]:
    """The row indices per class folder, and the indices kept (in order) after
    ``max_per_label`` and ``balance`` (:func:`choose_varied` per folder)."""
    # Balance: choose the crops kept per class folder.
    by_folder: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_folder[folder_of(row["path"]) or ""].append(i)
    limit = max_per_label or max((len(v) for v in by_folder.values()), default=0)
    if balance and by_folder:
        limit = min(limit, min(len(v) for v in by_folder.values()))
    kept: list[int] = []
    for members in by_folder.values():
        chosen = choose_varied([rows[i] for i in members], [names[i] for i in members], limit)
        kept += [members[c] for c in chosen]
    kept.sort()
    return by_folder, kept


def _label_splits(
    rows: list[dict[str, str]],
    names: list[str],
    by_folder: dict[str, list[int]],
    splits: Sequence[str],
) -> list[LabelSplit]:
    """Per class folder (sorted): crops, groups, and the kept ones per split."""
    labels = []
    for folder in sorted(by_folder):
        members = by_folder[folder]
        mine = [rows[i] for i in members if "split" in rows[i]]
        counts = Counter(r["split"] for r in mine)
        group_sets: dict[str, set[str]] = defaultdict(set)
        for r in mine:
            group_sets[r["split"]].add(r["split_group"])
        labels.append(
            LabelSplit(
                folder=folder,
                label=rows[members[0]]["label"],
                crops=len(members),
                groups=len({names[i] for i in members}),
                kept=len(mine),
                counts={s: counts.get(s, 0) for s in splits},
                group_counts={s: len(group_sets.get(s, ())) for s in splits},
            )
        )
    return labels


def _write(target: Path, out_dir: Path, report: SplitReport, link: LinkMode) -> None:
    """Build the split in a hidden folder beside ``out_dir``, then swap it in."""
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        building = parent / f".{out_dir.name}.building-{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the split folder ({exc})") from None
    try:
        for split, share in zip(report.splits, report.fractions, strict=True):
            if share <= 0:
                continue
            for label in report.labels:
                (building / split / label.folder).mkdir(parents=True, exist_ok=True)
        for row in report.rows:
            source = target / row["path"]
            _place(source, building / row["split"] / row["path"], link)
        atomic_write_bytes(building / SPLITS_CSV, _rows_csv(report.rows))
        old = parent / f".{out_dir.name}.old-{os.getpid()}"
        if out_dir.exists():
            out_dir.rename(old)
        building.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


def read_splits(out_dir: Path) -> list[dict[str, str]]:
    """The rows of a split's ``splits.csv``."""
    with (out_dir / SPLITS_CSV).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def describe(report: SplitReport) -> list[str]:
    """Lines for the command line: one per class folder, then the totals."""
    lines = []
    for label in report.labels:
        parts = ", ".join(
            f"{s} {label.counts[s]} ({counted(label.group_counts[s], 'group')})"
            for s in report.splits
        )
        capped = f", {label.crops - label.kept} over the cap" if label.kept < label.crops else ""
        lines.append(
            f"{label.folder}: {counted(label.kept, 'crop')} in {counted(label.groups, 'group')}: "
            f"{parts}{capped}"
        )
    total = report.total
    lines.append(
        f"{report.out_dir}: " + ", ".join(f"{s} {total[s]}" for s in report.splits) + " crops"
    )
    return lines
