"""Ground-truth H.264 videos for the performance benchmark (``benchmarks/perf.py``).

Each video is composited from real face photos of the shared test data, with the truth
of every face in every frame (``faceripper.testing``):

* **LFW faces** (``lfw_dev``): ``--lfw-targets`` people with 10 photos are targets; the
  last ``--refs`` photos of each (sorted by name) are their references and never
  appear in the video, exactly as :func:`faceripper.testing.build_scenario` splits
  them. Every other LFW person (the remaining 10-photo people and the 40 one-photo
  people) is a distractor. They are drawn by :func:`faceripper.testing.make_scenes`:
  2 to 4 per shot, moving (up to 1/3 of the frame height per second) and zooming
  (up to 1.2x), at 85 to 110 px, never above the photo's native size
  (``max_upscale=1.0``: an LFW face is only about 110 px, enlarged it turns soft);
  20% of them smaller than the benchmark's ``--min-size 80`` (40 to 72 px), 20%
  Gaussian-blurred (sigma 3 to 6% of the face height), 30% distractors.
* **Large faces** from the bigger, sharp photos (``face_recognition/``, ``openface/``,
  ``dlib/``): in 60% of the shots one more face of 12% to 30% of the frame height (86
  to 216 px at 720p, 130 to 324 px at 1080p), again never above its native size.
  Six of these people are targets with their own reference photos, which are never
  shown (:data:`LARGE_TARGETS`); the others are distractors (:data:`LARGE_DISTRACTORS`).
  25% of them are blurred. At 720p and 1080p a face of 100 px or more is the usual
  case, and LFW alone cannot give it sharply.

Frames are encoded with libx264 (CRF 18, preset fast, yuv420p) through PyAV: H.264 is
what users have, and its decoding cost at 1080p is part of what is measured. The
truth CSV lies beside the video (``VIDEO.truth.csv``), and ``VIDEO.meta.json`` holds the
parameters and the label -> identity map. The references go to ``OUT/refs/<label>/``
(one folder per target person, for ``faceripper rip --refs``), shared by every video of
the same ``--seed``. A video that already exists with the same parameters is reused.

Usage::

    .venv/bin/python benchmarks/make_videos.py --out /tmp/faceripper-bench \\
        --resolution 720 --resolution 1080 --seconds 20 [--seconds 120]

Never write these files into the project: the photos' rights belong to their owners.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceripper.images import is_image_name
from faceripper.testing import (
    FaceSource,
    PlacedFace,
    Shot,
    Truth,
    faces_overlap,
    load_face_sources,
    load_truth,
    make_scenes,
    place_path,
    truth_path,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Large-face targets: label -> (reference photos, photos shown in the video), relative
#: to the test data root. References and shown photos are disjoint.
LARGE_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "obama": (
        (
            "face_recognition/knn_examples/train/obama/obama.jpg",
            "face_recognition/knn_examples/train/obama/obama2.jpg",
        ),
        ("face_recognition/knn_examples/test/obama1.jpg", "face_recognition/obama3.jpg"),
    ),
    "biden": (
        ("face_recognition/knn_examples/train/biden/biden.jpg",),
        ("face_recognition/knn_examples/train/biden/biden2.jpg",),
    ),
    "rose_leslie": (
        ("face_recognition/knn_examples/train/rose_leslie/img1.jpg",),
        ("face_recognition/knn_examples/train/rose_leslie/img2.jpg",),
    ),
    "kit_harington": (
        ("face_recognition/knn_examples/train/kit_harington/john1.jpeg",),
        (
            "face_recognition/knn_examples/train/kit_harington/john2.jpeg",
            "face_recognition/knn_examples/test/johnsnow_test1.jpg",
        ),
    ),
    "john_lennon": (("openface/lennon-1.jpg",), ("openface/lennon-2.jpg",)),
    "eric_clapton": (("openface/clapton-2.jpg",), ("openface/clapton-1.jpg",)),
}
#: Large-face distractors: photos of people without references.
LARGE_DISTRACTORS: tuple[str, ...] = (
    "dlib/Tom_Cruise_avp_2014_4.jpg",
    "openface/adams.jpg",
    "openface/carell.jpg",
    "face_recognition/lin-manuel-miranda.png",
    "face_recognition/alex-lacamoire.png",
)

RESOLUTIONS: dict[int, tuple[int, int]] = {
    360: (640, 360),
    720: (1280, 720),
    1080: (1920, 1080),
}


@dataclass(frozen=True)
class VideoSpec:
    """What a benchmark video is made of (everything that changes its pixels)."""

    width: int
    height: int
    seconds: float
    fps: float = 30.0
    seed: int = 5
    lfw_targets: int = 8
    refs: int = 3
    crf: int = 18
    preset: str = "fast"
    min_size_px: float = 80.0
    large_probability: float = 0.6
    large_target_probability: float = 0.7
    large_size_fraction: tuple[float, float] = (0.12, 0.30)
    blur_probability: float = 0.2
    large_blur_probability: float = 0.25
    blur_range: tuple[float, float] = (0.03, 0.06)
    #: Bump when the generator changes so that old cached videos are not reused.
    version: int = 1

    @property
    def frames(self) -> int:
        """Number of frames."""
        return round(self.seconds * self.fps)

    @property
    def name(self) -> str:
        """File name of the video."""
        seconds = f"{self.seconds:g}".replace(".", "_")
        return f"bench_{self.height}p_{seconds}s_seed{self.seed}.mp4"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters."""
        return {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in self.__dict__.items()  # frozen dataclass without slots
        }


