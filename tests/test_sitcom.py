"""Sitcom-like ground truth (``face-api.js``: one show's cast, tight face crops), real rip.

A short clip of three characters of *The Big Bang Theory*: Howard and Sheldon referenced
by one tight crop each (their other crops are their faces in the clip), Stuart a stranger
(his crops lie 0.61 from Sheldon's and 0.63 from Howard's, the nearest of the cast to
them). Shots of two characters side by side and a close-up-to-close-up cut at one place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from faceripper.testing import evaluate
from faceripper.testing.sitcom import Sitcom, build_sitcom, hog_visibility
from faceripper.writer import read_manifest

from conftest import run_cli

REFERENCED = ("howard", "sheldon")
STRANGER = "stuart"


@pytest.fixture(scope="module")
def sitcom(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Sitcom:
    return build_sitcom(
        testdata / "face-api.js",
        tmp_path_factory.mktemp("sitcom"),
        seed=3,
        characters=(*REFERENCED, STRANGER),
        strangers=(STRANGER,),
        n_shots=3,
        invisible_cuts=1,
        frames_per_shot=(10, 12),
        people_per_shot=(2, 2),
        blur_probability=0.0,
        frame_size=(640, 360),
    )


def test_roles_references_and_truth(sitcom):
    assert sitcom.strangers == (STRANGER,)
    assert sorted(p.name for p in sitcom.refs.iterdir()) == list(REFERENCED)
    for name, photo in sitcom.reference_photos.items():
        assert [p.name for p in (sitcom.refs / name).iterdir()] == [photo.name]
        # The reference crop is never shown: every shown face comes from another crop.
        assert not (sitcom.refs.parent / "sources" / name / f"{photo.stem}.png").exists()
    rows = list(sitcom.truth)
    assert {r.identity for r in rows} == {*REFERENCED, STRANGER}
    assert all(r.is_target == (r.identity != STRANGER) for r in rows)
    assert sitcom.invisible_cuts
    cut = sitcom.invisible_cuts[0]
    before, after = sitcom.truth.in_frame(cut - 1), sitcom.truth.in_frame(cut)
    assert len(before) == len(after) == 1 and before[0].identity != after[0].identity
    assert any(len(sitcom.truth.in_frame(r.frame)) == 2 for r in rows)


def test_hog_sees_the_pasted_crops_at_rips_scale(sitcom):
    found, faces = hog_visibility(sitcom.video, sitcom.truth, 68 / 80, 80, every=3)["in focus"]
    assert faces > 10 and found >= 0.9 * faces


def test_rip_saves_the_referenced_characters_never_the_stranger(sitcom, tmp_path):
    target = tmp_path / "faces"
    args = ["--refs", str(sitcom.refs), "--video", str(sitcom.video), "--target-dir"]
    result = run_cli(["rip", *args, str(target), "--min-size", "80", "--no-dedupe"])
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    metrics = evaluate(rows, sitcom.truth, sitcom.label_to_identity, min_size_px=80)
    assert metrics.on_distractor == 0 and metrics.wrong_identity == 0
    assert metrics.unmatched == 0
    saved = {r["label"] for r in rows if r["status"] == "saved"}
    assert saved == set(REFERENCED)
    assert metrics.eligible_appearances >= 3
    assert metrics.appearances_found == metrics.eligible_appearances
