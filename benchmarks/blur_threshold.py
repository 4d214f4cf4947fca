"""Measure ``faceripper.blur.sharpness`` on real faces and choose the ``--blur`` threshold.

Every face found (dlib HOG, upsample 1) in the photos of the shared test data is rendered
at several face sizes (the whole neighbourhood shrunk with area averaging, never enlarged
beyond the photo's native size, except the ``1000*`` row: faces of at least 380 px
enlarged bicubically, at most 2.6x, to check that very large faces score like large
ones), then degraded: a Gaussian blur whose sigma is a percentage of the face height, a
horizontal motion blur whose length is a percentage of the face height, each with and
without JPEG compression at quality 75 (video-like). Each version is scored on its face
box. The faces of the real Hamilton clip (640x360 video) are scored as they are.

Sharp means sigma 0; clearly blurred means a Gaussian sigma of at least 3% of the face
height. The threshold that best separates them at every size (lowest balanced error,
averaged over sizes) is reported, together with error rates at the current default.

Usage::

    .venv/bin/python benchmarks/blur_threshold.py [--testdata DIR] [--video-step N]

Prints a Markdown report to stdout (progress goes to stderr). Takes about a minute or two.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from faceripper.blur import DEFAULT_BLUR_THRESHOLD, NORMALISED_SIZE_PX, sharpness
from faceripper.detector import detect_faces
from faceripper.geometry import BoxArray, as_boxes
from faceripper.images import bgr_to_rgb, is_image_name, load_rgb

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Face sizes (box height, px) every face is rendered at, where its photo allows.
SIZES = (60, 80, 100, 150, 250, 400, 1000)
#: The size rendered by enlarging faces of at least this many px (and only that size).
ENLARGED_SIZE, ENLARGE_FROM_PX = 1000, 380
#: Gaussian blur sigmas, in % of the face height; >= CLEARLY_BLURRED_PCT is "clearly blurred".
GAUSS_PCT = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0)
CLEARLY_BLURRED_PCT = 3.0
#: Horizontal motion blur lengths, in % of the face height.
MOTION_PCT = (4.0, 8.0)
JPEG_QUALITY = 75
#: Reference size for the same-face consistency table.
REFERENCE_SIZE = 250
#: Thresholds shown in the sweep table (besides the suggestion and the default).
SWEEP = (5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 90.0, 120.0, 150.0, 200.0, 250.0)

Scorer = Callable[[npt.NDArray[np.uint8], BoxArray], npt.NDArray[np.float64]]


def legacy_sharpness_128(image: npt.NDArray[np.uint8], boxes: BoxArray) -> npt.NDArray[np.float64]:
    """The first normalisation, kept for comparison: the crop squashed to 128x128 gray."""
    scores = np.zeros(len(boxes))
    for i, (top, right, bottom, left) in enumerate(boxes):
        crop = image[max(top, 0) : bottom, max(left, 0) : right]
        if crop.shape[0] < 2 or crop.shape[1] < 2:
            continue
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        interpolation = cv2.INTER_AREA if gray.shape[0] > 128 else cv2.INTER_LINEAR
        square = cv2.resize(gray, (128, 128), interpolation=interpolation)
        scores[i] = float(cv2.Laplacian(square, cv2.CV_64F).var())
    return scores


SCORERS: dict[str, Scorer] = {"current": sharpness, "legacy128": legacy_sharpness_128}


@dataclass(frozen=True)
class Sample:
    """One scored version of one face."""

    face: int  # index of the source face
    source: str  # its photo, relative to the test data
    native_px: int  # the source face's box height in its photo
    size: int  # rendered face height
    kind: str  # "gauss" or "motion"
    pct: float  # sigma or length, % of the face height
    jpeg: bool
    scores: dict[str, float]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_testdata() -> Path:
    env = os.environ.get("FACERIPPER_TESTDATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "testdata"


def photo_faces(testdata: Path) -> Iterator[tuple[str, npt.NDArray[np.uint8], BoxArray]]:
    """Every photo of the test data with the faces HOG finds in it (upsample 1)."""
    for path in sorted(p for p in testdata.rglob("*") if p.is_file() and is_image_name(p)):
        image = load_rgb(path)
        boxes = detect_faces(image, upsample=1)
        if len(boxes):
            yield path.relative_to(testdata).as_posix(), image, boxes


def motion_blur(image: npt.NDArray[np.uint8], length_px: float) -> npt.NDArray[np.uint8]:
    """Horizontal motion blur: the mean over a line ``length_px`` long."""
    length = max(1, round(length_px))
    kernel = np.full((1, length), 1.0 / length, dtype=np.float32)
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def jpeg(image: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> npt.NDArray[np.uint8]:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)


def render(
    image: npt.NDArray[np.uint8], box: npt.NDArray[np.int64], size: int
) -> tuple[npt.NDArray[np.uint8], BoxArray]:
    """The face's neighbourhood resized so that the face box is ``size`` px high."""
    top, right, bottom, left = (int(v) for v in box)
    native = bottom - top
    margin = native // 2  # room for the blur kernels; the box stays inside
    y0, x0 = max(top - margin, 0), max(left - margin, 0)
    y1, x1 = min(bottom + margin, image.shape[0]), min(right + margin, image.shape[1])
    region = image[y0:y1, x0:x1]
    local = np.array([top - y0, right - x0, bottom - y0, left - x0], dtype=np.float64)
    factor = size / native
    if factor == 1.0:
        return np.ascontiguousarray(region), as_boxes([local.astype(np.int64)])
    new_w = max(1, round(region.shape[1] * factor))
    new_h = max(1, round(region.shape[0] * factor))
    interpolation = cv2.INTER_AREA if factor < 1.0 else cv2.INTER_CUBIC
    resized = cv2.resize(region, (new_w, new_h), interpolation=interpolation)
    return resized, as_boxes([np.rint(local * factor).astype(np.int64)])


