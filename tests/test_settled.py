"""A settled track whose face another face replaced is encoded every frame again
(:meth:`faceripper.tracks.Track.left`), on real encodings of LFW photos.

A track settled for a person is re-encoded every :data:`~faceripper.tracks.RECHECK_EVERY`
frames. When a cut the frame test misses puts another face in its place, the track is
split there later, but the part after the change had been encoded every 10th frame: on
the absent-person ground truth (docs/quality.md, "Missed appearances") Lance Armstrong's
close-up after Abdullah Gul's kept 5 encodings of 26 faces, too few for a shared view of
his anchors, and the whole appearance was lost. Now a face past the window of the
track's person (``far``: the tolerance + 0.1) and more than 0.6 from the track's last
face within it unsettles it at once; a view of the same person past the window (a head
turning away) does not: encoding every frame there pushed such tracks' medians out of
the window and lost whole tracks on the sitcom ground truth.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.encoder import encode_faces
from faceripper.geometry import as_boxes
from faceripper.images import load_rgb
from faceripper.testing import load_face_sources
from faceripper.tracks import RECHECK_EVERY, Observation, Track, vote

LEVITTE, HENLEY = "Jean-David_Levitte", "Don_Henley"
TOLERANCE, GAP = 0.4, 0.1
FAR = TOLERANCE + 0.1  # as the worker passes it (:func:`faceripper.worker.frame._due`)


@pytest.fixture(scope="module")
def faces(testdata) -> dict[str, np.ndarray]:
    """Encodings of Levitte's photo 1 (the reference), 3 (0.26 from it) and 6 (0.51 from
    it, 0.48 from photo 3: another view of him), and of Don Henley's photo 1 (0.58 from
    Levitte's reference, 0.62 from photo 3: another face)."""
    folder = testdata / "lfw_dev"
    out = {}
    for key, person, n in (
        ("ref", LEVITTE, 1),
        ("levitte", LEVITTE, 3),
        ("turned", LEVITTE, 6),
        ("henley", HENLEY, 1),
    ):
        sources = {s.path.name: s for s in load_face_sources(folder / person, identity=person)}
        source = sources[f"{person}_{n:04d}.jpg"]
        out[key] = encode_faces(load_rgb(source.path), as_boxes([source.box])).encodings[0]
    return out


def see(track: Track, frame: int, encoding: np.ndarray, reference: np.ndarray) -> None:
    """``encoding`` observed and encoded at ``frame``, as the worker records it."""
    distances = np.array([float(np.linalg.norm(encoding - reference))])
    track.observations.append(
        Observation(
            frame, frame / 25, 0, (10, 110, 110, 10), 200.0, False, distances, encoding=encoding
        )
    )
    track.last_encoded = frame
    person = vote(distances, TOLERANCE, GAP)
    if person >= 0:
        track.votes[person] += 1


def test_another_face_in_its_place_unsettles_a_track_another_view_does_not(faces):
    assert np.linalg.norm(faces["levitte"] - faces["ref"]) < TOLERANCE
    assert np.linalg.norm(faces["henley"] - faces["ref"]) > FAR
    assert np.linalg.norm(faces["turned"] - faces["ref"]) > FAR
    track = Track("t")
    for frame in range(3):
        see(track, frame, faces["levitte"], faces["ref"])
    assert track.settled(FAR)
    assert not track.wants_encoding(3, FAR)  # settled: every 10th frame
    recheck = 2 + RECHECK_EVERY

    same = Track("same", list(track.observations), track.last_encoded, track.votes.copy())
    see(same, recheck, faces["turned"], faces["ref"])  # him, past the window
    assert same.settled(FAR)
    assert not same.wants_encoding(recheck + 1, FAR)

    see(track, recheck, faces["henley"], faces["ref"])  # another face in its place
    assert track.votes == {0: 3}  # it does not vote, the track's votes are all Levitte's
    assert not track.settled(FAR)
    assert track.wants_encoding(recheck + 1, FAR)  # every frame again
    see(track, recheck + 1, faces["henley"], faces["ref"])
    assert not track.settled(FAR)  # and stays so while the other face lasts
    assert track.settled()  # without ``far``, as before
