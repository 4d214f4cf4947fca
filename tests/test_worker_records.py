"""Tests of the worker's records (faceripper.worker.records): a hit made of a track's
observation."""

from __future__ import annotations

import pickle
from dataclasses import fields

import numpy as np
import pytest

from faceripper.tracks import Observation
from faceripper.worker import FaceHit


def _observation(**changes) -> Observation:
    observation = Observation(
        frame=12,
        time_s=0.5,
        face_index=3,
        box_trbl=(10, 90, 80, 20),
        sharpness=120.0,
        blurry=False,
        distances=np.array([0.31, 0.72, 0.9]),
        jpeg=b"\xff\xd8crop",
        signature=np.zeros((16, 16), np.float32),
        encoding=np.zeros(128),
        appearance=np.zeros((16, 16), np.float32),
    )
    for name, value in changes.items():
        setattr(observation, name, value)
    return observation


@pytest.mark.parametrize(
    ("changes", "person", "expected"),
    [
        # An encoded face: its own distance to the person.
        ({}, 1, dict(distance=0.72, encoded=True, status="saved", detector="hog")),
        # A face not encoded: the track's distance.
        ({"distances": None}, 0, dict(distance=0.35, encoded=False, detector="hog")),
        # Not decided yet: the track's distance (NaN for a pending track).
        ({}, -1, dict(distance=0.35, encoded=True)),
        ({"blurry": True}, 0, dict(distance=0.31, status="blurry")),
        ({"followed": True, "distances": None}, 0, dict(detector="followed", encoded=False)),
    ],
)
def test_a_hit_is_made_of_an_observation_and_its_tracks_decision(changes, person, expected):
    observation = _observation(**changes)
    hit = FaceHit.from_observation(observation, person, 0.35, "12.3", "hog")
    assert (hit.frame, hit.time_s, hit.face_index) == (12, 0.5, 3)
    assert (hit.box_trbl, hit.sharpness, hit.jpeg) == ((10, 90, 80, 20), 120.0, b"\xff\xd8crop")
    assert (hit.person, hit.track) == (person, "12.3")
    for name, value in expected.items():
        assert getattr(hit, name) == value, name


def test_a_hit_carries_none_of_the_observations_arrays():
    hit = FaceHit.from_observation(_observation(), 0, 0.35, "12.3", "cnn")
    assert hit.detector == "cnn"
    assert not [f.name for f in fields(hit) if isinstance(getattr(hit, f.name), np.ndarray)]
    assert len(pickle.dumps(hit)) < 400


def test_a_face_without_a_crop_is_no_hit():
    with pytest.raises(ValueError, match="face 3 of frame 12 has no crop"):
        FaceHit.from_observation(_observation(jpeg=None), 0, 0.35, "12.3", "hog")
