"""Ground truth of faces HOG cannot see: known people turning, tilting, eating.

dlib's HOG detector finds near-frontal faces only; a person on real footage turns to a
neighbour, looks down at a plate, holds a fork or a hand before the mouth, tilts the
head. :func:`build_turned` composes a real video (H.264) from real ``lfw_dev`` photos
the way such a clip shows people: each referenced person in shots where they are
frontal (HOG finds them) part of the time and, in between, through crossfades of a
few frames, in poses that HOG misses at ``rip``'s detection scale while dlib's CNN
(MMOD, ``--model cnn``) finds them:

- ``lfw``: real LFW photos of the person that HOG misses and the CNN finds (there are 3
  in ``lfw_dev``: :func:`faceripper.testing.poses.hog_missed_photos`);
- ``tilt``: a frontal photo turned 45-70 degrees in the image's plane;
- ``down``: a frontal photo foreshortened vertically, as a face looking down at a
  plate is;
- ``occluded``: a frontal photo with a hand over the mouth and chin.

Each derived pose is searched for per photo
(:func:`faceripper.testing.poses.pose_variants`): among the settings of the pose at
which HOG misses the photo's face at its drawn size and the CNN finds it, the second
mildest (the mildest when only one qualifies), so that the video's noise and compression
do not bring the face back into HOG's sight; the truth says where they do.
Strangers (never referenced) do the same beside them, and a person's HOG-lost face is
twice replaced, on the same background at the same place, by a stranger's HOG-lost
face (a follower must not drift onto them). Every face of every *decoded* frame is then
labelled (:class:`PoseRow`): its pose, whether HOG finds it (dlib's HOG on the whole
frame at ``rip``'s detection scale, :func:`faceripper.detector.detect_faces_scaled`),
whether the CNN finds it (the region around its true box, searched as ``rip`` searches
around a lost face), and for a referenced person's HOG-lost face, how far its encoding
lies from the same face's HOG-found encodings in the shot.
:func:`faceripper.testing.turned_eval.evaluate_turned` scores a ``rip`` manifest per pose.

One reference photo per person (their most typical HOG-found photo, never shown).
Pixels are RGB uint8 ``(h, w, 3)``, boxes ``(top, right, bottom, left)``, as in
:mod:`faceripper.testing`.
"""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceripper.images import load_rgb
from faceripper.testing.footage import medoid
from faceripper.testing.poses import (
    FOUND_IOU,
    POSE_SETTINGS,
    PoseVariant,
    at_size,
    best_iou,
    cnn_finds,
    hog_finds,
    hog_missed_photos,
    pose_variants,
)
from faceripper.testing.render import write_video
from faceripper.testing.scenes import Box, FaceSource, PlacedFace, Shot, shot_times
from faceripper.testing.truth import Truth

# The clip
# --------------------------------------------------------------------------------------

#: The people of the default clip: the two with LFW photos HOG misses and two others,
#: referenced; two strangers.
REFERENCED = ("Halle_Berry", "Hu_Jintao", "Jacques_Chirac", "John_Paul_II")
STRANGERS = ("Gerhard_Schroeder", "Nancy_Pelosi")
#: Frames of a crossfade between two poses.
FADE_FRAMES = 4


@dataclass(frozen=True)
class Person:
    """One person of the clip: reference, frontal photos, and their posed views.

    Attributes:
        name: the LFW folder name (also the reference folder's label, lower-cased).
        reference: the reference photo (never shown); None for a stranger.
        frontal: photos HOG finds at the drawn size, nearest the reference first.
        size: the face size drawn, px (at most the photos' native sizes).
        posed: per frontal photo (same order), its :class:`PoseVariant` by pose.
        lfw: the person's LFW photos HOG misses
            (:func:`faceripper.testing.poses.hog_missed_photos`).
    """

    name: str
    reference: FaceSource | None
    frontal: tuple[FaceSource, ...]
    size: float
    posed: tuple[dict[str, PoseVariant], ...]
    lfw: tuple[FaceSource, ...]