@dataclass(frozen=True)
class BenchVideo:
    """A generated video with what is needed to score an extraction of it."""

    video: Path
    truth_csv: Path
    refs: Path
    label_to_identity: dict[str, str]
    spec: VideoSpec
    frames: int

    def truth(self) -> Truth:
        """The video's truth (read from the CSV)."""
        return load_truth(self.truth_csv)


def default_testdata() -> Path:
    """``$FACERIPPER_TESTDATA`` or ``../shared/testdata`` beside the project."""
    env = os.environ.get("FACERIPPER_TESTDATA")
    return Path(env) if env else PROJECT_ROOT.parent / "shared" / "testdata"


# --------------------------------------------------------------------------------------
# Who is shown, who is a reference
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cast:
    """The faces available to the scenes, and the reference photos kept aside."""

    lfw_people: dict[str, list[FaceSource]]
    lfw_distractors: list[FaceSource]
    large_people: dict[str, list[FaceSource]]
    large_distractors: list[FaceSource]
    reference_photos: dict[str, list[Path]]


def load_cast(testdata: Path, spec: VideoSpec) -> Cast:
    """Split the test data's photos into shown targets, distractors and references.

    LFW: people with at least ``refs + 2`` photos are candidates; ``lfw_targets`` of them
    are drawn with ``numpy.random.default_rng(seed)`` (as ``build_scenario`` does); each
    target's last ``refs`` photos are references, the rest are shown. Every other LFW
    photo is a distractor.
    """
    lfw = testdata / "lfw_dev"
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    candidates = [name for name, files in photos.items() if len(files) >= spec.refs + 2]
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(candidates))[: spec.lfw_targets]
    targets = sorted(candidates[int(i)] for i in order)
    lfw_people = {
        name: load_face_sources(photos[name][: -spec.refs], identity=name) for name in targets
    }
    lfw_distractors = [
        source
        for name, files in photos.items()
        if name not in targets
        for source in load_face_sources(files, identity=name)
    ]
    references = {name: photos[name][-spec.refs :] for name in targets}
    large_people = {
        label: load_face_sources([testdata / p for p in shown], identity=label)
        for label, (_refs, shown) in LARGE_TARGETS.items()
    }
    large_distractors = [
        source
        for path in LARGE_DISTRACTORS
        for source in load_face_sources([testdata / path], identity=Path(path).stem)
    ]
    for label, (refs, _shown) in LARGE_TARGETS.items():
        references[label] = [testdata / p for p in refs]
    return Cast(lfw_people, lfw_distractors, large_people, large_distractors, references)


# --------------------------------------------------------------------------------------
# Scenes
# --------------------------------------------------------------------------------------


def add_large_faces(
    rng: np.random.Generator, shots: Sequence[Shot], cast: Cast, spec: VideoSpec
) -> list[Shot]:
    """Add, to some shots, one large face that overlaps none of the shot's faces."""
    frame_size = (spec.width, spec.height)
    max_speed = spec.height / 3.0
    people = sorted(cast.large_people)
    out = []
    for shot in shots:
        faces = list(shot.faces)
        if rng.random() < spec.large_probability:
            if rng.random() < spec.large_target_probability:
                person = people[int(rng.integers(len(people)))]
                photos = cast.large_people[person]
                source, is_target = photos[int(rng.integers(len(photos)))], True
            else:
                index = int(rng.integers(len(cast.large_distractors)))
                source, is_target = cast.large_distractors[index], False
            low, high = (f * spec.height for f in spec.large_size_fraction)
            size0 = float(rng.uniform(low, high))
            size1 = size0 * math.exp(float(rng.uniform(-math.log(1.2), math.log(1.2))))
            size0, size1 = round(min(size0, source.size), 2), round(min(size1, source.size), 2)
            blur = (
                round(float(rng.uniform(*spec.blur_range)), 4)
                if rng.random() < spec.large_blur_probability
                else 0.0
            )
            max_move = max_speed * max(shot.n_frames - 1, 0) / spec.fps
            for _try in range(200):
                ends = place_path(rng, source, size0, size1, frame_size, max_move)
                if ends is None:
                    break
                face = PlacedFace(source, ends[0], ends[1], size0, size1, blur, is_target)
                if not any(faces_overlap(face, other, shot.n_frames) for other in faces):
                    faces.append(face)
                    break
        out.append(Shot(shot.n_frames, tuple(faces), shot.background_rgb, shot.texture_seed))
    return out


