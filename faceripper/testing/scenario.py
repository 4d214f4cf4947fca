"""A ready-made ground-truth video from a folder of person folders (e.g. Labeled Faces in
the Wild), with reference folders for ``faceripper rip --refs``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceripper.images import is_image_name
from faceripper.testing.render import render_video
from faceripper.testing.scenes import FaceSource, load_face_sources, make_scenes
from faceripper.testing.truth import Truth, truth_path

# --------------------------------------------------------------------------------------
# A ready-made scenario from a folder of person folders (e.g. Labeled Faces in the Wild)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A ground-truth video with its reference folders, ready for ``faceripper rip``.

    Attributes:
        video: the rendered video.
        truth: its truth (also written to ``truth_csv``).
        truth_csv: the truth file (kept outside the video folder).
        refs: a folder of person folders holding reference photos that never appear in
            the video (``rip --refs``).
        label_to_identity: the label (reference folder name) of each target person ->
            the identity in the truth.
    """

    video: Path
    truth: Truth
    truth_csv: Path
    refs: Path
    label_to_identity: dict[str, str]


def build_scenario(
    people_dir: Path,
    out_dir: Path,
    *,
    seed: int = 0,
    n_targets: int = 6,
    n_refs: int = 3,
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    n_shots: int = 6,
    frames_per_shot: int | tuple[int, int] = (45, 90),
    video_name: str = "scenario.avi",
    **scene_options: Any,
) -> Scenario:
    """Render a ground-truth video from a folder of person folders.

    People with at least ``n_refs + 2`` photos are candidate targets; ``n_targets`` of
    them are drawn (deterministically for ``seed``). Each target's last ``n_refs``
    photos (sorted by name) are copied into ``out_dir/refs/<identity>/`` as references;
    the others appear in the video. People with fewer photos are distractors. The video
    goes to ``out_dir/videos/<video_name>``, its truth to ``out_dir/<video_name>.truth.csv``.

    ``scene_options`` pass on to :func:`make_scenes` (sizes, blur, distractor rates).
    """
    import shutil

    folders = sorted(p for p in Path(people_dir).iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    candidates = [name for name, files in photos.items() if len(files) >= n_refs + 2]
    rng = np.random.default_rng(seed)
    targets = sorted(candidates[int(i)] for i in rng.permutation(len(candidates))[:n_targets])
    refs = Path(out_dir) / "refs"
    shown: dict[str, list[FaceSource]] = {}
    for name in targets:
        (refs / name).mkdir(parents=True, exist_ok=True)
        for photo in photos[name][-n_refs:]:
            shutil.copy(photo, refs / name / photo.name)
        shown[name] = load_face_sources(photos[name][:-n_refs], identity=name)
    distractors = [
        source
        for name, files in photos.items()
        if name not in candidates
        for source in load_face_sources(files, identity=name)
    ]
    scenes = make_scenes(
        seed,
        shown,
        distractors,
        frame_size=frame_size,
        fps=fps,
        n_shots=n_shots,
        frames_per_shot=frames_per_shot,
        **scene_options,
    )
    videos = Path(out_dir) / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    video = videos / video_name
    truth = render_video(video, scenes, frame_size=frame_size, fps=fps)
    truth_csv = Path(out_dir) / f"{video_name}.truth.csv"
    truth_path(video).replace(truth_csv)
    return Scenario(video, truth, truth_csv, refs, {name: name for name in targets})
