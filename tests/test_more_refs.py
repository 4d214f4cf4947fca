"""More reference photos per person: the spares are photos the footage never shows."""

from __future__ import annotations

import tempfile
from pathlib import Path

from faceripper.images import is_image_name
from faceripper.testing.footage import MOVING, _references, make_footage_scenes
from faceripper.testing.more_refs import footage_spares, shown_indices, write_refs
from faceripper.testing.scenes import load_face_sources

TARGETS = ("Hu_Jintao", "Julie_Gerberding", "Andy_Roddick")


def test_shown_indices_follow_the_looks_and_their_turns():
    assert shown_indices(6, 2, 1) == {0, 1}
    assert shown_indices(6, 2, 3) == {0, 1, 2, 3}
    assert shown_indices(3, 2, 3) == {0, 1, 2}
    assert shown_indices(1, 2, 3) == {0}


def test_spares_are_never_shown_nor_the_reference(testdata: Path, tmp_path: Path):
    lfw = testdata / "lfw_dev"
    views = int(MOVING["views_per_shot"])
    spares = footage_spares(lfw, TARGETS, seed=29, views_per_shot=views)
    photos = {n: sorted(p for p in (lfw / n).iterdir() if is_image_name(p)) for n in TARGETS}
    with tempfile.TemporaryDirectory() as scratch:
        reference, shown = _references(
            photos, sorted(TARGETS), Path(scratch) / "r", Path(scratch) / "t", 29, 0.5
        )
    stranger = load_face_sources(lfw / "Kim_Hong-up")
    shots, _ = make_footage_scenes(
        29, shown, stranger, "Hu_Jintao", frames_per_shot=(5, 6), views_per_shot=views
    )
    in_video = {
        path
        for shot in shots
        for face in shot.faces
        for path in [face.source.path, *(v.path for v in face.views)]
    }
    for name in TARGETS:
        assert spares[name], name  # each has 10 photos: some are never shown
        paths = {s.path for s in spares[name]}
        assert not paths & in_video
        assert reference[name].path not in paths
        assert paths | {reference[name].path} | (in_video & set(photos[name])) == {
            s.path for s in load_face_sources(photos[name])
        }
    refs = tmp_path / "refs"
    for name in TARGETS:
        (refs / name).mkdir(parents=True)
        (refs / name / reference[name].path.name).write_bytes(reference[name].path.read_bytes())
    (refs / ".faceripper-encodings.npz").write_bytes(b"cache")
    out = write_refs(refs, spares, 3, tmp_path / "refs-k3", tight=True)
    assert not (out / ".faceripper-encodings.npz").exists()
    for name in TARGETS:
        assert len(list((out / name).iterdir())) == 1 + min(2, len(spares[name]))
