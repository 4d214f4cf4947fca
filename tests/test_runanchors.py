"""Anchors from earlier videos (:mod:`faceripper.runanchors`): the gallery and the rule."""

from __future__ import annotations

import numpy as np
import pytest
from test_adaptive import HU, KIM, TOLERANCE, pending, unit
from test_adaptive import lfw_encodings as lfw_fixture  # noqa: F401 (the fixture)

from faceripper import runanchors
from faceripper.adaptive import SHARED_VIEW, decide_video
from faceripper.heldback import Adoption, Anchor
from faceripper.learned import Learned
from faceripper.runanchors import NEW_LOOK, PER_PERSON, PER_VIDEO, Gallery, gallery_of, lend


@pytest.fixture(scope="module")
def faces(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    """Real encodings of Hu Jintao, Kim Hong-up and Julie Gerberding (test_adaptive's)."""
    return request.getfixturevalue("lfw_fixture")


def test_a_video_adds_few_new_looks_and_a_person_holds_a_bounded_number():
    gallery = Gallery()
    base = unit(1)
    same_look = np.stack([base + 0.02 * unit(10 + i) for i in range(20)])
    added = gallery.add([Anchor(0, 0, 10, same_look)])
    assert len(added[0]) == 1  # one look: the rest lie within NEW_LOOK of it
    looks = np.stack([unit(100 + i) for i in range(30)])  # far apart from each other
    added = gallery.add([Anchor(0, 20, 30, looks[:15]), Anchor(0, 40, 50, looks[15:])])
    assert len(added[0]) == PER_VIDEO
    for k in range(20):
        gallery.add([Anchor(0, 0, 10, np.stack([unit(1000 * k + i) for i in range(10)]))])
    assert len(gallery.faces[0]) == PER_PERSON
    faces = gallery.faces[0]
    assert (np.linalg.norm(faces[:, None] - faces[None], axis=2) + np.eye(len(faces))).min() >= (
        NEW_LOOK - 1e-6
    )


def test_the_gallery_read_back_from_the_journal_is_the_same():
    gallery, entries = Gallery(), []
    for video in range(3):
        anchors = [
            Anchor(p, 0, 10, np.stack([unit(10 * video + 3 * p + i) for i in range(3)]))
            for p in (0, 2)
        ]
        entries.append(runanchors.to_json(gallery.add(anchors)))
    again = gallery_of(entries)
    assert sorted(again.faces) == sorted(gallery.faces) == [0, 2]
    for person in gallery.faces:
        assert np.array_equal(again.faces[person], gallery.faces[person])


def test_an_earlier_videos_anchor_lends_its_person_and_never_the_lookalike(faces):
    hu, kim = faces[HU], faces[KIM]
    gallery = Gallery()
    gallery.add([Anchor(0, 0, 30, hu[0:5])])  # an earlier video's anchor of Hu
    again = hu[3] + 0.15 * unit(7)  # photo 3 under another camera
    hu_later = pending(np.stack([hu[5], hu[6], again, again]), [0.45, 0.9], 100, 130)
    kim_alone = pending(np.stack([kim[0]] * 3), [0.43, 0.9], 200, 230, name="200.0")
    unconfirmed = pending(np.stack([again, again, hu[8]]), [0.39, 0.9], 300, 330, name="300.0")
    unconfirmed.decided = 0  # the references' word, no confident face, no anchor here
    tracks = [hu_later, kim_alone, unconfirmed]
    alone = decide_video(tracks, [], 2, TOLERANCE, trust_references=False)
    assert [d.reason for d in alone] == ["no anchors", "no anchors", "no anchor"]
    assert all(d.person == -1 for d in alone)
    decided = lend(tracks, [], alone, gallery.anchors(), 2, TOLERANCE)
    assert [(d.person, d.reason) for d in decided] == [
        (0, "run anchors"),
        (-1, "no anchors"),
        (0, "run anchors"),
    ]
    assert float(np.linalg.norm(gallery.faces[0] - kim[0], axis=1).min()) > SHARED_VIEW + 0.1


def test_never_beside_the_person_nor_near_another_persons_earlier_faces(faces):
    hu, julie = faces[HU], faces["Julie_Gerberding"]
    gallery = Gallery()
    gallery.add([Anchor(0, 0, 30, hu[0:5])])
    view = np.stack([hu[3] + 0.1 * unit(8), hu[3] + 0.1 * unit(9), hu[9]])
    track = pending(view, [0.45, 0.9], 100, 130)
    undecided = [Adoption(-1, np.inf, "no anchors")]
    here = [Anchor(0, 120, 140, hu[6:7])]  # an anchor of Hu in this video, in its frames
    assert lend([track], here, undecided, gallery.anchors(), 2, TOLERANCE)[0].person == -1
    given = pending(hu[7:8], [0.3, 0.9], 110, 115, name="110.0")  # a track given Hu beside
    two = [undecided[0], Adoption(0, 0.2, "near")]
    assert lend([track, given], [], two, gallery.anchors(), 2, TOLERANCE)[0].person == -1
    # Another person's earlier faces near the track: ambiguous, refused.
    gallery.add([Anchor(1, 0, 30, np.concatenate([julie, view[2:3] + 0.05 * unit(3)]))])
    assert lend([track], [], undecided, gallery.anchors(), 2, TOLERANCE)[0].person == -1


def test_faces_a_correction_took_out_of_the_persons_folder_are_left_out(faces):
    hu = faces[HU]
    gallery = Gallery()
    gallery.add([Anchor(0, 0, 30, hu[0:5])])
    kept = len(gallery.anchors()[0].encodings)
    none = np.zeros(0, dtype=np.int64)
    learned = Learned(np.zeros((0, 128)), none, hu[3:4].copy(), np.array([0]), {})
    left = gallery.anchors(learned)[0].encodings
    assert len(left) < kept
    assert float(np.linalg.norm(left - hu[3], axis=1).min()) > SHARED_VIEW
    other = Learned(np.zeros((0, 128)), none, hu[3:4].copy(), np.array([1]), {})
    assert len(gallery.anchors(other)[0].encodings) == kept  # another person's exclusion
