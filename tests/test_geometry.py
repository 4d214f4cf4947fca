"""Tests of the pure functions on boxes (faceripper.geometry) and the matching of faces to
people (faceripper.matching)."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.geometry import (
    as_boxes,
    box_areas,
    box_sizes,
    clip_boxes,
    expand_boxes,
    iou,
    scale_boxes,
)
from faceripper.matching import UNKNOWN, match_faces, person_distances


def _boxes(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


# ---------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(
    ("boxes", "shape", "expected"),
    [
        ([[10, 50, 40, 20]], (100, 100), [[10, 50, 40, 20]]),  # inside: unchanged
        ([[-5, 120, 90, -3]], (80, 100), [[0, 100, 80, 0]]),  # past every edge
        ([[-1, 10, 10, 0]], (5, 5, 3), [[0, 5, 5, 0]]),  # colour image shape
        ([[0, 100, 80, 0]], (80, 100), [[0, 100, 80, 0]]),  # exactly the image
        ([], (80, 100), []),
    ],
)
def test_clip_boxes(boxes, shape, expected):
    original = _boxes(boxes)
    before = original.copy()
    clipped = clip_boxes(original, shape)
    assert clipped.tolist() == _boxes(expected).tolist()
    assert np.array_equal(original, before)  # input left alone


@pytest.mark.parametrize(
    ("boxes", "fy", "fx", "expected"),
    [
        ([[10, 20, 30, 5]], 2.0, None, [[20, 40, 60, 10]]),
        ([[10, 20, 30, 5]], 2.0, 3.0, [[20, 60, 60, 15]]),
        ([[10, 20, 30, 5]], 0.5, None, [[5, 10, 15, 2]]),  # 2.5 rounds half to even
        ([[3, 3, 3, 3]], 1.5, None, [[4, 4, 4, 4]]),  # 4.5 -> 4
        ([[1, 1, 1, 1]], 1.5, None, [[2, 2, 2, 2]]),  # 1.5 -> 2
        ([[7, 9, 11, 13]], 1.0, None, [[7, 9, 11, 13]]),
        ([], 2.0, None, []),
    ],
)
def test_scale_boxes(boxes, fy, fx, expected):
    scaled = scale_boxes(_boxes(boxes), fy, fx)
    assert scaled.dtype == np.int64
    assert scaled.tolist() == _boxes(expected).tolist()


@pytest.mark.parametrize(
    ("boxes", "sizes", "areas"),
    [
        ([[10, 150, 150, 10]], [140], [19600]),
        ([[0, 40, 30, 10]], [30], [900]),  # 30 wide, 30 high
        ([[0, 100, 20, 0]], [20], [2000]),  # wide: the height decides the size
        ([[0, 10, 50, 0]], [10], [500]),  # tall: the width decides the size
        ([[10, 10, 10, 10]], [0], [0]),  # empty box
        ([[20, 5, 10, 15]], [-10], [0]),  # inverted: area 0
        ([[0, 4, 2, 0], [0, 3, 3, 0]], [2, 3], [8, 9]),
        ([], [], []),
    ],
)
def test_box_sizes_and_areas(boxes, sizes, areas):
    array = _boxes(boxes)
    assert box_sizes(array).tolist() == sizes
    assert box_areas(array).tolist() == areas


@pytest.mark.parametrize(
    ("boxes", "margin", "shape", "expected"),
    [
        ([[100, 200, 200, 100]], 0.2, None, [[80, 220, 220, 80]]),
        ([[100, 200, 200, 100]], 0.0, None, [[100, 200, 200, 100]]),
        ([[100, 300, 200, 100]], 0.1, None, [[90, 320, 210, 80]]),  # x by width, y by height
        ([[10, 110, 110, 10]], 0.2, None, [[-10, 130, 130, -10]]),  # unclipped: may go out
        ([[10, 110, 110, 10]], 0.2, (120, 125), [[0, 125, 120, 0]]),  # clipped to the image
        ([[0, 5, 5, 0]], 0.5, None, [[-2, 7, 7, -2]]),  # 2.5 rounds to 2
        ([], 0.2, (10, 10), []),
    ],
)
def test_expand_boxes(boxes, margin, shape, expected):
    assert expand_boxes(_boxes(boxes), margin, shape).tolist() == _boxes(expected).tolist()


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([[0, 10, 10, 0]], [[0, 10, 10, 0]], [[1.0]]),  # identical
        ([[0, 10, 10, 0]], [[20, 30, 30, 20]], [[0.0]]),  # apart
        ([[0, 10, 10, 0]], [[0, 20, 10, 10]], [[0.0]]),  # touching edges
        ([[0, 10, 10, 0]], [[0, 15, 10, 5]], [[50 / 150]]),  # half overlap
        ([[0, 10, 10, 0]], [[2, 8, 8, 2]], [[36 / 100]]),  # one inside the other
        ([[0, 10, 10, 0]], [[5, 5, 5, 5]], [[0.0]]),  # empty box
        ([[5, 5, 5, 5]], [[5, 5, 5, 5]], [[0.0]]),  # both empty: 0, not nan
        (
            [[0, 10, 10, 0], [0, 20, 10, 10]],
            [[0, 10, 10, 0], [0, 15, 10, 5], [50, 60, 60, 50]],
            [[1.0, 50 / 150, 0.0], [0.0, 50 / 150, 0.0]],
        ),
        ([], [[0, 10, 10, 0]], np.zeros((0, 1))),
    ],
)
def test_iou(a, b, expected):
    result = iou(_boxes(a), _boxes(b))
    assert result.shape == np.asarray(expected).shape
    assert np.allclose(result, expected, rtol=0, atol=1e-12)
    assert not np.isnan(result).any()


@pytest.mark.parametrize(
    ("value", "expected_shape"),
    [([], (0, 4)), ([[1, 2, 3, 4]], (1, 4)), ([(1, 2, 3, 4), (5, 6, 7, 8)], (2, 4))],
)
def test_as_boxes(value, expected_shape):
    boxes = as_boxes(value)
    assert boxes.shape == expected_shape
    assert boxes.dtype == np.int64


@pytest.mark.parametrize(
    ("value", "shape"), [([1, 2, 3, 4], (4,)), ([[1, 2, 3]], (1, 3)), ([[[1, 2, 3, 4]]], (1, 1, 4))]
)
def test_as_boxes_rejects_other_shapes(value, shape):
    with pytest.raises(ValueError) as caught:
        as_boxes(value)
    assert str(caught.value) == f"boxes must have shape (n, 4), got {shape}"


# ---------------------------------------------------------------------------- matching

INF = np.inf


@pytest.mark.parametrize(
    ("case", "distances", "ref_person", "n_people", "tolerance", "expected"),
    [
        # expected: (person, nearest, distance, second_distance, ambiguous) per face
        (
            "clear match",
            [[0.30, 0.50]],
            [0, 1],
            2,
            0.35,
            [(0, 0, 0.30, 0.50, False)],
        ),
        (
            "nearest reference of a person counts",
            [[0.50, 0.20, 0.45]],
            [0, 0, 1],
            2,
            0.35,
            [(0, 0, 0.20, 0.45, False)],
        ),
        (
            "no match: nearest beyond tolerance",
            [[0.40, 0.50]],
            [0, 1],
            2,
            0.35,
            [(UNKNOWN, 0, 0.40, 0.50, False)],
        ),
        (
            "ambiguous: second person within the gap",
            [[0.30, 0.32]],
            [0, 1],
            2,
            0.35,
            [(UNKNOWN, 0, 0.30, 0.32, True)],
        ),
        (
            "just outside the gap is a match",
            [[0.30, 0.345]],
            [0, 1],
            2,
            0.35,
            [(0, 0, 0.30, 0.345, False)],
        ),
        (
            "beyond tolerance with a near second: unknown, not ambiguous",
            [[0.36, 0.37]],
            [0, 1],
            2,
            0.35,
            [(UNKNOWN, 0, 0.36, 0.37, False)],
        ),
        (
            "second person's nearest wins over first's farther ones",
            [[0.10, 0.50, 0.30]],
            [1, 0, 0],
            2,
            0.35,
            [(1, 1, 0.10, 0.30, False)],
        ),
        (
            "person without references is never matched",
            [[0.20, 0.50]],
            [0, 2],
            3,
            0.35,
            [(0, 0, 0.20, 0.50, False)],
        ),
        (
            "only person has no references",
            [[]],
            [],
            1,
            0.35,
            [(UNKNOWN, UNKNOWN, INF, INF, False)],
        ),
        (
            "one person: second distance is inf",
            [[0.10], [0.90]],
            [0],
            1,
            0.35,
            [(0, 0, 0.10, INF, False), (UNKNOWN, 0, 0.90, INF, False)],
        ),
        (
            "equal distances to two people: ambiguous",
            [[0.25, 0.25]],
            [0, 1],
            2,
            0.35,
            [(UNKNOWN, 0, 0.25, 0.25, True)],
        ),
    ],
)
def test_match_faces(case, distances, ref_person, n_people, tolerance, expected):
    d = np.array(distances, dtype=np.float64).reshape(len(distances), len(ref_person))
    matches = match_faces(d, np.array(ref_person, dtype=np.int64), n_people, tolerance, gap=0.04)
    person, nearest, distance, second, ambiguous = (
        list(column) for column in zip(*expected, strict=True)
    )
    assert matches.person.tolist() == person, case
    assert matches.nearest.tolist() == nearest, case
    assert np.allclose(matches.distance, distance), case
    assert np.allclose(matches.second_distance, second), case
    assert matches.ambiguous.tolist() == ambiguous, case


def test_match_faces_without_faces_or_people():
    none = match_faces(np.zeros((0, 2)), np.array([0, 1]), 2, 0.6)
    assert none.person.shape == none.distance.shape == (0,)
    nobody = match_faces(np.zeros((2, 0)), np.zeros(0, dtype=np.int64), 0, 0.6)
    assert nobody.person.tolist() == [UNKNOWN, UNKNOWN]
    assert nobody.ambiguous.tolist() == [False, False]
    assert np.isinf(nobody.distance).all()


def test_person_distances_takes_each_persons_nearest_reference():
    d = np.array([[0.5, 0.2, 0.7, 0.9], [0.1, 0.8, 0.6, 0.3]])
    result = person_distances(d, np.array([0, 0, 1, 0]), 3)
    assert result.tolist() == [[0.2, 0.7, INF], [0.1, 0.6, INF]]