@dataclass(frozen=True)
class PoseRow:
    """One face in one frame of the clip, with its pose and what the detectors see.

    Attributes:
        frame, appearance, identity, is_target: as the truth's :class:`TruthRow`.
        pose: one of :data:`faceripper.testing.poses.POSES` (during a crossfade, the view
            that weighs more).
        setting: the pose's setting (degrees, vertical scale, hand start; 0 for
            ``frontal`` and ``lfw``).
        fading: the frame is inside a crossfade between two views.
        hog: dlib's HOG finds the face on the decoded frame at ``rip``'s detection scale.
        cnn_score: the CNN's score for it in the region ``rip`` would search (0: not
            found, :func:`cnn_finds`).
        own_distance: for a referenced person's HOG-lost face the CNN finds, the distance
            of its encoding (at the CNN box) to the nearest encoding of the same
            appearance's HOG-found faces; NaN otherwise.
        top, right, bottom, left: the truth box.
    """

    frame: int
    appearance: int
    identity: str
    is_target: bool
    pose: str
    setting: float
    fading: bool
    hog: bool
    cnn_score: float
    own_distance: float
    top: int
    right: int
    bottom: int
    left: int

    @property
    def lost(self) -> bool:
        """HOG misses it and it is not in a crossfade: a face only following can save."""
        return not self.hog and not self.fading


POSE_COLUMNS = tuple(PoseRow.__dataclass_fields__)


