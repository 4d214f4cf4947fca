"""Scoring a ``rip`` manifest against the turned-faces clip (:mod:`faceripper.testing.turned`):
per pose, the HOG-lost faces of referenced people saved under the right label, wrong
labels, crops on strangers and on no face, and why each lost face was lost.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceripper.testing.poses import best_iou
from faceripper.testing.scenes import Box
from faceripper.testing.truth import Truth, TruthRow, evaluate
from faceripper.testing.turned import PoseRow, Turned

# Evaluation
# --------------------------------------------------------------------------------------

#: Why a referenced person's HOG-lost face was not saved, first cause that applies
#: (:func:`loss_cause`), in report order.
LOSS_CAUSES = (
    "CNN misses it",
    "encoding over 0.65 from the face's HOG faces",
    "no HOG face of the appearance saved (no decided track)",
    "before the track's first saved HOG face, within 15 frames of it",
    "before the track's first saved HOG face, further back",
    "after a saved HOG face, fewer than 2 encoded (undecided when lost)",
    "after a saved HOG face, more than 4 s later",
    "after a decided track, not followed (other rule)",
)


@dataclass(frozen=True)
class TurnedMetrics:
    """A ``rip`` manifest scored against the clip.

    Attributes:
        base: the ordinary :class:`~faceripper.testing.truth.Metrics` (precision, frame
            recall, crops on strangers, crops on no face).
        lost: per pose, referenced people's HOG-lost faces (not in a crossfade).
        lost_saved: per pose, those saved under the right label.
        lost_wrong: per pose, those saved under another label.
        hog_faces, hog_saved: per pose, referenced people's HOG-found faces and those
            saved right.
        detectors: saved crops per manifest ``detector`` value.
        lost_detectors: HOG-lost faces saved right, per ``detector``.
        on_replaced: crops on a stranger who took a person's place.
        losses: HOG-lost faces not saved, per :data:`LOSS_CAUSES` entry.
    """

    base: Any
    lost: dict[str, int]
    lost_saved: dict[str, int]
    lost_wrong: dict[str, int]
    hog_faces: dict[str, int]
    hog_saved: dict[str, int]
    detectors: dict[str, int]
    lost_detectors: dict[str, int]
    on_replaced: int
    losses: dict[str, int]

    def lost_ratio(self) -> float:
        """HOG-lost faces saved right over all of them."""
        total = sum(self.lost.values())
        return sum(self.lost_saved.values()) / total if total else 0.0


def match_rows(
    manifest_rows: Iterable[Mapping[str, Any]], truth: Truth, iou_threshold: float = 0.4
) -> list[tuple[Mapping[str, Any], TruthRow | None]]:
    """Each saved manifest row with the truth face it matches, as
    :func:`~faceripper.testing.truth.evaluate` matches it (the face of its frame with
    the highest IoU, at least ``iou_threshold``), or None."""
    out: list[tuple[Mapping[str, Any], TruthRow | None]] = []
    for record in manifest_rows:
        if str(record["status"]) != "saved":
            continue
        box: Box = tuple(int(record[k]) for k in ("top", "right", "bottom", "left"))  # type: ignore[assignment]
        candidates = truth.in_frame(int(record["frame"]))
        overlap, best = best_iou(
            box, np.array([c.box for c in candidates], dtype=np.int64).reshape(-1, 4)
        )
        out.append((record, candidates[best] if overlap >= iou_threshold else None))
    return out


def loss_cause(
    row: PoseRow,
    saved_hog: Sequence[tuple[int, bool]],
    fps: float,
    back_frames: int = 15,
    max_s: float = 4.0,
    same_face: float = 0.65,
) -> str:
    """The first of :data:`LOSS_CAUSES` that explains an unsaved HOG-lost face.

    Args:
        row: the face.
        saved_hog: ``(frame, encoded)`` of the crops ``rip`` saved right from HOG in
            the face's appearance.
    """
    if row.cnn_score <= 0:
        return LOSS_CAUSES[0]
    if not math.isnan(row.own_distance) and row.own_distance > same_face:
        return LOSS_CAUSES[1]
    if not saved_hog:
        return LOSS_CAUSES[2]
    before = [(f, e) for f, e in saved_hog if f < row.frame]
    if not before:
        first = min(f for f, _ in saved_hog)
        return LOSS_CAUSES[3] if first - row.frame <= back_frames else LOSS_CAUSES[4]
    if sum(e for _, e in before) < 2:
        return LOSS_CAUSES[5]
    if (row.frame - max(f for f, _ in before)) / fps > max_s:
        return LOSS_CAUSES[6]
    return LOSS_CAUSES[7]


def evaluate_turned(
    manifest_rows: Sequence[Mapping[str, Any]],
    turned: Turned,
    min_size_px: int = 80,
    fps: float = 30.0,
) -> TurnedMetrics:
    """Score a ``rip`` manifest (rows as ``csv.DictReader`` reads them) against the clip."""
    base = evaluate(manifest_rows, turned.truth, turned.label_to_identity, min_size_px)
    labels = turned.label_to_identity
    right: dict[tuple[int, int], str] = {}
    wrong: set[tuple[int, int]] = set()
    detectors: Counter[str] = Counter()
    saved_hog: dict[int, list[tuple[int, bool]]] = {}
    replaced_apps = _replaced_appearances(turned)
    on_replaced = 0
    for record, face in match_rows(manifest_rows, turned.truth):
        detector = str(record.get("detector") or "hog")
        detectors[detector] += 1
        if face is None:
            continue
        key = (face.frame, face.appearance)
        on_replaced += face.appearance in replaced_apps
        if labels.get(str(record["label"])) == face.identity:
            right.setdefault(key, detector)
            if detector == "hog":
                encoded = str(record.get("encoded", "1")) in ("1", "True", "true")
                saved_hog.setdefault(face.appearance, []).append((face.frame, encoded))
        else:
            wrong.add(key)
    lost: Counter[str] = Counter()
    lost_saved: Counter[str] = Counter()
    lost_wrong: Counter[str] = Counter()
    hog_faces: Counter[str] = Counter()
    hog_saved: Counter[str] = Counter()
    lost_detectors: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    for row in turned.poses:
        if not row.is_target or row.fading:
            continue
        key = (row.frame, row.appearance)
        if row.hog:
            hog_faces[row.pose] += 1
            hog_saved[row.pose] += key in right
            continue
        lost[row.pose] += 1
        lost_wrong[row.pose] += key in wrong
        if key in right:
            lost_saved[row.pose] += 1
            lost_detectors[right[key]] += 1
        else:
            losses[loss_cause(row, saved_hog.get(row.appearance, ()), fps)] += 1
    return TurnedMetrics(
        base, dict(lost), dict(lost_saved), dict(lost_wrong), dict(hog_faces), dict(hog_saved),
        dict(detectors), dict(lost_detectors), on_replaced, dict(losses),
    )  # fmt: skip


def _replaced_appearances(turned: Turned) -> set[int]:
    """Appearances of strangers who are alone in their shot (the replacements)."""
    per_frame: Counter[int] = Counter(r.frame for r in turned.poses)
    return {r.appearance for r in turned.poses if not r.is_target and per_frame[r.frame] == 1}
