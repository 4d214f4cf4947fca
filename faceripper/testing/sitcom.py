"""A ground-truth video modelled on a TV sitcom: one show's cast, tight-crop references.

:mod:`faceripper.testing.footage` models footage with LFW photos taken years apart, one or
two people a shot. This module builds what a TV clip shows from a cast folder such as
``face-api.js`` (8 characters of *The Big Bang Theory* x 5 tight face crops of about
150 px, one show, one period):

- **Tight-crop references**: one crop per referenced character, copied as it is to
  ``refs/<character>/`` (a user's reference from an earlier extraction or a face
  dataset); the other crops are that character's faces in the video. Two characters
  are **strangers**: shown, never referenced, never to be saved.
- **Several people a shot**: 2 to 4 characters, each at their own place (a seat at the
  table: their order left to right is fixed for the whole video), faces of 80 to 200 px
  in a 1280x720 frame, some moving (leaning, walking) by up to a face size or more.
- **Cuts every 1 to 5 s**, and close-up-to-close-up cuts: one character's close-up
  followed, on the same background, by another's at the same place and size (a
  referenced character after a stranger, and the other way round).
- Faces vary within a shot (the head turns to another crop of the character through a
  crossfade, per-frame jitter of size, place and light: :data:`faceripper.testing.
  footage.MOVING`), and per shot each face has its own camera (gain, noise, softness,
  prior JPEG, a hard shot now and then, blur on purpose with
  ``blur_probability``: such faces are labelled blurred in the truth).
- **Surroundings**: a tight crop pasted as it is has no head around the face and HOG
  misses many; each crop is tinted to a skin tone (the crops are greyscale), edge-
  extended and blurred outwards (:func:`faceripper.detector.pad_for_detection`), so the
  pasted region fades from the face into the background as a head does. Use
  :func:`hog_visibility` to measure the fraction HOG finds at rip's detection scale.

Every frame's faces are in the truth (who, where, target or stranger, blurred or not).

Typical use::

    sitcom = build_sitcom(Path("testdata/face-api.js"), Path("/tmp/sitcom"), seed=1)
    # faceripper rip --refs sitcom.refs --video sitcom.video ...
    metrics = evaluate(rows, sitcom.truth, sitcom.label_to_identity, min_size_px=100)
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceripper.images import is_image_name, load_rgb
from faceripper.testing.footage import MOVING, _background, _face
from faceripper.testing.render import write_ground_truth
from faceripper.testing.scenes import FaceSource, PlacedFace, Shot, faces_overlap
from faceripper.testing.truth import Truth

#: A tight crop is enlarged by this factor (Lanczos) before it is pasted, so that faces
#: up to about 190 px are drawn without enlarging them further.
SOURCE_SCALE = 1.5
#: Warm multipliers (R, G, B) that turn a greyscale crop into a skin tone.
SKIN_TINT = (1.0, 0.86, 0.74)
#: Face sizes in the frame (box height, px): ordinary shots, close-ups.
SHOT_SIZES = (80.0, 200.0)
CLOSE_UP_SIZES = (165.0, 200.0)


@dataclass(frozen=True)
class Sitcom:
    """A sitcom-like ground-truth video with its references.

    Attributes:
        video: the rendered video (H.264 ``.mp4`` or MJPG ``.avi``).
        truth: every face in every frame (also in ``truth_csv``).
        truth_csv: the truth file, outside the video folder.
        refs: one folder per referenced character with their one reference crop.
        refs_tight: the same as ``refs`` (the references are tight crops already; kept
            so that tools written for :class:`faceripper.testing.footage.Footage` work).
        label_to_identity: reference folder name -> identity in the truth.
        strangers: the characters shown without references.
        reference_photos: character -> the crop used as their reference (never shown).
        invisible_cuts: frame indices of cuts between two close-ups at one place.
        spare_references: ``(character, crops)`` pairs: more crops of each referenced
            character kept out of the video (``held_out`` > 1 in :func:`build_sitcom`),
            for a second or third reference photo; not in ``refs``.
    """

    video: Path
    truth: Truth
    truth_csv: Path
    refs: Path
    refs_tight: Path
    label_to_identity: dict[str, str]
    strangers: tuple[str, ...]
    reference_photos: dict[str, Path]
    invisible_cuts: tuple[int, ...]
    spare_references: tuple[tuple[str, tuple[Path, ...]], ...] = ()

    @property
    def stranger(self) -> str:
        """The first stranger (as :attr:`faceripper.testing.footage.Footage.stranger`)."""
        return self.strangers[0]


def prepare_crop(crop_path: Path, out_path: Path, identity: str) -> FaceSource:
    """A tight crop made ready to paste: tinted, edge-extended, enlarged, its face found.

    The crop (greyscale or colour) is tinted with :data:`SKIN_TINT` when grey, padded by
    half its side with blurred edge pixels (:func:`faceripper.detector.pad_for_detection`),
    enlarged by :data:`SOURCE_SCALE` and saved to ``out_path`` (PNG). The face box is
    HOG's (upsample 1) on that image, or on the crop itself, or else the crop's central
    86%: a tight crop is its face.
    """
    import cv2

    from faceripper.detector import detect_faces, pad_for_detection
    from faceripper.geometry import box_areas

    crop = load_rgb(crop_path).astype(np.float32)
    if np.ptp(crop - crop.mean(axis=2, keepdims=True)) < 1.0:  # greyscale
        crop = crop * np.asarray(SKIN_TINT, dtype=np.float32)
    rgb = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
    padded, pad = pad_for_detection(rgb, 0.5)
    height, width = padded.shape[:2]
    size = (round(width * SOURCE_SCALE), round(height * SOURCE_SCALE))
    image = np.ascontiguousarray(
        cv2.resize(padded, size, interpolation=cv2.INTER_LANCZOS4), dtype=np.uint8
    )
    boxes = detect_faces(image, upsample=1)
    if len(boxes):
        box = tuple(int(v) for v in boxes[int(np.argmax(box_areas(boxes)))])
    else:
        own = detect_faces(rgb, upsample=1)
        c_h, c_w = rgb.shape[:2]
        if len(own):
            top, right, bottom, left = (int(v) for v in own[int(np.argmax(box_areas(own)))])
        else:
            top, right, bottom, left = (
                round(c_h * 0.07), round(c_w * 0.93), round(c_h * 0.93), round(c_w * 0.07)
            )  # fmt: skip
        box = tuple(round((v + pad) * SOURCE_SCALE) for v in (top, right, bottom, left))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return FaceSource(out_path, identity, box)  # type: ignore[arg-type]


def load_cast(cast_dir: Path) -> dict[str, list[Path]]:
    """Character folder name -> their crops (sorted); characters with at least 2 crops.

    Raises:
        ValueError: fewer than 3 such characters.
    """
    folders = sorted(p for p in Path(cast_dir).iterdir() if p.is_dir())
    cast = {p.name: sorted(q for q in p.iterdir() if is_image_name(q)) for p in folders}
    cast = {name: crops for name, crops in cast.items() if len(crops) >= 2}
    if len(cast) < 3:
        raise ValueError(f"{cast_dir}: needs at least 3 folders of 2 or more face crops")
    return cast


def draw_roles(
    cast: dict[str, list[Path]], seed: int, n_strangers: int = 2, strangers: Sequence[str] = ()
) -> tuple[tuple[str, ...], dict[str, Path]]:
    """Which characters are strangers (``strangers``, or ``n_strangers`` drawn), and which
    crop is each other one's reference.

    Drawn with ``numpy.random.default_rng(seed)``: ``(strangers, {character: crop})``.
    """
    rng = np.random.default_rng(seed)
    names = sorted(cast)
    drawn = [names[int(i)] for i in rng.permutation(len(names))[:n_strangers]]
    strangers = tuple(sorted(strangers or drawn))
    references = {
        name: cast[name][int(rng.integers(len(cast[name])))]
        for name in names
        if name not in strangers
    }
    return strangers, references


def _seats(rng: np.random.Generator, names: Sequence[str]) -> dict[str, float]:
    """Each character's place at the table: a rank from left to right, for the video."""
    order = rng.permutation(len(names))
    return {names[int(i)]: float(k) for k, i in enumerate(order)}