DEGRADATIONS = tuple(("gauss", p) for p in GAUSS_PCT) + tuple(("motion", p) for p in MOTION_PCT)


def degrade(
    image: npt.NDArray[np.uint8], size: int, kind: str, pct: float
) -> npt.NDArray[np.uint8]:
    if pct == 0.0:
        return image
    if kind == "gauss":
        return cv2.GaussianBlur(image, (0, 0), pct / 100.0 * size, borderType=cv2.BORDER_REFLECT)
    return motion_blur(image, pct / 100.0 * size)


def measure_photos(
    photos: Iterable[tuple[str, npt.NDArray[np.uint8], BoxArray]],
) -> tuple[list[Sample], int]:
    """Every face of every photo, rendered, degraded and scored; and the photo count."""
    samples: list[Sample] = []
    face = n_photos = 0
    for source, image, boxes in photos:
        n_photos += 1
        for box in boxes:
            native = int(box[2] - box[0])
            for size in SIZES:
                enlarged = size == ENLARGED_SIZE and native >= ENLARGE_FROM_PX
                if size > native and not enlarged:
                    continue
                rendered, local = render(image, box, size)
                for kind, pct in DEGRADATIONS:
                    version = degrade(rendered, size, kind, pct)
                    for compressed in (False, True):
                        scored = jpeg(version) if compressed else version
                        scores = {k: float(f(scored, local)[0]) for k, f in SCORERS.items()}
                        samples.append(
                            Sample(face, source, native, size, kind, pct, compressed, scores)
                        )
            face += 1
    return samples, n_photos


def measure_video(video: Path, step: int) -> list[tuple[int, int, float]]:
    """(frame, face height, score) of every face HOG finds in every ``step``-th frame."""
    capture = cv2.VideoCapture(str(video))
    found = []
    index = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % step == 0:
                rgb = bgr_to_rgb(frame)
                boxes = detect_faces(rgb, upsample=1)
                for box, score in zip(boxes, sharpness(rgb, boxes), strict=True):
                    found.append((index, int(box[2] - box[0]), float(score)))
            index += 1
    finally:
        capture.release()
    return found


# ----------------------------------------------------------------------------- analysis


