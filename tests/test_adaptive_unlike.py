"""Unconfirmed tracks unlike the video (faceripper.nearview.near_unlike), on real faces.

Howard Wolowitz's tight crops of face-api.js: the references are howard4.png alone (a
tight crop, as a user has them); his video faces are the other crops framed in a larger
picture (detected, encoded). howard5 matches the photo with confidence (an anchor);
howard1 is within the tolerance of the photo but not confidently, and 0.4-0.5 from the
anchor: the sitcom ground truth's Howard, refused as unlike the video before this rule.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from faceripper import nearview
from faceripper.adaptive import VIDEO_TOLERANCE, decide_video, view_distance
from faceripper.clustering import track_distances
from faceripper.heldback import CONFIDENT_DISTANCE, Anchor, PendingTrack

TOLERANCE = 0.4


@pytest.fixture(scope="module")
def howard(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """howard4.png as the only reference (photo and second view), and the encodings of
    howard1 and howard5 framed on a grey picture three times their size."""
    from faceripper.config import config_from_refs
    from faceripper.detector import detect_faces
    from faceripper.encoder import encode_faces
    from faceripper.images import load_rgb
    from faceripper.pipeline import references_for_run
    from faceripper.references import encode_references

    crops = testdata / "face-api.js" / "howard"
    refs = tmp_path_factory.mktemp("refs")
    (refs / "howard").mkdir()
    shutil.copy(crops / "howard4.png", refs / "howard")
    config, _ = config_from_refs(refs)
    encoded = encode_references(config, refs.parent / "cache.npz").references
    photos, views = references_for_run(config, encoded).photos_of(0)
    out = {"photos": photos, "views": views}
    for name in ("howard1", "howard5"):
        crop = load_rgb(crops / f"{name}.png")
        h, w = crop.shape[:2]
        canvas = np.full((3 * h, 3 * w, 3), 128, dtype=np.uint8)
        canvas[h : 2 * h, w : 2 * w] = crop
        boxes = detect_faces(canvas)
        assert len(boxes) == 1
        out[name] = encode_faces(canvas, boxes).encodings[:1]
    return out


def unconfirmed(encodings: np.ndarray, howard: dict, first: int) -> PendingTrack:
    """A track the references decide for Howard without a face matched with confidence."""
    d = np.linalg.norm(encodings - howard["photos"][0], axis=1)
    assert d.min() > CONFIDENT_DISTANCE and np.median(d) <= TOLERANCE
    track = PendingTrack(f"{first}.0", first, first + 30, np.array([np.median(d)]), encodings)
    track.decided = 0
    track.best = view_distance(encodings, howard["photos"], howard["views"], TOLERANCE)
    return track


def test_howard_unlike_his_anchor_is_kept_when_near_his_photo_seen_two_ways(howard):
    anchor = Anchor(0, 0, 30, howard["howard5"])
    assert np.linalg.norm(howard["howard5"] - howard["photos"][0]) <= CONFIDENT_DISTANCE
    other_look = unconfirmed(howard["howard1"], howard, 100)
    apart = float(track_distances([other_look.encodings, anchor.encodings])[0, 1])
    assert VIDEO_TOLERANCE < apart <= 0.5  # unlike the video
    assert other_look.best <= nearview.VIEW_DISTANCE
    (kept,) = decide_video([other_look], [anchor], 1, TOLERANCE, trust_references=False)
    assert (kept.person, kept.reason) == (0, "near")
    # Beside his anchor (sharing its frames) the same face is another person.
    beside = unconfirmed(howard["howard1"], howard, 10)
    (refused,) = decide_video([beside], [anchor], 1, TOLERANCE, trust_references=False)
    assert (refused.person, refused.reason) == (-1, "unlike the video")
    # Nor beside a track decided for him, nor past the bar.
    other_look.excluded = (0,)
    assert decide_video([other_look], [anchor], 1, TOLERANCE, trust_references=False)[0].person < 0
    other_look.excluded, other_look.best = (), nearview.VIEW_DISTANCE + 0.01
    assert decide_video([other_look], [anchor], 1, TOLERANCE, trust_references=False)[0].person < 0


def test_kim_hong_up_beside_hu_jintao_stays_refused(testdata, monkeypatch):
    # Hu Jintao's photo 4 is the reference (with its real second view); at --tolerance
    # 0.45 the references decide Kim Hong-up, his look-alike, for him, without a
    # confident face; Hu's anchor shot shows his photos 0-2.
    from faceripper.encoder import encode_faces
    from faceripper.geometry import as_boxes
    from faceripper.images import load_rgb
    from faceripper.refcache import EncodeSettings
    from faceripper.references import encode_reference_view
    from faceripper.testing import load_face_sources

    def encode(name: str, count: int) -> np.ndarray:
        photos = sorted((testdata / "lfw_dev" / name).glob("*.jpg"))[:count]
        sources = load_face_sources(photos, identity=name)
        return np.stack(
            [encode_faces(load_rgb(s.path), as_boxes([s.box])).encodings[0] for s in sources]
        )

    hu, kim = encode("Hu_Jintao", 5), encode("Kim_Hong-up", 1)
    photo = sorted((testdata / "lfw_dev" / "Hu_Jintao").glob("*.jpg"))[4]
    source = load_face_sources([photo])[0]
    view = encode_reference_view(load_rgb(photo), as_boxes([source.box]), EncodeSettings())
    tolerance = 0.45
    anchor = Anchor(0, 0, 30, hu[0:3])

    def kim_track(first: int) -> PendingTrack:
        d = float(np.linalg.norm(kim[0] - hu[4]))
        assert CONFIDENT_DISTANCE < d <= tolerance
        track = PendingTrack(f"{first}.0", first, first + 30, np.array([d]), kim)
        track.decided = 0
        track.best = view_distance(kim, hu[4][None], view[None], tolerance)
        return track

    # At the real bar no face of Kim is within NEAR_DISTANCE of the photo: refused.
    (alone,) = decide_video([kim_track(100)], [anchor], 1, tolerance, trust_references=False)
    assert (alone.person, alone.reason) == (-1, "unlike the video")
    # With a bar loose enough to pass him, alone he would be taken for Hu; beside Hu
    # (sharing the anchor's frames) never.
    monkeypatch.setattr(nearview, "NEAR_DISTANCE", tolerance)
    loose = kim_track(100)
    monkeypatch.setattr(nearview, "VIEW_DISTANCE", loose.best + 0.01)
    assert decide_video([loose], [anchor], 1, tolerance, trust_references=False)[0].person == 0
    (beside,) = decide_video([kim_track(10)], [anchor], 1, tolerance, trust_references=False)
    assert (beside.person, beside.reason) == (-1, "unlike the video")