def _group_shot(
    rng: np.random.Generator,
    people: Sequence[tuple[str, FaceSource, tuple[FaceSource, ...]]],
    targets: set[str],
    frames: int,
    frame_size: tuple[int, int],
    blur_probability: float,
    move_probability: float,
    wobble: float,
) -> tuple[PlacedFace, ...]:
    """2 to 4 faces side by side, left to right in the given order, none overlapping."""
    width, height = frame_size
    k = len(people)
    slot = width / k
    biggest = min(SHOT_SIZES[1], slot / 2.3)
    placed: list[PlacedFace] = []
    for index, (name, source, views) in enumerate(people):
        for attempt in range(12):
            size = float(rng.uniform(SHOT_SIZES[0], max(biggest, SHOT_SIZES[0] + 1)))
            if attempt >= 6:
                size = SHOT_SIZES[0] + (size - SHOT_SIZES[0]) * 0.3
            x = (index + 0.5) * slot + float(rng.uniform(-0.15, 0.15)) * slot
            y = float(rng.uniform(0.3, 0.62)) * height
            moving = rng.random() < move_probability and attempt < 9
            move_px = float(rng.uniform(0.5, 1.2)) * size if moving else 8.0
            face = _face(
                rng, source, (x, y), frames, name in targets, blur_probability, frame_size,
                size=size, move_px=move_px, hard_probability=0.25, views=views, wobble=wobble,
            )  # fmt: skip
            if not any(faces_overlap(face, other, frames) for other in placed):
                break
        else:
            continue  # no room for this one: the shot shows one fewer
        placed.append(face)
    return tuple(placed)


