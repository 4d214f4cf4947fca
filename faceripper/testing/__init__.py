"""Ground-truth videos for tests and benchmarks: real face photos composited into frames
at known places. Not used by ``faceripper`` itself (formerly ``faceripper.synthetic``).

A synthetic video is described by a list of :class:`Shot`; each shot shows a few
:class:`PlacedFace` for a number of frames, each face moving and zooming linearly from a
start to an end position and size, sharp or Gaussian-blurred, a target person or a
distractor. :func:`render_video` draws the frames, writes the video and, beside it, a
truth CSV with the box of every face in every frame (:class:`TruthRow`);
:func:`evaluate` scores an extraction's manifest against that truth.

Typical use::

    sources = load_face_sources(Path("testdata/lfw_dev"))
    people = sources_by_identity(s for s in sources if s.identity in wanted)
    distractors = [s for s in sources if s.identity not in wanted]
    scenes = make_scenes(7, people, distractors, n_shots=6)
    truth = render_video(Path("clip.avi"), scenes)
    metrics = evaluate(manifest_rows, truth, {"alice": "Alice_Smith"}, min_size_px=80)

Sizes: a face's size is the height of its detected box (dlib's boxes are nearly
square). Labeled Faces in the Wild photos hold faces of about 110 px (dlib boxes of 86
to 129 px, median 107), so keep LFW faces at or below their native size
(``max_upscale=1.0`` in :func:`make_scenes`): scaled up they turn soft and read as
blurry to a Laplacian. Take large sharp faces from bigger photos.

Pixels: every image here is RGB uint8 ``(h, w, 3)``; frames are converted to BGR only
when handed to OpenCV's video writer. Boxes are ``(top, right, bottom, left)`` as in
:mod:`faceripper.geometry`.
"""

from __future__ import annotations

from faceripper.testing.render import (
    open_video_writer,
    render_background,
    render_frames,
    render_video,
)
from faceripper.testing.scenario import Scenario, build_scenario
from faceripper.testing.scenes import (
    CROP_MARGIN,
    FEATHER_INNER,
    FEATHER_OUTER,
    Box,
    FaceSource,
    FloatBox,
    PlacedFace,
    Shot,
    faces_overlap,
    load_face_sources,
    make_scenes,
    place_path,
    sources_by_identity,
)
from faceripper.testing.truth import (
    TRUTH_COLUMNS,
    Metrics,
    Truth,
    TruthRow,
    evaluate,
    load_truth,
    truth_path,
)

__all__ = [
    "CROP_MARGIN",
    "FEATHER_INNER",
    "FEATHER_OUTER",
    "TRUTH_COLUMNS",
    "Box",
    "FaceSource",
    "FloatBox",
    "Metrics",
    "PlacedFace",
    "Scenario",
    "Shot",
    "Truth",
    "TruthRow",
    "build_scenario",
    "evaluate",
    "faces_overlap",
    "load_face_sources",
    "load_truth",
    "make_scenes",
    "open_video_writer",
    "place_path",
    "render_background",
    "render_frames",
    "render_video",
    "sources_by_identity",
    "truth_path",
]