def fmt(value: float) -> str:
    """A score with about three significant digits."""
    if not math.isfinite(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{100 * value:.1f}%"


def size_label(size: int) -> str:
    return f"{size}*" if size == ENLARGED_SIZE else str(size)


def values(samples: Iterable[Sample], scorer: str = "current") -> npt.NDArray[np.float64]:
    return np.array([s.scores[scorer] for s in samples], dtype=np.float64)


def is_sharp(s: Sample) -> bool:
    return s.kind == "gauss" and s.pct == 0.0


def is_clearly_blurred(s: Sample) -> bool:
    return s.kind == "gauss" and s.pct >= CLEARLY_BLURRED_PCT


def by_size(samples: list[Sample]) -> dict[int, list[Sample]]:
    groups: dict[int, list[Sample]] = {}
    for s in samples:
        groups.setdefault(s.size, []).append(s)
    return dict(sorted(groups.items()))


def quantiles(x: npt.NDArray[np.float64], qs: Iterable[float]) -> list[float]:
    return [float(np.quantile(x, q)) if len(x) else math.nan for q in qs]


def error_rates(
    samples: list[Sample], threshold: float, scorer: str = "current"
) -> dict[int, tuple[float, float]]:
    """Per size: (fraction of sharp faces rejected, fraction of clearly blurred kept)."""
    rates = {}
    for size, group in by_size(samples).items():
        sharp = values([s for s in group if is_sharp(s)], scorer)
        blurred = values([s for s in group if is_clearly_blurred(s)], scorer)
        rates[size] = (float(np.mean(sharp < threshold)), float(np.mean(blurred >= threshold)))
    return rates


def balanced_error(rates: dict[int, tuple[float, float]]) -> float:
    return float(np.mean([(a + b) / 2 for a, b in rates.values()]))


def best_threshold(
    samples: list[Sample], scorer: str = "current"
) -> tuple[float, float, float, float]:
    """(suggested threshold, low and high end of the range of lowest balanced error, it)."""
    grid = np.geomspace(1.0, 2000.0, 400)
    errors = np.array([balanced_error(error_rates(samples, t, scorer)) for t in grid])
    best = errors.min()
    ok = np.flatnonzero(errors <= best + 0.0025)
    low, high = float(grid[ok[0]]), float(grid[ok[-1]])
    middle = math.sqrt(low * high)
    digits = -math.floor(math.log10(middle)) + 1  # two significant digits
    return round(middle, digits), low, high, float(best)


def blur_ratios(samples: list[Sample], scorer: str) -> dict[float, dict[int, float]]:
    """Geometric mean over faces of score(blurred) / score(sharp), per Gaussian pct and size.

    How much of its score a face keeps under a blur (no JPEG): the lower, the more
    sensitive the scorer is to that blur at that size.
    """
    sharp = {
        (s.face, s.size): s.scores[scorer]
        for s in samples
        if is_sharp(s) and not s.jpeg and s.scores[scorer] > 0
    }
    logs: dict[tuple[float, int], list[float]] = {}
    for s in samples:
        if s.kind == "gauss" and not s.jpeg and s.pct > 0 and (s.face, s.size) in sharp:
            value = s.scores[scorer]
            if value > 0:
                logs.setdefault((s.pct, s.size), []).append(
                    math.log(value / sharp[(s.face, s.size)])
                )
    return {
        p: {
            size: math.exp(float(np.mean(logs[(p, size)]))) if (p, size) in logs else math.nan
            for size in SIZES
        }
        for p in GAUSS_PCT
        if p > 0
    }


def same_face_ratios(samples: list[Sample], scorer: str) -> dict[float, dict[int, float]]:
    """Geometric mean over faces of score(size) / score(REFERENCE_SIZE), per Gaussian pct.

    Only faces rendered at REFERENCE_SIZE (native >= 250 px) and only without JPEG, so
    every row compares the same faces with themselves.
    """
    table: dict[tuple[int, float, int], float] = {}
    for s in samples:
        if s.kind == "gauss" and not s.jpeg:
            table[(s.face, s.pct, s.size)] = s.scores[scorer]
    result: dict[float, dict[int, float]] = {}
    for p in GAUSS_PCT:
        result[p] = {}
        for size in SIZES:
            logs = [
                math.log(table[(face, p, size)] / ref)
                for (face, q, ref_size), ref in table.items()
                if q == p
                and ref_size == REFERENCE_SIZE
                and (face, p, size) in table
                and ref > 0
                and table[(face, p, size)] > 0
            ]
            result[p][size] = math.exp(float(np.mean(logs))) if logs else math.nan
    return result


def time_per_face(scorer: Scorer) -> dict[int, float]:
    """Milliseconds per face of ``scorer`` on random-texture faces of a few sizes (best of 5)."""
    rng = np.random.default_rng(0)
    timings = {}
    for size in (60, 100, 250, 500, 1000):
        image = rng.integers(0, 256, (size + 40, size + 40, 3), dtype=np.uint8)
        boxes = as_boxes([[20, 20 + size, 20 + size, 20]] * 10)
        scorer(image, boxes)
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            scorer(image, boxes)
            best = min(best, time.perf_counter() - start)
        timings[size] = best / len(boxes) * 1000.0
    return timings


# ------------------------------------------------------------------------------- report


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(
    n_photos: int,
    samples: list[Sample],
    video: list[tuple[int, int, float]],
    video_step: int,
) -> str:
    out: list[str] = []
    add = out.append
    groups = by_size(samples)
    n_faces = len({s.face for s in samples})
    add("# Blur threshold for `faceripper.blur.sharpness`\n")
    add(
        f"Scorer: variance of the 3x3 Laplacian on the face box resampled to "
        f"{NORMALISED_SIZE_PX} px square, gray. {n_faces} faces from {n_photos} photos "
        f"(HOG, upsample 1). Sharp = Gaussian sigma 0; clearly blurred = Gaussian sigma "
        f">= {CLEARLY_BLURRED_PCT:g}% of the face height. Every version is scored with and "
        f"without JPEG q{JPEG_QUALITY}. `{ENLARGED_SIZE}*`: faces of at least "
        f"{ENLARGE_FROM_PX} px enlarged bicubically (every other size only shrinks).\n"
    )

    add("## Score distributions by face size\n")
    header = ["face px", "faces", "sharp p1", "p5", "p25", "p50", "σ1% p50", "σ2% p50",
              "σ2% p95", "blurred p50", "p95", "p99", "max", "motion 4% p50",
              "motion 8% p50"]  # fmt: skip
    rows = []
    for size, group in groups.items():
        sharp = values(s for s in group if is_sharp(s))
        blurred = values(s for s in group if is_clearly_blurred(s))
        mild1 = values(s for s in group if s.kind == "gauss" and s.pct == 1.0)
        mild2 = values(s for s in group if s.kind == "gauss" and s.pct == 2.0)
        motion4 = values(s for s in group if s.kind == "motion" and s.pct == 4.0)
        motion8 = values(s for s in group if s.kind == "motion" and s.pct == 8.0)
        rows.append(
            [size_label(size), str(len({s.face for s in group}))]
            + [fmt(v) for v in quantiles(sharp, (0.01, 0.05, 0.25, 0.5))]
            + [fmt(quantiles(mild1, [0.5])[0])]
            + [fmt(v) for v in quantiles(mild2, (0.5, 0.95))]
            + [fmt(v) for v in quantiles(blurred, (0.5, 0.95, 0.99, 1.0))]
            + [fmt(quantiles(motion4, [0.5])[0]), fmt(quantiles(motion8, [0.5])[0])]
        )
    add(table(header, rows) + "\n")

    add("## Same face, different sizes\n")
    add(
        f"Geometric mean, over the faces of at least {REFERENCE_SIZE} px, of each face's "
        f"score at a size divided by its score at {REFERENCE_SIZE} px (no JPEG). 1.00 = the "
        "size does not change the score. `current` is the scorer above; `legacy128` is the "
        "first normalisation (squashed to 128x128, bilinear enlargement), for comparison.\n"
    )
    for scorer in SCORERS:
        ratios = same_face_ratios(samples, scorer)
        header = [f"{scorer}: sigma"] + [size_label(size) for size in SIZES]
        rows = [[f"{p:g}%"] + [f"{ratios[p][size]:.2f}" for size in SIZES] for p in GAUSS_PCT]
        add(table(header, rows) + "\n")

    add("## Sensitivity: what a blur leaves of a face's score\n")
    add(
        "Geometric mean over all faces of score(blurred) / score(sharp) of the same face at "
        "the same size (no JPEG): the lower, the more that blur is noticed.\n"
    )
    for scorer in SCORERS:
        kept = blur_ratios(samples, scorer)
        header = [f"{scorer}: sigma"] + [size_label(size) for size in SIZES]
        rows = [[f"{p:g}%"] + [f"{kept[p][size]:.3f}" for size in SIZES] for p in kept]
        add(table(header, rows) + "\n")

    suggested, low, high, lowest = best_threshold(samples)
    add("## Threshold\n")
    add(
        f"Lowest balanced error (mean over sizes of (sharp rejected + clearly blurred kept) "
        f"/ 2), {100 * lowest:.2f}% (+0.25 points), for thresholds from {fmt(low)} to {fmt(high)}; "
        f"the geometric middle is "
        f"**{fmt(suggested)}**. The default in faceripper/blur.py is "
        f"**{fmt(DEFAULT_BLUR_THRESHOLD)}**.\n"
    )
    thresholds = sorted({*SWEEP, suggested, DEFAULT_BLUR_THRESHOLD})
    header = ["threshold", "sharp rejected", "worst size", "blurred kept", "worst size",
              "σ1% kept", "σ2% kept", "motion 4% kept", "motion 8% kept",
              "video faces rejected"]  # fmt: skip
    video_scores = np.array([v[2] for v in video], dtype=np.float64)
    rows = []
    for t in thresholds:
        rates = error_rates(samples, t)
        frr = [r[0] for r in rates.values()]
        far = [r[1] for r in rates.values()]
        worst_frr = max(rates, key=lambda k: rates[k][0])
        worst_far = max(rates, key=lambda k: rates[k][1])

        def kept(kind: str, p: float, t: float = t) -> str:
            chosen = values(s for s in samples if s.kind == kind and s.pct == p)
            return pct(float(np.mean(chosen >= t)))

        label = fmt(t) + (" (default)" if t == DEFAULT_BLUR_THRESHOLD else "")
        rows.append([
            label,
            pct(float(np.mean(frr))),
            f"{pct(rates[worst_frr][0])} @ {size_label(worst_frr)}",
            pct(float(np.mean(far))),
            f"{pct(rates[worst_far][1])} @ {size_label(worst_far)}",
            kept("gauss", 1.0), kept("gauss", 2.0), kept("motion", 4.0), kept("motion", 8.0),
            pct(float(np.mean(video_scores < t))) if len(video_scores) else "-",
        ])  # fmt: skip
    add(
        "Rates are averaged over sizes (each size weighs the same); 'worst size' is the "
        "size where the rate is highest.\n"
    )
    add(table(header, rows) + "\n")

    add(f"### At the default, {fmt(DEFAULT_BLUR_THRESHOLD)}, by size\n")
    rows = []
    for size, group in groups.items():
        sharp = values(s for s in group if is_sharp(s))
        blurred = values(s for s in group if is_clearly_blurred(s))
        rejected = int(np.sum(sharp < DEFAULT_BLUR_THRESHOLD))
        kept = int(np.sum(blurred >= DEFAULT_BLUR_THRESHOLD))
        rows.append([
            size_label(size),
            f"{rejected} of {len(sharp)} ({pct(rejected / len(sharp))})",
            f"{kept} of {len(blurred)} ({pct(kept / len(blurred))})",
        ])  # fmt: skip
    add(table(["face px", "sharp rejected", "clearly blurred kept"], rows) + "\n")
    wrong = sorted(
        (s for s in samples if (is_sharp(s) and s.scores["current"] < DEFAULT_BLUR_THRESHOLD)
         or (is_clearly_blurred(s) and s.scores["current"] >= DEFAULT_BLUR_THRESHOLD)),
        key=lambda s: (s.source, s.face, s.size, s.pct, s.jpeg),
    )  # fmt: skip
    if wrong:
        add(
            "Misclassified at the default (photo, native face px, rendered px, blur, JPEG, "
            "score):\n"
        )
        for s in wrong:
            blur = "sharp" if s.pct == 0 else f"sigma {s.pct:g}%"
            add(
                f"- `{s.source}` ({s.native_px} px) at {size_label(s.size)} px, {blur}"
                f"{', JPEG' if s.jpeg else ''}: {fmt(s.scores['current'])}"
            )
        add("")

    add("## First normalisation (128 px), for comparison\n")
    legacy_low, legacy_high = best_threshold(samples, "legacy128")[1:3]
    add(
        "Sharp and clearly blurred scores of `legacy128` (the crop squashed to 128x128, "
        f"bilinear enlargement). Lowest balanced error for thresholds from {fmt(legacy_low)} "
        f"to {fmt(legacy_high)}.\n"
    )
    rows = []
    for size, group in groups.items():
        sharp = values((s for s in group if is_sharp(s)), "legacy128")
        blurred = values((s for s in group if is_clearly_blurred(s)), "legacy128")
        rows.append(
            [size_label(size)]
            + [fmt(v) for v in quantiles(sharp, (0.01, 0.05, 0.5))]
            + [fmt(v) for v in quantiles(blurred, (0.5, 0.99, 1.0))]
            + [pct(float(np.mean(sharp < t))) for t in (20.0, DEFAULT_BLUR_THRESHOLD)]
        )
    header = ["face px", "sharp p1", "p5", "p50", "blurred p50", "p99", "max",
              "sharp < 20", f"sharp < {fmt(DEFAULT_BLUR_THRESHOLD)}"]  # fmt: skip
    add(table(header, rows) + "\n")

    add("## Real video: short_hamilton_clip.mp4\n")
    if not video:
        add("(video not found)\n")
    else:
        heights = np.array([v[1] for v in video])
        add(
            f"{len(video)} faces found by HOG (upsample 1) in every frame with step {video_step}, "
            f"{heights.min()}-{heights.max()} px high: mostly Lin-Manuel Miranda on stage, "
            "sharp-ish video faces; from frame 211 to 248 an out-of-focus audience member, "
            "52-75 px (really blurred, by eye).\n"
        )
        rows = []
        for name, chosen in (
            ("all", video_scores),
            ("faces >= 80 px", video_scores[heights >= 80]),
            ("faces < 80 px", video_scores[heights < 80]),
        ):
            if len(chosen) == 0:
                continue
            rows.append(
                [name, str(len(chosen))]
                + [fmt(v) for v in quantiles(chosen, (0.05, 0.1, 0.25, 0.5, 0.75))]
                + [pct(float(np.mean(chosen < DEFAULT_BLUR_THRESHOLD)))]
            )
        header = ["faces", "n", "p5", "p10", "p25", "p50", "p75", "rejected at default"]
        add(table(header, rows) + "\n")
        rejected = sorted(v for v in video if v[2] < DEFAULT_BLUR_THRESHOLD)
        if rejected:
            frames = sorted({v[0] for v in rejected})
            add(
                f"Rejected at the default: {len(rejected)} faces, "
                f"{min(v[1] for v in rejected)}-{max(v[1] for v in rejected)} px, "
                f"frames {frames[0]}-{frames[-1]}.\n"
            )

    add("## Speed\n")
    add("Milliseconds per face (random texture, box inside the image, best of 5 runs):\n")
    timings = {name: time_per_face(scorer) for name, scorer in SCORERS.items()}
    sizes = list(next(iter(timings.values())))
    rows = [[name] + [f"{t[size]:.3f}" for size in sizes] for name, t in timings.items()]
    add(table(["scorer"] + [f"{size} px" for size in sizes], rows) + "\n")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--testdata", type=Path, default=default_testdata())
    parser.add_argument("--video-step", type=int, default=1, help="score every N-th frame")
    args = parser.parse_args(argv)
    testdata: Path = args.testdata
    if not testdata.is_dir():
        parser.error(f"test data folder {testdata} not found (--testdata or FACERIPPER_TESTDATA)")
    start = time.perf_counter()
    log(f"detecting faces in the photos of {testdata} ...")
    samples, n_photos = measure_photos(photo_faces(testdata))
    log(f"{len(samples)} versions scored; scoring the Hamilton clip ...")
    clip = testdata / "face_recognition" / "short_hamilton_clip.mp4"
    video = measure_video(clip, max(1, args.video_step)) if clip.is_file() else []
    print(report(n_photos, samples, video, max(1, args.video_step)))
    log(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