def write_poses(rows: Sequence[PoseRow], path: Path) -> None:
    """Write the rows as CSV with the header :data:`POSE_COLUMNS`."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(POSE_COLUMNS)
        for row in rows:
            values = asdict(row)
            writer.writerow([int(v) if isinstance(v, bool) else v for v in values.values()])


def load_poses(path: Path) -> list[PoseRow]:
    """Read a CSV written by :func:`write_poses`."""
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            rows.append(
                PoseRow(
                    int(r["frame"]),
                    int(r["appearance"]),
                    r["identity"],
                    r["is_target"] == "1",
                    r["pose"],
                    float(r["setting"]),
                    r["fading"] == "1",
                    r["hog"] == "1",
                    float(r["cnn_score"]),
                    float(r["own_distance"]),
                    int(r["top"]),
                    int(r["right"]),
                    int(r["bottom"]),
                    int(r["left"]),
                )
            )
    return rows


def load_person(
    people_dir: Path,
    name: str,
    *,
    referenced: bool,
    lfw: Sequence[FaceSource],
    out_dir: Path,
    scale: float,
    max_size: float = 105.0,
    frontal_count: int = 2,
) -> Person:
    """Choose a person's reference, frontal photos and posed views (see module doc).

    The reference is the most typical (:func:`~faceripper.testing.footage.medoid`) of
    their photos HOG finds; the frontal photos are the others HOG finds at the drawn
    size, nearest the reference first (a stranger's: in file order).

    Raises:
        ValueError: fewer than ``frontal_count`` frontal photos.
    """
    from faceripper.encoder import encode_faces
    from faceripper.geometry import as_boxes
    from faceripper.testing.scenes import load_face_sources

    lost_paths = {s.path for s in lfw}
    sources = [s for s in load_face_sources(Path(people_dir) / name) if s.path not in lost_paths]
    size = float(min(max_size, min(s.size for s in sources)))
    reference = None
    if referenced:
        encodings = np.stack(
            [encode_faces(load_rgb(s.path), as_boxes([s.box])).encodings[0] for s in sources]
        )
        typical = medoid(encodings)
        reference = sources[typical]
        order = np.argsort(np.linalg.norm(encodings - encodings[typical], axis=1))
        sources = [sources[int(i)] for i in order if int(i) != typical]
    # The photos HOG finds at the drawn size, nearest the reference first; of them the
    # first ``frontal_count`` that every pose can be made of (else those with the most).
    candidates: list[tuple[FaceSource, dict[str, PoseVariant]]] = []
    for source in sources:
        small, box = at_size(load_rgb(source.path), source.box, size)
        if not hog_finds(small, box, scale):
            continue
        variants = pose_variants(source, out_dir / name, size, scale, POSE_SETTINGS)
        candidates.append((source, {v.pose: v for v in variants}))
        if sum(len(v) == len(POSE_SETTINGS) for _, v in candidates) >= frontal_count:
            break
    if len(candidates) < frontal_count:
        raise ValueError(f"{name}: fewer than {frontal_count} photos HOG finds at {size:.0f} px")
    ranked = sorted(range(len(candidates)), key=lambda i: (-len(candidates[i][1]), i))
    chosen = sorted(ranked[:frontal_count])
    frontal = [candidates[i][0] for i in chosen]
    posed = tuple(candidates[i][1] for i in chosen)
    return Person(name, reference, tuple(frontal), size, posed, tuple(lfw))


def _segments(
    views: Sequence[tuple[FaceSource, int]],
) -> tuple[FaceSource, tuple[FaceSource, ...], tuple[float, ...], float, int]:
    """A face shown as ``(view, frames)`` in turn: its first view, the rest, the change
    times, the fade (:data:`FADE_FRAMES`) as a fraction of the shot, and the shot's
    frames."""
    n_frames = sum(frames for _, frames in views)
    changes, done = [], 0
    for _, frames in views[:-1]:
        done += frames
        changes.append(round(done / (n_frames - 1), 5))
    fade = round(FADE_FRAMES / (n_frames - 1), 5)
    return views[0][0], tuple(v for v, _ in views[1:]), tuple(changes), fade, n_frames


def _placed(
    views: Sequence[tuple[FaceSource, int]],
    xy: tuple[float, float],
    size: float,
    is_target: bool,
    move: tuple[float, float] = (0.0, 0.0),
) -> tuple[PlacedFace, int]:
    first, rest, changes, fade, n_frames = _segments(views)
    end = (xy[0] + move[0], xy[1] + move[1])
    face = PlacedFace(
        first, xy, end, size, size, is_target=is_target, views=rest,
        view_changes=changes if rest else (), fade=fade if rest else 0.0,
    )  # fmt: skip
    return face, n_frames


def _fit(views: list[tuple[FaceSource, int]], n_frames: int) -> list[tuple[FaceSource, int]]:
    """``views`` with the last one's frames set so that they add up to ``n_frames``."""
    used = sum(frames for _, frames in views[:-1])
    return [*views[:-1], (views[-1][0], n_frames - used)]


def _pose_views(person: Person, photo: int, poses: Sequence[str]) -> list[FaceSource]:
    """The person's views for ``poses`` of their frontal photo ``photo`` (``lfw``: their
    HOG-missed photos in turn); poses they have no view for are left out."""
    views: list[FaceSource] = []
    for pose in poses:
        if pose == "lfw":
            if person.lfw:
                views.append(person.lfw[len(views) % len(person.lfw)])
            continue
        variant = person.posed[photo].get(pose)
        if variant is not None:
            views.append(variant.source)
    return views


def turned_scenes(
    people: Sequence[Person], strangers: Sequence[Person], seed: int, frame_size: tuple[int, int]
) -> list[Shot]:
    """The shots of the clip (see :func:`build_turned`)."""
    rng = np.random.default_rng(seed)
    width, height = frame_size
    shots: list[Shot] = []

    def background() -> dict[str, Any]:
        colour = tuple(int(c) for c in rng.integers(50, 200, 3))
        return {"background_rgb": colour, "texture_seed": int(rng.integers(2**31))}

    def alternate(
        frontal: FaceSource, poses: Sequence[FaceSource], lead: int, pose_frames: int, gap: int
    ) -> list[tuple[FaceSource, int]]:
        views = [(frontal, lead)]
        for view in poses:
            views += [(view, pose_frames), (frontal, gap)]
        return views

    left_x, right_x, y = width * 0.31, width * 0.69, height * 0.5
    for k, person in enumerate(people):
        stranger = strangers[k % len(strangers)]
        swap = k % 2 == 1
        p_x, s_x = (right_x, left_x) if swap else (left_x, right_x)
        # Shot 1: frontal first, then each pose in turn, back to frontal between them.
        poses = _pose_views(person, 0, ("tilt", "down", "occluded"))
        mine = alternate(person.frontal[0], poses, 18, 14, 12)
        n_frames = sum(f for _, f in mine)
        theirs = _fit(
            alternate(stranger.frontal[0], _pose_views(stranger, 0, ("down", "tilt")), 30, 14, 12),
            n_frames,
        )
        a, _ = _placed(mine, (p_x, y), person.size, True, (12.0, 4.0))
        b, _ = _placed(theirs, (s_x, y), stranger.size, False, (-8.0, 3.0))
        shots.append(Shot(n_frames, (a, b), **background()))
        # Shot 2: a pose first (only following backwards can save it), the person's
        # own HOG-missed photos where they have any.
        poses = _pose_views(person, 1, ("lfw", "lfw") if person.lfw else ("tilt", "down"))
        if person.lfw:
            poses = poses[:1] + _pose_views(person, 1, ("occluded",)) + poses[1:2]
        views = [(poses[0], 14), (person.frontal[1], 20)]
        for view in poses[1:]:
            views += [(view, 14), (person.frontal[1], 12)]
        a, n_frames = _placed(views, (p_x + (-20 if swap else 20), y - 6), person.size, True)
        theirs = _fit(
            alternate(stranger.frontal[1], _pose_views(stranger, 1, ("occluded",)), 16, 14, 12),
            n_frames,
        )
        b, _ = _placed(theirs, (s_x, y + 6), stranger.size, False)
        shots.append(Shot(n_frames, (a, b), **background()))
    # A person's HOG-lost face replaced by a stranger's at the same place: the same
    # background, a cut no frame difference sees.
    for person, pose in zip(people[:2], ("tilt", "down"), strict=False):
        takers = [v for s in strangers for v in _pose_views(s, 0, (pose,))]
        lost = _pose_views(person, 0, (pose,))
        if not lost or not takers:
            continue
        taker = takers[len(shots) % len(takers)]
        place = (width * 0.5, y)
        a, n_a = _placed([(person.frontal[0], 24), (lost[0], 12)], place, person.size, True)
        b, n_b = _placed([(taker, 24)], place, person.size, False)
        look = background()
        shots.append(Shot(n_a, (a,), **look))
        shots.append(Shot(n_b, (b,), **look))
    return shots


def pose_of_frames(
    shots: Sequence[Shot], kinds: Mapping[Path, tuple[str, float]]
) -> dict[tuple[int, int], tuple[str, float, bool]]:
    """``(frame, appearance) -> (pose, setting, fading)`` for every face of ``shots``,
    numbered as :func:`~faceripper.testing.render.render_frames` numbers them; a photo
    not in ``kinds`` is ``frontal``."""
    out: dict[tuple[int, int], tuple[str, float, bool]] = {}
    frame, appearance = 0, 0
    for shot in shots:
        for t in shot_times(shot.n_frames):
            for i, face in enumerate(shot.faces):
                first, second, weight = face.view_weights(float(t))
                shown = face.all_views[second if weight >= 0.5 else first]
                pose, setting = kinds.get(shown.path, ("frontal", 0.0))
                out[(frame, appearance + i)] = (pose, setting, weight > 0)
            frame += 1
        appearance += len(shot.faces)
    return out


def label_frames(
    video: Path,
    truth: Truth,
    poses: Mapping[tuple[int, int], tuple[str, float, bool]],
    scale: float,
) -> list[PoseRow]:
    """Label every truth face of the decoded ``video`` (see :class:`PoseRow`)."""
    from faceripper.detector import detect_faces_scaled
    from faceripper.encoder import encode_faces
    from faceripper.geometry import as_boxes
    from faceripper.video import iter_frames, scan_video

    scan = scan_video(video)
    staged: list[dict[str, Any]] = []
    hog_encodings: dict[int, list[npt.NDArray[np.float64]]] = {}
    for decoded in iter_frames(video, scan, 0, scan.frame_count):
        image = decoded.rgb()
        found = detect_faces_scaled(image, scale)
        boxes: list[Box] = []
        for row in truth.in_frame(decoded.index):
            pose, setting, fading = poses[(row.frame, row.appearance)]
            overlap, best = best_iou(row.box, found)
            hog = overlap >= FOUND_IOU
            score, cnn_box = cnn_finds(image, row.box)
            record: dict[str, Any] = {"row": row, "pose": pose, "setting": setting,
                                      "fading": fading,
                      "hog": hog, "cnn": score, "encoding": -1}  # fmt: skip
            if row.is_target and (hog or cnn_box is not None):
                chosen = found[best] if hog else np.asarray(cnn_box)
                boxes.append((int(chosen[0]), int(chosen[1]), int(chosen[2]), int(chosen[3])))
                record["encoding"] = len(boxes) - 1
            staged.append(record)
        if boxes:
            encodings = encode_faces(image, as_boxes(boxes)).encodings
            for record in staged[len(staged) - len(truth.in_frame(decoded.index)) :]:
                if record["encoding"] < 0:
                    continue
                encoding = encodings[record["encoding"]]
                if record["hog"]:
                    hog_encodings.setdefault(record["row"].appearance, []).append(encoding)
                else:
                    record["vector"] = encoding
    rows = []
    for record in staged:
        row = record["row"]
        distance = math.nan
        encoding = record.get("vector")
        own = hog_encodings.get(row.appearance)
        if encoding is not None and own:
            distance = round(float(np.linalg.norm(np.stack(own) - encoding, axis=1).min()), 4)
        rows.append(
            PoseRow(
                row.frame,
                row.appearance,
                row.identity,
                row.is_target,
                record["pose"],
                record["setting"],
                record["fading"],
                record["hog"],
                round(record["cnn"], 4),
                distance,
                row.top,
                row.right,
                row.bottom,
                row.left,
            )
        )
    return rows


@dataclass(frozen=True)
class Turned:
    """The clip of :func:`build_turned` with its references and truth.

    Attributes:
        video: the video (H.264 ``.mp4`` or Motion JPEG ``.avi``).
        truth: every face of every frame (also written beside the video).
        poses: every face's :class:`PoseRow` (also in ``poses_csv``).
        poses_csv: the pose labels' CSV.
        refs: one folder per referenced person (label: the name lower-cased), one photo.
        label_to_identity: reference label -> truth identity.
        lfw_missed: the ``lfw_dev`` photos HOG misses and the CNN finds (all of them,
            shown or not).
        settings: per person, the pose settings used, ``{name: {pose: setting}}``.
    """

    video: Path
    truth: Truth
    poses: tuple[PoseRow, ...]
    poses_csv: Path
    refs: Path
    label_to_identity: dict[str, str]
    lfw_missed: tuple[FaceSource, ...]
    settings: dict[str, dict[str, float]] = field(default_factory=dict)


def build_turned(
    people_dir: Path,
    out_dir: Path,
    *,
    referenced: Sequence[str] = REFERENCED,
    strangers: Sequence[str] = STRANGERS,
    min_size_px: int = 80,
    seed: int = 14,
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    video_name: str = "turned.mp4",
    replacements: bool = True,
) -> Turned:
    """Render the clip of faces HOG cannot see (module doc) and label it.

    Each referenced person gets two shots beside a stranger who does the same: one
    starting frontal (18 frames), then tilt, looking down and a hand over the mouth
    (14 frames each), frontal for 12 frames between them; one starting in a pose
    (their LFW photos HOG misses where they have some, else tilt and looking down),
    then frontal. The strangers turn and look down at other times. With
    ``replacements``, twice a person (frontal 24 frames, then tilted or looking down
    12) is replaced at the same place by a stranger in the same pose for 24 frames.
    Crossfades of :data:`FADE_FRAMES` frames between views.

    Writes ``out_dir/refs/<label>/``, ``out_dir/poses/<name>/*.png`` (the posed photos),
    ``out_dir/videos/<video_name>``, its truth beside it and ``out_dir/poses.csv``.
    """
    from faceripper.detector import detection_scale

    scale = detection_scale(min_size_px)
    out_dir = Path(out_dir)
    missed = [s for s, _ in hog_missed_photos(people_dir, scale)]
    people = []
    for name in referenced:
        lfw = [s for s in missed if s.identity == name]
        people.append(
            load_person(
                people_dir, name, referenced=True, lfw=lfw, out_dir=out_dir / "poses", scale=scale
            )
        )
    others = [
        load_person(people_dir, n, referenced=False, lfw=(), out_dir=out_dir / "poses", scale=scale)
        for n in strangers
    ]
    refs = out_dir / "refs"
    labels = {}
    for person in people:
        assert person.reference is not None
        folder = refs / person.name.lower()
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(person.reference.path, folder / person.reference.path.name)
        labels[person.name.lower()] = person.name
    kinds: dict[Path, tuple[str, float]] = {s.path: ("lfw", 0.0) for s in missed}
    settings: dict[str, dict[str, float]] = {}
    for person in [*people, *others]:
        for variants in person.posed:
            for variant in variants.values():
                kinds[variant.source.path] = (variant.pose, variant.setting)
        settings[person.name] = {v.pose: v.setting for v in person.posed[0].values()}
    shots = turned_scenes(people, others, seed, frame_size)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    video = videos / video_name
    truth = write_video(video, shots, frame_size, fps)
    rows = label_frames(video, truth, pose_of_frames(shots, kinds), scale)
    poses_csv = out_dir / "poses.csv"
    write_poses(rows, poses_csv)
    return Turned(video, truth, tuple(rows), poses_csv, refs, labels, tuple(missed), settings)


# --------------------------------------------------------------------------------------