def make_benchmark_scenes(cast: Cast, spec: VideoSpec) -> list[Shot]:
    """Shots of 45 to 90 frames, enough for ``spec.frames`` (the last one is cut short)."""
    frame_size = (spec.width, spec.height)
    n_shots = math.ceil(spec.frames / 45) + 1
    shots = make_scenes(
        spec.seed,
        cast.lfw_people,
        cast.lfw_distractors,
        frame_size=frame_size,
        fps=spec.fps,
        n_shots=n_shots,
        frames_per_shot=(45, 90),
        faces_per_shot=(2, 4),
        size_range_px=(85.0, 110.0),
        min_size_px=spec.min_size_px,
        small_probability=0.2,
        blur_probability=spec.blur_probability,
        blur_range=spec.blur_range,
        distractor_probability=0.3,
        max_speed_px_s=spec.height / 3.0,
        max_zoom=1.2,
        max_upscale=1.0,
    )
    shots = add_large_faces(np.random.default_rng(spec.seed + 1), shots, cast, spec)
    kept, total = [], 0
    for shot in shots:
        if total >= spec.frames:
            break
        kept.append(shot)
        total += shot.n_frames
    return kept


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def write_h264(path: Path, shots: Sequence[Shot], spec: VideoSpec) -> Truth:
    """Render ``shots`` into an H.264 MP4 (first ``spec.frames`` frames) and its truth CSV."""
    from faceripper.testing.render import write_h264 as render_h264

    size = (spec.width, spec.height)
    return render_h264(path, shots, size, spec.fps, spec.crf, spec.preset, spec.frames)


def _write_refs(refs_dir: Path, cast: Cast) -> None:
    for label, photos in cast.reference_photos.items():
        folder = refs_dir / label
        folder.mkdir(parents=True, exist_ok=True)
        for photo in photos:
            target = folder / photo.name
            if not target.exists():
                shutil.copy(photo, target)


def make_video(
    out_dir: Path, spec: VideoSpec, testdata: Path | None = None, log: Any = None
) -> BenchVideo:
    """Generate (or reuse) one benchmark video, its truth and the references."""
    testdata = testdata or default_testdata()
    out_dir.mkdir(parents=True, exist_ok=True)
    video = out_dir / "videos" / spec.name
    meta_path = video.with_name(video.name + ".meta.json")
    refs = out_dir / f"refs_seed{spec.seed}"
    if video.is_file() and truth_path(video).is_file() and meta_path.is_file() and refs.is_dir():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("spec") == spec.as_dict():
            return BenchVideo(
                video, truth_path(video), refs, meta["label_to_identity"], spec, meta["frames"]
            )
    started = time.monotonic()
    cast = load_cast(testdata, spec)
    _write_refs(refs, cast)
    shots = make_benchmark_scenes(cast, spec)
    video.parent.mkdir(parents=True, exist_ok=True)
    write_h264(video, shots, spec)
    label_to_identity = {label: label for label in cast.reference_photos}
    meta = {"spec": spec.as_dict(), "label_to_identity": label_to_identity, "frames": spec.frames}
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if log is not None:
        log(f"wrote {video} ({spec.frames} frames) in {time.monotonic() - started:.0f} s")
    return BenchVideo(video, truth_path(video), refs, label_to_identity, spec, spec.frames)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/faceripper-bench"))
    parser.add_argument("--testdata", type=Path, default=default_testdata())
    parser.add_argument(
        "--resolution", type=int, action="append", choices=sorted(RESOLUTIONS), default=None
    )
    parser.add_argument("--seconds", type=float, action="append", default=None)
    parser.add_argument("--seed", type=int, default=VideoSpec.seed)
    args = parser.parse_args(argv)
    if not (args.testdata / "lfw_dev").is_dir():
        print(f"{args.testdata}/lfw_dev: not found (set --testdata)", file=sys.stderr)
        return 2
    for height in args.resolution or [720, 1080]:
        for seconds in args.seconds or [20.0]:
            width, height = RESOLUTIONS[height]
            spec = VideoSpec(width, height, seconds, seed=args.seed)
            made = make_video(args.out, spec, args.testdata, log=print)
            truth = made.truth()
            print(
                f"{made.video}: {made.frames} frames, {len(truth)} faces "
                f"({sum(r.is_target for r in truth)} of targets), refs in {made.refs}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
