"""Tests of the per-frame face record (faceripper.faces.Faces) and of the observations
made of its rows (faceripper.tracks.Observation.from_faces): synthetic arrays."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from faceripper.faces import Faces
from faceripper.tracks import Observation

COLUMNS = [item.name for item in fields(Faces)]


def _faces(n: int) -> Faces:
    """``n`` faces with every column filled, each row different."""
    boxes = np.array([[0, 10 * (i + 1), 10 * (i + 1), 0] for i in range(n)], dtype=np.int64)
    return Faces(
        boxes,
        face_index=np.arange(n, dtype=np.int64) * 2,
        followed=np.arange(n) % 2 == 1,
        sharpness=np.arange(n, dtype=np.float64) * 10,
        blurry=np.arange(n) % 3 == 0,
        appearance=np.arange(n * 16 * 16, dtype=np.float32).reshape(n, 16, 16),
        landmarks_xy=np.arange(n * 5 * 2, dtype=np.float64).reshape(n, 5, 2),
        encodings=np.arange(n * 128, dtype=np.float64).reshape(n, 128),
        distances=np.arange(n * 3, dtype=np.float64).reshape(n, 3) / 10,
    )


def _without(faces: Faces, **rows: int) -> Faces:
    """``faces`` with one row of each named column not computed (NaN)."""
    columns = {}
    for name, row in rows.items():
        columns[name] = getattr(faces, name).copy()
        columns[name][row] = np.nan
    return faces.with_columns(**columns)


def test_every_column_is_filled_by_the_test_helper():
    assert COLUMNS[0] == "box_trbl"
    faces = _faces(3)
    for name in COLUMNS:
        assert getattr(faces, name).size > 0, name


def test_defaults_have_one_row_per_box():
    faces = Faces(np.array([[10, 150, 150, 10], [0, 40, 30, 10]]))
    assert len(faces) == 2
    assert faces.box_trbl.dtype == np.int64
    assert faces.face_index.tolist() == [0, 1]
    assert faces.face_index.dtype == np.int64
    assert faces.followed.tolist() == [False, False]
    assert faces.blurry.tolist() == [False, False]
    assert np.isnan(faces.sharpness).all()
    assert faces.appearance.shape == (2, 0)
    assert faces.landmarks_xy.shape == (2, 0, 2)
    assert faces.encodings.shape == (2, 0)
    assert faces.distances.shape == (2, 0)
    assert faces.encoded.tolist() == [False, False]
    assert faces.sizes.tolist() == [140, 30]


def test_no_faces():
    faces = Faces(np.zeros((0, 4), dtype=np.int64))
    assert len(faces) == 0
    for name in COLUMNS:
        assert len(getattr(faces, name)) == 0, name
    assert len(faces[faces.sizes >= 100]) == 0


@pytest.mark.parametrize(
    ("index", "rows"),
    [
        (np.array([True, False, True]), [0, 2]),
        (np.array([2, 0]), [2, 0]),
        (slice(1, None), [1, 2]),
        (np.array([False, False, False]), []),
    ],
)
def test_indexing_keeps_every_column_in_step(index, rows):
    faces = _faces(3)
    picked = faces[index]
    assert len(picked) == len(rows)
    for name in COLUMNS:
        assert np.array_equal(getattr(picked, name), getattr(faces, name)[rows]), name


def test_filter_by_size_keeps_the_face_numbers():
    faces = _faces(3)  # sizes 10, 20, 30
    big = faces[faces.sizes >= 20]
    assert big.sizes.tolist() == [20, 30]
    assert big.sharpness.tolist() == [10.0, 20.0]
    assert big.face_index.tolist() == [2, 4]


def test_append_keeps_every_column_and_the_face_numbers():
    faces = _faces(3)
    joined = faces[np.array([0])].append(faces[np.array([2, 1])])
    for name in COLUMNS:
        assert np.array_equal(getattr(joined, name), getattr(faces, name)[[0, 2, 1]]), name


def test_followed_faces_are_numbered_after_the_detected_ones():
    detected = Faces(np.array([[0, 10, 10, 0], [0, 200, 100, 100], [0, 50, 50, 0]]))
    large = detected[detected.sizes >= 50]  # face 0 too small
    followed = Faces.followed_boxes(np.array([[0, 400, 100, 300], [0, 600, 100, 500]]), 3)
    frame = large.append(followed)
    assert frame.face_index.tolist() == [1, 2, 3, 4]
    assert frame.followed.tolist() == [False, False, True, True]
    assert frame.box_trbl[~frame.followed].tolist() == large.box_trbl.tolist()


def test_append_refuses_columns_of_different_widths():
    with pytest.raises(ValueError):
        _faces(2).append(Faces(np.array([[0, 10, 10, 0]])))


@pytest.mark.parametrize("name", COLUMNS[1:])
def test_a_column_with_the_wrong_row_count_is_refused(name):
    value = getattr(_faces(3), name)
    with pytest.raises(ValueError) as caught:
        Faces(np.zeros((2, 4), dtype=np.int64), **{name: value})
    assert str(caught.value) == f"Faces.{name} has 3 rows, expected 2 (one per box)"


def test_with_columns_checks_the_row_count():
    faces = _faces(2)
    assert faces.with_columns(sharpness=np.array([1.0, 2.0])).sharpness.tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"Faces.sharpness has 3 rows, expected 2"):
        faces.with_columns(sharpness=np.zeros(3))


def test_boxes_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"boxes must have shape \(n, 4\), got \(2, 3\)"):
        Faces(np.zeros((2, 3), dtype=np.int64))


def test_rows_computed_for_some_faces_only():
    faces = _without(_faces(3), encodings=1, distances=1)
    distances = faces.distances.copy()
    distances[2, 0] = np.inf  # a person without references: still a distance
    faces = faces.with_columns(distances=distances)
    assert faces.encoded.tolist() == [True, False, True]
    assert faces.row("encodings", 1) is None
    assert faces.row("distances", 1) is None
    assert faces.row("distances", 2).tolist() == [np.inf, 0.7, 0.8]
    row = faces.row("encodings", 0)
    row[0] = -1.0  # a copy: the record is unchanged
    assert faces.encodings[0, 0] == 0.0
    assert Faces(faces.box_trbl).row("encodings", 0) is None  # not computed at all


def test_an_observation_is_one_row_of_the_record():
    faces = _without(_faces(3), encodings=1, distances=1, appearance=2)
    first, second, third = (Observation.from_faces(faces, i, 7, 0.25) for i in range(3))
    assert (first.frame, first.time_s, first.face_index) == (7, 0.25, 0)
    assert first.box_trbl == (0, 10, 10, 0)
    assert all(type(v) is int for v in first.box_trbl)
    assert (first.sharpness, first.blurry, first.followed) == (0.0, True, False)
    assert np.array_equal(first.encoding, faces.encodings[0])
    assert np.array_equal(first.distances, faces.distances[0])
    assert np.array_equal(first.appearance, faces.appearance[0])
    assert first.jpeg is None and first.signature is None
    assert (second.face_index, second.followed, second.blurry) == (2, True, False)
    assert second.encoding is None and second.distances is None
    assert third.appearance is None and third.encoding is not None
