"""A ground-truth video modelled on real footage: one reference photo, many looks.

:mod:`faceripper.testing` composites photos into frames; this module arranges them the
way a TV clip or a home video shows people, which is what makes identity hard there:

- **One reference photo per person**, their most typical one (:func:`medoid`), never
  shown. The video shows a person on one or two occasions (*looks*: two other photos
  of them, the second the nearest to the first, :func:`session_order`), each in two
  shots: a true match lies anywhere from 0.2 to 0.6 from the reference, as on real
  footage (0.18 to 0.49 measured on an 82 s clip), while a person's faces in one
  video resemble each other more than they resemble the reference.
- **Each shot is its own camera**: face size (up to the photo's native size), slight
  motion and zoom, brightness, pixel noise, a mild softness, and the compression the
  face went through before (JPEG 40-90) all vary per shot; the whole video is H.264
  (``.mp4``, through PyAV) or Motion JPEG (``.avi``).
- **A look-alike stranger**: the person without references whose photos lie nearest
  to a referenced person's reference photo. They appear alone and beside their
  look-alike (as a father beside his son at the dinner table), and must never be saved.
- **Cuts a frame difference misses**: a close-up followed, on the same background, by
  another person's close-up at the same place and size.
- **Faces that vary within a shot** (:data:`MOVING`, an option; off by default so that
  old seeds give the same video): the head turns, once or twice a shot, to other photos
  of the person through a short crossfade, and size, place and light jitter frame to
  frame, so that a track's encodings spread as a real face's do.
- **Tight-crop references**: the same reference photos cut to the face box (no margin)
  and enlarged to 200 px, as users' crops from an earlier extraction or a face dataset
  are, in a second reference folder.

Typical use::

    footage = build_footage(Path("testdata/lfw_dev"), Path("/tmp/footage"), seed=13)
    # faceripper rip --refs footage.refs --video footage.video ...
    metrics = evaluate(rows, footage.truth, footage.label_to_identity, min_size_px=80)

Pixels are RGB uint8 as in :mod:`faceripper.testing`.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceripper.images import is_image_name, load_rgb
from faceripper.testing import (
    FaceSource,
    PlacedFace,
    Shot,
    Truth,
    faces_overlap,
    load_face_sources,
)
from faceripper.testing.render import write_ground_truth

#: Side, in pixels, of a tight-crop reference photo (the face box enlarged to it).
TIGHT_SIDE_PX = 200

#: ``build_footage`` options for faces that vary within a shot, as real faces do (the
#: head turns, the expression and the light change): up to three photos of the person
#: per shot, crossfaded, with per-frame jitter of 2% of the face size.
MOVING: dict[str, int | float] = {"views_per_shot": 3, "wobble": 0.02}


@dataclass(frozen=True)
class Footage:
    """A footage-like ground-truth video with its references.

    Attributes:
        video: the rendered video.
        truth: the truth of every face in every frame (also in ``truth_csv``).
        truth_csv: the truth file, kept outside the video folder.
        refs: one folder per target person holding one reference photo, never shown.
        refs_tight: the same photos cut to the face box (no margin), 200 px.
        label_to_identity: reference folder name -> identity in the truth.
        stranger: the look-alike stranger's identity (no references; never to be saved).
        lookalike: the referenced person the stranger resembles.
        invisible_cuts: frame indices of cuts between two close-ups at one place.
    """

    video: Path
    truth: Truth
    truth_csv: Path
    refs: Path
    refs_tight: Path
    label_to_identity: dict[str, str]
    stranger: str
    lookalike: str
    invisible_cuts: tuple[int, ...]


def _encode_photo(source: FaceSource) -> np.ndarray:
    from faceripper.encoder import encode_faces
    from faceripper.geometry import as_boxes

    faces = encode_faces(load_rgb(source.path), as_boxes([source.box]))
    return faces.encodings[0]


def nearest_stranger(
    references: dict[str, FaceSource], others: dict[str, list[FaceSource]]
) -> tuple[str, str]:
    """The person of ``others`` whose photos lie nearest a reference photo, and whose.

    Nearness of a person to a reference is the median distance of their photos'
    encodings to it. Returns ``(stranger, referenced person)``.
    """
    ref_encodings = {name: _encode_photo(source) for name, source in sorted(references.items())}
    return nearest_to(ref_encodings, others)


def medoid(encodings: np.ndarray) -> int:
    """Index of the most typical photo (encodings ``(n, 128)``): the least summed
    distance to the others.

    A user picks a clear, typical photo of a person as their reference; with it, the
    person's other photos lie 0.2 to 0.6 away, as true matches do on real footage.
    """
    distances = np.linalg.norm(encodings[:, None] - encodings[None], axis=2)
    return int(np.argmin(distances.sum(axis=1)))


def session_order(encodings: np.ndarray, rng: np.random.Generator) -> list[int]:
    """An order of a person's photos (encodings ``(n, 128)``) for one video: a random
    first one, then each time the photo nearest to those already chosen.

    One video shows a person on one or two occasions, and their faces in it resemble
    each other more than an older reference photo: the first looks of this order are
    such an occasion (LFW's photos of a person come from different years).
    """
    if len(encodings) == 0:
        return []
    chosen = [int(rng.integers(len(encodings)))]
    while len(chosen) < len(encodings):
        rest = [i for i in range(len(encodings)) if i not in chosen]
        distances = np.linalg.norm(encodings[rest][:, None] - encodings[chosen][None], axis=2)
        chosen.append(rest[int(np.argmin(distances.min(axis=1)))])
    return chosen


def nearest_to(
    ref_encodings: dict[str, np.ndarray], others: dict[str, list[FaceSource]]
) -> tuple[str, str]:
    """:func:`nearest_stranger` with the references' encodings given."""
    best: tuple[float, str, str] | None = None
    for name, photos in sorted(others.items()):
        encodings = np.stack([_encode_photo(p) for p in photos])
        for ref_name, ref in ref_encodings.items():
            distance = float(np.median(np.linalg.norm(encodings - ref, axis=1)))
            if best is None or distance < best[0]:
                best = (distance, name, ref_name)
    if best is None:
        raise ValueError("no candidate strangers")
    return best[1], best[2]


def write_tight_crop(source: FaceSource, target: Path, side_px: int = TIGHT_SIDE_PX) -> None:
    """Save the face box of ``source`` alone (no margin), resized to ``side_px`` square."""
    import cv2

    image = load_rgb(source.path)
    top, right, bottom, left = source.box
    height, width = image.shape[:2]
    crop = image[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
    crop = np.asarray(
        cv2.resize(np.ascontiguousarray(crop), (side_px, side_px), interpolation=cv2.INTER_LINEAR),
        dtype=np.uint8,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(target), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])


def _camera(
    rng: np.random.Generator, blur_probability: float, hard_probability: float
) -> dict[str, float | int | bool]:
    """One shot's look of one face: mirror, gain, noise, softness, prior JPEG, blur.

    With ``hard_probability`` the shot is a hard one for a face encoder (dark and
    noisy, soft, or heavily compressed), still in focus.
    """
    camera: dict[str, float | int | bool] = {
        "mirror": bool(rng.random() < 0.5),
        "gain": round(float(rng.uniform(0.8, 1.2)), 3),
        "noise": round(float(rng.uniform(0.0, 4.0)), 2),
        "soften_px": round(float(rng.uniform(0.0, 0.8)), 2),
        "jpeg_quality": int(rng.integers(40, 91)),
    }
    if rng.random() < hard_probability:
        kind = int(rng.integers(3))
        if kind == 0:
            camera["gain"] = round(float(rng.uniform(0.5, 0.65)), 3)
            camera["noise"] = round(float(rng.uniform(5.0, 7.0)), 2)
        elif kind == 1:
            camera["soften_px"] = round(float(rng.uniform(0.7, 0.9)), 2)
        else:
            camera["jpeg_quality"] = int(rng.integers(10, 21))
    blurred = rng.random() < blur_probability
    camera["blur"] = round(float(rng.uniform(0.03, 0.06)), 4) if blurred else 0.0
    return camera


def _face(
    rng: np.random.Generator,
    source: FaceSource,
    centre: tuple[float, float],
    n_frames: int,
    is_target: bool,
    blur_probability: float,
    frame_size: tuple[int, int],
    size: float | None = None,
    move_px: float = 15.0,
    hard_probability: float = 0.35,
    views: Sequence[FaceSource] = (),
    fade_frames: int = 6,
    wobble: float = 0.0,
) -> PlacedFace:
    size0 = size if size is not None else float(rng.uniform(85.0, 112.0))
    size0 = round(min(size0, source.size), 2)
    size1 = round(min(size0 * math.exp(float(rng.uniform(-0.08, 0.08))), source.size), 2)
    angle = float(rng.uniform(0, 2 * math.pi))
    distance = float(rng.uniform(0, move_px)) * (n_frames > 1)
    end = (centre[0] + distance * math.cos(angle), centre[1] + distance * math.sin(angle))
    half = max(size0, size1) / 2 * max(source.aspect, 1.0)
    width, height = frame_size

    def clamp(xy: tuple[float, float]) -> tuple[float, float]:
        return (
            round(min(max(xy[0], half + 1), width - half - 1), 2),
            round(min(max(xy[1], half + 1), height - half - 1), 2),
        )

    camera = _camera(rng, blur_probability, hard_probability)
    moving: dict[str, object] = {}
    if views and n_frames > 2:
        # The head turns once or twice during the shot: the face moves to another
        # photo of the person, through a short crossfade.
        n_changes = int(rng.integers(1, 3))
        changes = sorted(round(float(t), 4) for t in rng.uniform(0.2, 0.8, n_changes))
        moving = {
            "views": tuple(views),
            "view_changes": tuple(changes),
            "fade": round(min(fade_frames / n_frames, 0.3), 4),
        }
    if wobble > 0:
        moving["wobble"] = wobble
    return PlacedFace(
        source,
        clamp(centre),
        clamp(end),
        size0,
        size1,
        is_target=is_target,
        **camera,  # type: ignore[arg-type]
        **moving,  # type: ignore[arg-type]
    )


def make_footage_scenes(
    seed: int,
    shown: dict[str, list[FaceSource]],
    stranger: list[FaceSource],
    lookalike: str,
    *,
    frame_size: tuple[int, int] = (640, 360),
    shots_per_person: int = 4,
    looks_per_person: int = 2,
    stranger_shots: int = 3,
    invisible_cuts: int = 3,
    frames_per_shot: tuple[int, int] = (30, 60),
    blur_probability: float = 0.1,
    views_per_shot: int = 1,
    wobble: float = 0.0,
) -> tuple[list[Shot], list[int]]:
    """Shots of one or two people, some pairs of close-ups cut at one place.

    Each target person appears in ``shots_per_person`` shots showing, in turn, their
    first ``looks_per_person`` photos (a video shows a person on one or two occasions,
    each in several shots: one look, another camera each time); the stranger in
    ``stranger_shots``, the first of them beside ``lookalike``. ``invisible_cuts``
    times, a single close-up is followed by another person's close-up on the same
    background at the same place and size.

    With ``views_per_shot`` > 1, a face is not one still photo through its shot: it
    turns, once or twice, to the next photos of the person (their order in ``shown``,
    or the stranger's other photos), up to ``views_per_shot`` photos a shot, through a
    crossfade of about 6 frames; ``wobble`` adds per-frame jitter of size, place and
    light (a fraction of the face size, e.g. 0.02). With the defaults (1 and 0) the
    shots are exactly those of the generator without them, for the same seed.

    Returns:
        The shots and the indices of the shots that begin with an invisible cut.
    """
    rng = np.random.default_rng(seed)
    width, height = frame_size
    appearances, stranger_apps, turns = _appearances(
        rng, shown, stranger, shots_per_person, looks_per_person, stranger_shots, views_per_shot
    )

    def moving(source: FaceSource) -> dict[str, object]:
        return {"views": turns.get(source.path, ()), "wobble": wobble}

    pool = [appearances[int(i)] for i in rng.permutation(len(appearances))]
    pool += stranger_apps[1:]
    pool = [pool[int(i)] for i in rng.permutation(len(pool))]

    def n_frames() -> int:
        return int(rng.integers(frames_per_shot[0], frames_per_shot[1] + 1))

    shots: list[Shot] = []
    invisible: list[int] = []
    # The stranger beside their look-alike, first (a family at the table).
    pair = next(i for i, a in enumerate(pool) if a[0] == lookalike)
    together = [pool.pop(pair), stranger_apps[0]]
    left_right = [(0.28 * width, 0.47 * height), (0.72 * width, 0.5 * height)]
    frames = n_frames()
    colour, texture = _background(rng)
    faces = tuple(
        _face(rng, src, xy, frames, is_t, blur_probability, frame_size, **moving(src))  # type: ignore[arg-type]
        for (_, src, is_t), xy in zip(together, left_right, strict=True)
    )
    shots.append(Shot(frames, faces, colour, texture))
    cuts_left = invisible_cuts
    while pool:
        first = pool.pop(0)
        partner = next((i for i, a in enumerate(pool) if a[0] != first[0]), None)
        colour, texture = _background(rng)
        if cuts_left and partner is not None:
            # A close-up, then another person's close-up at the same place.
            second = pool.pop(partner)
            centre = (float(rng.uniform(0.4, 0.6)) * width, float(rng.uniform(0.45, 0.55)) * height)
            size = float(rng.uniform(100.0, 115.0))
            for k, (_, src, is_t) in enumerate((first, second)):
                if k == 1:
                    invisible.append(len(shots))
                frames = n_frames()
                face = _face(
                    rng, src, centre, frames, is_t, 0.0, frame_size, size=size, move_px=4.0,
                    **moving(src),  # type: ignore[arg-type]
                )  # fmt: skip
                shots.append(Shot(frames, (face,), colour, texture))
            cuts_left -= 1
            continue
        frames = n_frames()
        chosen = [first]
        if partner is not None and rng.random() < 0.6:
            chosen.append(pool.pop(partner))
        spots = left_right if len(chosen) == 2 else [(0.5 * width, 0.5 * height)]
        placed: list[PlacedFace] = []
        for (_, src, is_t), (x, y) in zip(chosen, spots, strict=True):
            jitter = (x + float(rng.uniform(-30, 30)), y + float(rng.uniform(-25, 25)))
            args = (frames, is_t, blur_probability, frame_size)
            face = _face(rng, src, jitter, *args, **moving(src))  # type: ignore[arg-type]
            if any(faces_overlap(face, other, frames) for other in placed):
                face = _face(rng, src, (x, y), *args, **moving(src))  # type: ignore[arg-type]
            placed.append(face)
        shots.append(Shot(frames, tuple(placed), colour, texture))
    return shots, invisible


def _background(rng: np.random.Generator) -> tuple[tuple[int, int, int], int]:
    """A shot's background: its colour and its texture's seed."""
    colour = tuple(int(c) for c in rng.integers(40, 216, 3))
    return colour, int(rng.integers(2**31))  # type: ignore[return-value]


def _appearances(
    rng: np.random.Generator,
    shown: dict[str, list[FaceSource]],
    stranger: list[FaceSource],
    shots_per_person: int,
    looks_per_person: int,
    stranger_shots: int,
    views_per_shot: int,
) -> tuple[
    list[tuple[str, FaceSource, bool]],
    list[tuple[str, FaceSource, bool]],
    dict[Path, tuple[FaceSource, ...]],
]:
    """:func:`make_footage_scenes`' ``(identity, photo, is_target)`` appearances of the
    targets (each person's photos without repeats) and of the stranger, and the other
    views each shown photo turns to (none when ``views_per_shot`` <= 1)."""
    appearances: list[tuple[str, FaceSource, bool]] = []
    turns: dict[Path, tuple[FaceSource, ...]] = {}

    def other_views(photos: Sequence[FaceSource], first: int) -> tuple[FaceSource, ...]:
        n = min(views_per_shot, len(photos))
        return tuple(photos[(first + j) % len(photos)] for j in range(1, n))

    for name in sorted(shown):
        looks = shown[name][:looks_per_person]
        for k in range(shots_per_person):
            appearances.append((name, looks[k % len(looks)], True))
        for m in range(len(looks)):
            turns[looks[m].path] = other_views(shown[name], m)
    stranger_order = rng.permutation(len(stranger))
    stranger_apps = [
        (stranger[0].identity, stranger[int(stranger_order[k % len(stranger)])], False)
        for k in range(stranger_shots)
    ]
    for k in range(len(stranger)):
        turns.setdefault(stranger[k].path, other_views(stranger, k))
    return appearances, stranger_apps, (turns if views_per_shot > 1 else {})


def _references(
    photos: dict[str, list[Path]],
    chosen: Sequence[str],
    refs: Path,
    tight: Path,
    seed: int,
    max_ref_distance: float,
) -> tuple[dict[str, FaceSource], dict[str, list[FaceSource]]]:
    """Each target's reference (its most typical photo, :func:`medoid`), copied to
    ``refs/<name>/`` and cut tight in ``tight/<name>/``, and the photos to show of it (those
    within ``max_ref_distance`` of the reference, in :func:`session_order`).

    Raises:
        ValueError: a target has fewer than 2 photos with a face, or none near its reference.
    """
    looks_rng = np.random.default_rng(seed + 1)
    reference: dict[str, FaceSource] = {}
    shown: dict[str, list[FaceSource]] = {}
    for name in chosen:
        sources = load_face_sources(photos[name], identity=name)
        if len(sources) < 2:
            raise ValueError(f"{name}: needs at least 2 photos with a face")
        encodings = np.stack([_encode_photo(source) for source in sources])
        typical = medoid(encodings)
        reference[name] = sources[typical]
        from_ref = np.linalg.norm(encodings - encodings[typical], axis=1)
        rest = [i for i in range(len(sources)) if i != typical and from_ref[i] <= max_ref_distance]
        if not rest:
            raise ValueError(f"{name}: no photo within {max_ref_distance} of the reference")
        shown[name] = [sources[rest[i]] for i in session_order(encodings[rest], looks_rng)]
        (refs / name).mkdir(parents=True, exist_ok=True)
        shutil.copy(reference[name].path, refs / name / reference[name].path.name)
        write_tight_crop(reference[name], tight / name / reference[name].path.name)
    return reference, shown


def build_footage(
    people_dir: Path,
    out_dir: Path,
    *,
    seed: int = 13,
    n_targets: int = 6,
    targets: Sequence[str] = (),
    stranger: str | None = None,
    shots_per_person: int = 4,
    looks_per_person: int = 2,
    stranger_shots: int = 3,
    invisible_cuts: int = 3,
    frames_per_shot: tuple[int, int] = (25, 45),
    blur_probability: float = 0.1,
    views_per_shot: int = 1,
    wobble: float = 0.0,
    max_ref_distance: float = 0.5,
    frame_size: tuple[int, int] = (640, 360),
    fps: float = 30.0,
    video_name: str = "footage.mp4",
) -> Footage:
    """Render a footage-like ground-truth video from a folder of person folders (LFW).

    Targets are ``targets``, or ``n_targets`` people with at least 5 photos drawn with
    ``numpy.random.default_rng(seed)``. Each target's most typical photo
    (:func:`medoid`) is their only reference; only their photos within
    ``max_ref_distance`` of it are shown (on real footage true matches lay 0.18 to 0.49
    from a single reference photo; LFW photos of one person span years, and farther ones
    would model nothing a safe rule could find) (``out_dir/refs/<name>/``, and cut tight in
    ``out_dir/refs_tight/<name>/``); the others appear in the video. The stranger is
    ``stranger`` or :func:`nearest_stranger` among everyone else (this encodes every
    photo once: about half a minute for ``lfw_dev``). The video goes to
    ``out_dir/videos/<video_name>`` (``.mp4``: H.264; ``.avi``: Motion JPEG), its truth
    to ``out_dir/<video_name>.truth.csv``.

    ``views_per_shot`` and ``wobble``: faces that vary within a shot
    (:func:`make_footage_scenes`; :data:`MOVING` is the preset measured in
    ``docs/quality.md``); the defaults give the still-photo shots of earlier versions,
    the same video for the same seed.
    """
    folders = sorted(p for p in Path(people_dir).iterdir() if p.is_dir())
    photos = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    if targets:
        chosen = sorted(targets)
    else:
        candidates = [name for name, files in photos.items() if len(files) >= 8]
        order = np.random.default_rng(seed).permutation(len(candidates))[:n_targets]
        chosen = sorted(candidates[int(i)] for i in order)
    refs, tight = Path(out_dir) / "refs", Path(out_dir) / "refs_tight"
    reference, shown = _references(photos, chosen, refs, tight, seed, max_ref_distance)
    others = {
        name: load_face_sources(files, identity=name)
        for name, files in photos.items()
        if name not in chosen and (stranger is None or name == stranger)
    }
    others = {k: v for k, v in others.items() if v}
    if stranger is None:
        stranger, lookalike = nearest_stranger(reference, others)
    else:
        if stranger not in others:
            raise ValueError(f"{stranger}: not in {people_dir} or has no face")
        lookalike = nearest_stranger(reference, {stranger: others[stranger]})[1]
    shots, invisible = make_footage_scenes(
        seed,
        shown,
        others[stranger],
        lookalike,
        frame_size=frame_size,
        shots_per_person=shots_per_person,
        looks_per_person=looks_per_person,
        stranger_shots=stranger_shots,
        invisible_cuts=invisible_cuts,
        frames_per_shot=frames_per_shot,
        blur_probability=blur_probability,
        views_per_shot=views_per_shot,
        wobble=wobble,
    )
    video, truth, truth_csv, starts = write_ground_truth(
        Path(out_dir), video_name, shots, frame_size, fps
    )
    return Footage(
        video,
        truth,
        truth_csv,
        refs,
        tight,
        {name: name for name in chosen},
        stranger,
        lookalike,
        tuple(int(starts[i]) for i in invisible),
    )
