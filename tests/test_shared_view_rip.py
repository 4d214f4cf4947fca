"""Shared views in ``rip`` (:func:`faceripper.adaptive.shared_views`), on a real video.

Lance Armstrong's one reference photo is ``Lance_Armstrong_0008``. In his first shot his
face shows ``_0005`` (0.31 from the photo: matched with confidence, an anchor) and then
turns to ``_0002``. In his second shot it shows ``_0001``, turns to ``_0002`` and then to
``_0007``: 0.46-0.48 from the photo, and as a whole track more than 0.4 from the first
shot, so neither the references nor the clustering of tracks take it; but it shows the
first shot's view ``_0002`` again, under another camera, and two different people's faces
never come that near. Hu Jintao (reference ``_0005``) is shown in one shot; his
look-alike Kim Hong-up, who has no reference, in another (0.42 from Hu's photo, 0.42 and
more from every face of Hu's): Kim shows no view of Hu, and is never saved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_adaptive_rip import _render_clip

from faceripper.testing import PlacedFace, Shot, evaluate, load_face_sources, load_truth
from faceripper.writer import JOURNAL_NAME, read_manifest

from conftest import clip_rip_args, run_cli

LANCE, HU, KIM = "Lance_Armstrong", "Hu_Jintao", "Kim_Hong-up"


@pytest.fixture(scope="module")
def clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    lfw = testdata / "lfw_dev"
    base = tmp_path_factory.mktemp("sharedview")
    for label, person, photo in (("lance", LANCE, "0008"), ("hu", HU, "0005")):
        (base / "refs" / label).mkdir(parents=True)
        shutil.copy(lfw / person / f"{person}_{photo}.jpg", base / "refs" / label)

    def face(person: str, photo: str):
        return load_face_sources([lfw / person / f"{person}_{photo}.jpg"], identity=person)[0]

    kim = load_face_sources(lfw / KIM, identity=KIM)[0]
    shots = [
        Shot(
            24,
            (
                PlacedFace(
                    face(LANCE, "0005"),
                    (320, 180),
                    (324, 178),
                    100,
                    100,
                    views=(face(LANCE, "0002"),),
                    view_changes=(0.7,),
                    fade=0.1,
                ),
            ),
            (90, 110, 140),
            1,
        ),
        Shot(
            30,
            (
                PlacedFace(
                    face(LANCE, "0001"),
                    (300, 190),
                    (296, 186),
                    100,
                    100,
                    views=(face(LANCE, "0002"), face(LANCE, "0007")),
                    view_changes=(0.33, 0.67),
                    fade=0.1,
                ),
            ),
            (170, 150, 120),
            2,
        ),
        Shot(
            12, (PlacedFace(face(HU, "0008"), (330, 180), (326, 184), 100, 100),), (60, 140, 90), 3
        ),
        Shot(
            12,
            (PlacedFace(kim, (310, 180), (316, 176), 100, 100, is_target=False),),
            (120, 90, 150),
            4,
        ),
    ]
    return _render_clip(base, shots)


def test_a_shot_showing_a_view_of_the_persons_anchor_is_saved_and_the_lookalike_is_not(
    clip, tmp_path
):
    target = tmp_path / "faces"
    result = run_cli(clip_rip_args(clip, target, "--min-size", "60", "--no-dedupe"))
    assert result.exit_code == 0, result.stderr
    rows = read_manifest(target / "manifest.csv")
    metrics = evaluate(rows, load_truth(clip["truth"]), {"lance": LANCE, "hu": HU}, 60)
    print(metrics.as_dict())
    assert metrics.precision == 1.0 and metrics.on_distractor == 0  # Kim: never
    assert metrics.appearances_found == 3  # both of Lance's shots, and Hu's
    records = [json.loads(line) for line in (target / JOURNAL_NAME).read_text().splitlines()]
    (adapted,) = [r for r in records if "adapted" in r]
    assert adapted["counts"].get("adapt_shared_view", 0) >= 1, adapted["counts"]
