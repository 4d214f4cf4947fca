"""A synthetic relative of a referenced person, beside them and apart, is never saved.

Real faces (``lfw_dev``), a real face morph (:mod:`faceripper.testing.morph`), a real
rendered H.264 video and real ``rip`` runs: Hu Jintao's most typical photo is his only
reference; the video shows three of his other photos (anchors: matched with confidence)
and a relative, morphs of those photos with Edmund Stoiber's (no reference), beside Hu in
the first shot and alone in three more. The relative's photos lie 0.41-0.50 from Hu's
reference and 0.38-0.40 from the nearest of his photos (the look-alike zone the video-adaptive
rules work in: clusters within 0.4 of anchors, shared views within 0.3, the near rule
0.4/0.45), so a looser rule takes him for Hu: ``--tolerance 0.5 --trust-references
--no-adapt`` saves him. At the defaults, none of his faces is saved and Hu's are.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from faceripper.testing import PlacedFace, Shot, evaluate, load_face_sources, load_truth, truth_path
from faceripper.testing.footage import _encode_photo, medoid
from faceripper.testing.morph import relative_photos
from faceripper.testing.render import write_video
from faceripper.writer import read_manifest

from conftest import clip_rip_args, run_cli

PERSON = "Hu_Jintao"
OTHER = "Edmund_Stoiber"


@pytest.fixture(scope="module")
def relative_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("relative")
    sources = load_face_sources(lfw / PERSON, identity=PERSON)
    encodings = np.stack([_encode_photo(s) for s in sources])
    typical = medoid(encodings)
    (base / "refs" / "hu").mkdir(parents=True)
    shutil.copy(sources[typical].path, base / "refs" / "hu")
    from_ref = np.linalg.norm(encodings - encodings[typical], axis=1)
    shown = [sources[int(i)] for i in np.argsort(from_ref)[1:4]]
    relatives = relative_photos(
        [s.path for s in shown],
        sorted((lfw / OTHER).glob("*.jpg")),
        encodings[typical],
        encodings,
        base / "relative",
        np.random.default_rng(3),
        n=3,
    )
    relative = load_face_sources([r.path for r in relatives], identity="relative")
    stranger = {"is_target": False}
    rooms = [((170, 150, 120), 2), ((60, 140, 90), 3), ((90, 110, 140), 4), ((120, 90, 80), 5)]
    shots = [
        Shot(
            30,
            (
                PlacedFace(shown[0], (170, 180), (180, 176), 110, 108),
                PlacedFace(relative[0], (470, 180), (462, 184), 110, 110, **stranger),  # type: ignore[arg-type]
            ),
            *rooms[0],
        ),
        Shot(
            25, (PlacedFace(relative[1], (320, 180), (326, 176), 112, 110, **stranger),), *rooms[1]
        ),  # type: ignore[arg-type]
        Shot(25, (PlacedFace(shown[1], (300, 180), (306, 184), 108, 110),), *rooms[2]),
        Shot(
            25,
            (
                PlacedFace(relative[2], (200, 180), (196, 186), 110, 112, **stranger),  # type: ignore[arg-type]
                PlacedFace(shown[2], (460, 180), (466, 176), 106, 108, is_target=True),
            ),
            *rooms[3],
        ),
    ]
    (base / "videos").mkdir()
    write_video(base / "videos" / "clip.mp4", shots, (640, 360), fps=30.0)
    truth_path(base / "videos" / "clip.mp4").rename(base / "clip.truth.csv")
    return {"base": base, "refs": base / "refs", "videos": base / "videos", "morphs": relatives}


def _rip(clip: dict[str, object], target: Path, *extra: str) -> object:
    result = run_cli(clip_rip_args(clip, target, "--min-size", "60", *extra))  # type: ignore[arg-type]
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    truth = load_truth(clip["base"] / "clip.truth.csv")  # type: ignore[operator]
    return evaluate(rows, truth, {"hu": PERSON}, min_size_px=60)


def test_a_morph_moves_from_one_face_to_the_other(testdata: Path) -> None:
    from faceripper.images import load_rgb
    from faceripper.testing.morph import encode_largest, landmarks68, morph_faces

    a = load_rgb(testdata / "lfw_dev" / PERSON / f"{PERSON}_0001.jpg")
    b = load_rgb(testdata / "lfw_dev" / OTHER / f"{OTHER}_0001.jpg")
    pa, pb = landmarks68(a), landmarks68(b)
    assert pa is not None and pb is not None
    same = morph_faces(a, pa, b, pb, 0.0)
    assert same.shape == a.shape and np.abs(same.astype(int) - a).mean() < 0.5
    ea, eb = encode_largest(a), encode_largest(b)
    distances = []
    for alpha in (0.2, 0.5, 0.8):
        e = encode_largest(morph_faces(a, pa, b, pb, alpha))
        assert e is not None and ea is not None and eb is not None
        distances.append((np.linalg.norm(e - ea), np.linalg.norm(e - eb)))
    to_a, to_b = zip(*distances, strict=True)
    assert to_a[0] < to_a[1] < to_a[2] and to_b[0] > to_b[1] > to_b[2]
    assert to_a[0] < 0.4 and to_b[2] < 0.4


def test_a_relative_of_a_referenced_person_is_never_saved(relative_clip, tmp_path):
    morphs = relative_clip["morphs"]
    assert len(morphs) == 3
    # In the look-alike zone: within 0.5 of the reference, near Hu's own photos.
    assert all(0.38 <= m.distance <= 0.5 for m in morphs), morphs
    assert all(0.34 <= m.nearest <= 0.45 for m in morphs), morphs
    loose = _rip(
        relative_clip, tmp_path / "loose", "--tolerance", "0.5", "--trust-references", "--no-adapt"
    )
    assert loose.on_distractor > 0  # a looser rule takes the relative for Hu
    default = _rip(relative_clip, tmp_path / "default", "--no-dedupe", "--segment-frames", "40")
    assert default.on_distractor == 0 and default.wrong_identity == 0
    assert default.correct > 0 and default.appearances_found == 3