def make_sitcom_scenes(
    seed: int,
    shown: dict[str, list[FaceSource]],
    targets: set[str],
    *,
    frame_size: tuple[int, int] = (1280, 720),
    n_shots: int = 16,
    invisible_cuts: int = 3,
    frames_per_shot: tuple[int, int] = (25, 125),
    people_per_shot: tuple[int, int] = (2, 4),
    blur_probability: float = 0.12,
    move_probability: float = 0.3,
    views_per_shot: int = int(MOVING["views_per_shot"]) - 1,
    wobble: float = float(MOVING["wobble"]),
) -> tuple[list[Shot], list[int]]:
    """Shots of 2 to 4 characters at their places, and close-up-to-close-up cuts.

    ``shown``: character -> the crops shown of them; ``targets``: the referenced ones.
    Characters are drawn for each shot least-seen first (ties at random), so every one
    appears about as often; each face is one crop turning to ``views_per_shot`` more of
    that character within the shot. ``invisible_cuts`` pairs of close-ups (a target
    after a stranger first, when there are strangers) are placed at random among the
    ``n_shots`` group shots. Shot lengths are drawn from ``frames_per_shot``.

    Returns:
        The shots and the indices of the shots that begin with an invisible cut.
    """
    rng = np.random.default_rng(seed)
    names = sorted(shown)
    seats = _seats(rng, names)
    seen = dict.fromkeys(names, 0)
    next_crop = dict.fromkeys(names, 0)

    def face_of(name: str) -> tuple[FaceSource, tuple[FaceSource, ...]]:
        crops = shown[name]
        first = next_crop[name] % len(crops)
        next_crop[name] += 1
        views = tuple(crops[(first + j) % len(crops)] for j in range(1, views_per_shot + 1))
        return crops[first], tuple(v for v in views if v is not crops[first])

    def least_seen(k: int, exclude: Sequence[str] = (), skip: Sequence[str] = ()) -> list[str]:
        # ``skip``: not chosen, yet drawn for as ``exclude`` is not (the same random draws
        # with or without it).
        pool = [n for n in names if n not in exclude]
        noise = rng.random(len(pool))
        ranked = sorted(range(len(pool)), key=lambda i: (seen[pool[i]], noise[i]))
        chosen = [pool[i] for i in ranked if pool[i] not in skip][:k]
        for name in chosen:
            seen[name] += 1
        return chosen

    def n_frames() -> int:
        return int(rng.integers(frames_per_shot[0], frames_per_shot[1] + 1))

    shots: list[Shot] = []
    invisible: list[int] = []
    cut_at = set(rng.choice(n_shots, size=min(invisible_cuts, n_shots), replace=False).tolist())
    strangers = [n for n in names if n not in targets]
    for index in range(n_shots):
        colour, texture = _background(rng)
        if index in cut_at:
            pair = least_seen(2)
            if strangers and len(invisible) == 0:  # a stranger, then a target, same place
                pair = [strangers[int(rng.integers(len(strangers)))]]
                pair += least_seen(1, exclude=pair, skip=strangers)
            centre = (float(rng.uniform(0.4, 0.6)) * frame_size[0], 0.45 * frame_size[1])
            size = float(rng.uniform(*CLOSE_UP_SIZES))
            for k, name in enumerate(pair):
                if k == 1:
                    invisible.append(len(shots))
                frames = n_frames()
                source, views = face_of(name)
                face = _face(
                    rng, source, centre, frames, name in targets, blur_probability / 2,
                    frame_size, size=size, move_px=4.0, hard_probability=0.2, views=views,
                    wobble=wobble,
                )  # fmt: skip
                shots.append(Shot(frames, (face,), colour, texture))
            continue
        k = int(rng.integers(people_per_shot[0], people_per_shot[1] + 1))
        chosen = sorted(least_seen(k), key=lambda n: seats[n])
        frames = n_frames()
        people = [(name, *face_of(name)) for name in chosen]
        faces = _group_shot(
            rng, people, targets, frames, frame_size, blur_probability, move_probability, wobble
        )
        shots.append(Shot(frames, faces, colour, texture))
    return shots, invisible


