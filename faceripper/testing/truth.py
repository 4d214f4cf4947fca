"""The truth of a ground-truth video: every face in every frame (:class:`TruthRow`),
its CSV, and the scoring of an extraction against it (:func:`evaluate`)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceripper.geometry import as_boxes, iou
from faceripper.testing.scenes import Box

#: Columns of the truth CSV, in order.
TRUTH_COLUMNS = (
    "frame",
    "time_s",
    "shot",
    "appearance",
    "identity",
    "is_target",
    "top",
    "right",
    "bottom",
    "left",
    "size_px",
    "blur_sigma_px",
)


@dataclass(frozen=True)
class TruthRow:
    """One face in one frame of a synthetic video: one row of the truth CSV.

    Attributes:
        frame: 0-based frame index in the video.
        time_s: ``frame / fps``, rounded to microseconds.
        shot: 0-based shot index.
        appearance: 0-based id of one face (one person) through one shot, unique in
            the video.
        identity: the person (the source photo's identity).
        is_target: target person or distractor.
        top, right, bottom, left: the face box in frame pixels, clipped to the frame.
        size_px: the face size (box height) as drawn, before clipping, rounded.
        blur_sigma_px: the Gaussian sigma applied, in frame pixels (0 for sharp).
    """

    frame: int
    time_s: float
    shot: int
    appearance: int
    identity: str
    is_target: bool
    top: int
    right: int
    bottom: int
    left: int
    size_px: int
    blur_sigma_px: float

    @property
    def box(self) -> Box:
        """``(top, right, bottom, left)``."""
        return (self.top, self.right, self.bottom, self.left)


@dataclass(frozen=True)
class Truth:
    """Every face of every frame of a synthetic video.

    Attributes:
        rows: one :class:`TruthRow` per face per frame, ordered by frame.
    """

    rows: tuple[TruthRow, ...]
    _by_frame: dict[int, tuple[TruthRow, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        groups: dict[int, list[TruthRow]] = {}
        for row in self.rows:
            groups.setdefault(row.frame, []).append(row)
        object.__setattr__(self, "_by_frame", {k: tuple(v) for k, v in groups.items()})

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[TruthRow]:
        return iter(self.rows)

    def in_frame(self, frame: int) -> tuple[TruthRow, ...]:
        """The faces of one frame (empty when it has none)."""
        return self._by_frame.get(frame, ())

    def identity_at(
        self, frame: int, box_trbl: tuple[int, int, int, int], iou_threshold: float = 0.4
    ) -> str:
        """Whose face ``box_trbl`` (top, right, bottom, left) is in ``frame``: the face it
        overlaps most, if by at least ``iou_threshold``; ``""`` for none."""
        faces = self.in_frame(frame)
        if not faces:
            return ""
        overlaps = iou(as_boxes([box_trbl]), as_boxes([f.box for f in faces]))[0]
        best = int(np.argmax(overlaps))
        return faces[best].identity if overlaps[best] >= iou_threshold else ""

    def write_csv(self, path: Path) -> None:
        """Write the rows as CSV with the header :data:`TRUTH_COLUMNS`."""
        with Path(path).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(TRUTH_COLUMNS)
            for row in self.rows:
                values = asdict(row)
                values["is_target"] = int(row.is_target)
                writer.writerow([values[c] for c in TRUTH_COLUMNS])


def truth_path(video_path: Path | str) -> Path:
    """The truth CSV beside a video: ``clip.avi`` -> ``clip.avi.truth.csv``."""
    video_path = Path(video_path)
    return video_path.with_name(video_path.name + ".truth.csv")


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def load_truth(csv_path: Path | str) -> Truth:
    """Read a truth CSV written by :func:`render_video` (or :meth:`Truth.write_csv`)."""
    rows = []
    with Path(csv_path).open(newline="", encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            rows.append(
                TruthRow(
                    frame=int(record["frame"]),
                    time_s=float(record["time_s"]),
                    shot=int(record["shot"]),
                    appearance=int(record["appearance"]),
                    identity=record["identity"],
                    is_target=_parse_bool(record["is_target"]),
                    top=int(record["top"]),
                    right=int(record["right"]),
                    bottom=int(record["bottom"]),
                    left=int(record["left"]),
                    size_px=int(record["size_px"]),
                    blur_sigma_px=float(record["blur_sigma_px"]),
                )
            )
    return Truth(tuple(rows))


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    """How an extraction's manifest compares with the truth.

    A saved row *matches* the truth face of its frame with the highest IoU, if that is
    at least the threshold. Ratios with a zero denominator are 0.0.

    Attributes:
        saved: manifest rows with status ``"saved"``.
        blurry_rows: manifest rows with status ``"blurry"`` (not scored).
        correct: saved rows matching a face of the identity their label maps to.
        wrong_identity: saved rows matching a face of another identity (a distractor,
            another target, or a label missing from the map).
        unmatched: saved rows matching no truth face.
        on_distractor: saved rows matching a distractor face.
        on_blurred: saved rows matching a blurred face.
        on_small: saved rows matching a face below ``min_size_px``.
        duplicates: saved rows matching a face an earlier row already matched.
        precision: ``correct / saved``.
        eligible_faces: truth faces that are targets, sharp and at least
            ``min_size_px``.
        eligible_found: eligible faces with at least one correct row.
        recall: ``eligible_found / eligible_faces`` (frame recall).
        target_faces: all truth target faces.
        target_found: target faces with at least one correct row.
        recall_all_targets: ``target_found / target_faces``.
        eligible_appearances: target appearances with at least one eligible face.
        appearances_found: those of them with at least one correct row in any frame.
        appearance_coverage: ``appearances_found / eligible_appearances``.
        min_size_px: the minimum size used.
        iou_threshold: the IoU threshold used.
    """

    saved: int
    blurry_rows: int
    correct: int
    wrong_identity: int
    unmatched: int
    on_distractor: int
    on_blurred: int
    on_small: int
    duplicates: int
    precision: float
    eligible_faces: int
    eligible_found: int
    recall: float
    target_faces: int
    target_found: int
    recall_all_targets: float
    eligible_appearances: int
    appearances_found: int
    appearance_coverage: float
    min_size_px: int
    iou_threshold: float

    def as_dict(self) -> dict[str, int | float]:
        """The metrics as a plain dict (JSON-serialisable)."""
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def evaluate(
    manifest_rows: Iterable[Mapping[str, Any]],
    truth: Truth,
    label_to_identity: Mapping[str, str],
    min_size_px: int,
    iou_threshold: float = 0.4,
) -> Metrics:
    """Score an extraction's manifest against the truth of its synthetic video.

    Args:
        manifest_rows: dicts (values may be strings, as read by ``csv.DictReader``) with
            at least ``frame`` (0-based), ``top``, ``right``, ``bottom``, ``left``,
            ``label`` and ``status`` (``"saved"`` or ``"blurry"``; others are ignored).
        truth: the video's truth.
        label_to_identity: the extraction's person label -> truth identity.
        min_size_px: faces smaller than this (``size_px``) are not expected to be saved.
        iou_threshold: least IoU for a row to match a truth face.

    Returns:
        The :class:`Metrics`.
    """
    counts = dict.fromkeys(
        (
            "saved",
            "blurry_rows",
            "correct",
            "wrong_identity",
            "unmatched",
            "on_distractor",
            "on_blurred",
            "on_small",
            "duplicates",
        ),
        0,
    )
    matched: set[TruthRow] = set()
    found: set[TruthRow] = set()
    for record in manifest_rows:
        status = str(record["status"])
        if status == "blurry":
            counts["blurry_rows"] += 1
        if status != "saved":
            continue
        counts["saved"] += 1
        candidates = truth.in_frame(int(record["frame"]))
        box = as_boxes([[int(record[k]) for k in ("top", "right", "bottom", "left")]])
        if not candidates:
            counts["unmatched"] += 1
            continue
        overlaps = iou(box, as_boxes([c.box for c in candidates]))[0]
        best = int(np.argmax(overlaps))
        if overlaps[best] < iou_threshold:
            counts["unmatched"] += 1
            continue
        face = candidates[best]
        if face in matched:
            counts["duplicates"] += 1
        matched.add(face)
        counts["on_distractor"] += int(not face.is_target)
        counts["on_blurred"] += int(face.blur_sigma_px > 0)
        counts["on_small"] += int(face.size_px < min_size_px)
        if label_to_identity.get(str(record["label"])) == face.identity:
            counts["correct"] += 1
            found.add(face)
        else:
            counts["wrong_identity"] += 1

    targets = [row for row in truth if row.is_target]
    eligible = [r for r in targets if r.blur_sigma_px == 0 and r.size_px >= min_size_px]
    eligible_apps = {r.appearance for r in eligible}
    found_apps = {r.appearance for r in found if r.is_target} & eligible_apps
    eligible_found = sum(r in found for r in eligible)
    target_found = sum(r in found for r in targets)
    return Metrics(
        **counts,
        precision=_ratio(counts["correct"], counts["saved"]),
        eligible_faces=len(eligible),
        eligible_found=eligible_found,
        recall=_ratio(eligible_found, len(eligible)),
        target_faces=len(targets),
        target_found=target_found,
        recall_all_targets=_ratio(target_found, len(targets)),
        eligible_appearances=len(eligible_apps),
        appearances_found=len(found_apps),
        appearance_coverage=_ratio(len(found_apps), len(eligible_apps)),
        min_size_px=int(min_size_px),
        iou_threshold=float(iou_threshold),
    )
