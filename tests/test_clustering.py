"""Clustering a video's tracks: track distances and constrained average linkage."""

from __future__ import annotations

import numpy as np
import pytest

from faceripper.clustering import _average_linkage, cluster_tracks, track_distances


def unit(seed: int) -> np.ndarray:
    """A random 128-d direction."""
    v = np.random.default_rng(seed).normal(size=128)
    return v / np.linalg.norm(v)


def near(centre: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """A point ``distance`` along a random direction from ``centre``."""
    return centre + distance * unit(1000 + seed)


def test_cluster_tracks_respects_cannot_links():
    distances = np.array([[0, 0.1, 0.2], [0.1, 0, 0.15], [0.2, 0.15, 0]])
    cannot = np.zeros((3, 3), dtype=bool)
    assert cluster_tracks(distances, cannot).tolist() == [0, 0, 0]
    cannot[0, 2] = cannot[2, 0] = True
    assert cluster_tracks(distances, cannot).tolist() == [0, 0, 2]
    assert cluster_tracks(distances, cannot, limit=0.05).tolist() == [0, 1, 2]
    assert cluster_tracks(np.zeros((0, 0)), np.zeros((0, 0), dtype=bool)).tolist() == []


def test_track_distances_are_symmetric_medians_of_nearest():
    a = np.stack([unit(1), unit(2)])
    b = np.stack([near(unit(1), 0.1, 1), near(unit(1), 0.3, 2), near(unit(2), 0.2, 3)])
    d = track_distances([a, b, np.zeros((0, 128))])
    ab = np.median([0.1, 0.2])
    ba = np.median([0.1, 0.3, 0.2])
    assert d[0, 1] == pytest.approx((ab + ba) / 2) and d[1, 0] == d[0, 1]
    assert d[0, 0] == 0 and np.isinf(d[0, 2])


def test_clustering_by_components_equals_clustering_the_whole():
    rng = np.random.default_rng(5)
    points = np.concatenate([rng.normal(c, 0.1, size=(12, 2)) for c in (0, 1, 3)])
    distances = np.linalg.norm(points[:, None] - points[None], axis=2)
    cannot = rng.random((36, 36)) < 0.05
    cannot = cannot | cannot.T
    np.fill_diagonal(cannot, False)
    whole = _average_linkage(distances, cannot, 0.4)
    assert cluster_tracks(distances, cannot, 0.4).tolist() == whole.tolist()
    assert len(set(whole.tolist())) >= 3