def build_sitcom(
    cast_dir: Path,
    out_dir: Path,
    *,
    seed: int = 1,
    draw: int | None = None,
    characters: Sequence[str] = (),
    strangers: Sequence[str] = (),
    n_strangers: int = 2,
    n_shots: int = 16,
    invisible_cuts: int = 3,
    frames_per_shot: tuple[int, int] = (25, 125),
    people_per_shot: tuple[int, int] = (2, 4),
    blur_probability: float = 0.12,
    frame_size: tuple[int, int] = (1280, 720),
    fps: float = 25.0,
    video_name: str = "sitcom.mp4",
    held_out: int = 1,
) -> Sitcom:
    """Render a sitcom-like ground-truth video from a cast folder (``face-api.js``).

    The cast is every character of ``cast_dir`` (or those named in ``characters``).
    ``draw`` (default ``seed``) picks the roles (:func:`draw_roles`): the strangers
    (``strangers``, or ``n_strangers`` drawn) and each referenced character's reference
    crop, copied to ``out_dir/refs/<character>/``;
    ``seed`` the scenes (:func:`make_sitcom_scenes`). The crops made ready to paste go to
    ``out_dir/sources/``, the video to ``out_dir/videos/<video_name>`` (``.mp4``: H.264;
    ``.avi``: Motion JPEG), its truth to ``out_dir/<video_name>.truth.csv``.
    ``held_out`` > 1 keeps that many crops of each referenced character out of the video:
    the reference and the next ones in name order (:attr:`Sitcom.spare_references`).
    """
    out_dir = Path(out_dir)
    cast = load_cast(cast_dir)
    if characters:
        missing = sorted(set(characters) - set(cast))
        if missing:
            raise ValueError(f"{cast_dir}: no folder of 2 or more crops for {', '.join(missing)}")
        cast = {name: cast[name] for name in sorted(characters)}
    if set(strangers) - set(cast):
        raise ValueError(f"strangers {sorted(set(strangers) - set(cast))} are not in the cast")
    roles = draw_roles(cast, seed if draw is None else draw, n_strangers, strangers)
    strangers, references = roles
    spares = {
        name: tuple(
            cast[name][(cast[name].index(crop) + j) % len(cast[name])]
            for j in range(1, min(held_out, len(cast[name]) - 1))
        )
        for name, crop in references.items()
    }
    refs = out_dir / "refs"
    shutil.rmtree(refs, ignore_errors=True)
    shown: dict[str, list[FaceSource]] = {}
    for name, crops in cast.items():
        shown[name] = [
            prepare_crop(crop, out_dir / "sources" / name / f"{crop.stem}.png", name)
            for crop in crops
            if crop != references.get(name) and crop not in spares.get(name, ())
        ]
        if name in references:
            (refs / name).mkdir(parents=True, exist_ok=True)
            shutil.copy(references[name], refs / name / references[name].name)
    shots, invisible = make_sitcom_scenes(
        seed,
        shown,
        set(references),
        frame_size=frame_size,
        n_shots=n_shots,
        invisible_cuts=invisible_cuts,
        frames_per_shot=frames_per_shot,
        people_per_shot=people_per_shot,
        blur_probability=blur_probability,
    )
    video, truth, truth_csv, starts = write_ground_truth(
        out_dir, video_name, shots, frame_size, fps
    )
    return Sitcom(
        video,
        truth,
        truth_csv,
        refs,
        refs,
        {name: name for name in references},
        strangers,
        dict(references),
        tuple(int(starts[i]) for i in invisible),
        tuple(sorted(spares.items())),
    )


def hog_visibility(
    video: Path, truth: Truth, scale: float, min_size_px: int, every: int = 5
) -> dict[str, tuple[int, int]]:
    """How many truth faces HOG finds at rip's detection ``scale`` (every ``every``-th
    frame; a face is found when a box overlaps it with IoU >= 0.4).

    Returns:
        ``{"in focus": (found, faces), "blurred": (found, faces)}`` over faces of at
        least ``min_size_px``.
    """
    from faceripper.detector import detect_faces_scaled
    from faceripper.geometry import as_boxes, iou
    from faceripper.video import iter_frames, scan_video

    counts = {"in focus": [0, 0], "blurred": [0, 0]}
    scan = scan_video(video)
    for frame in iter_frames(video, scan, 0, scan.frame_count):
        if frame.index % every:
            continue
        rows = [r for r in truth.in_frame(frame.index) if r.size_px >= min_size_px]
        if not rows:
            continue
        boxes = detect_faces_scaled(frame.rgb(), scale)
        for row in rows:
            kind = "blurred" if row.blur_sigma_px > 0 else "in focus"
            counts[kind][1] += 1
            if len(boxes) and float(iou(as_boxes([row.box]), boxes)[0].max()) >= 0.4:
                counts[kind][0] += 1
    return {k: (v[0], v[1]) for k, v in counts.items()}
