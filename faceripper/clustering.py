"""Clustering a video's tracks: track-to-track distances and constrained average linkage.

A track is summarised by a few of its face encodings (``(k, 128)`` float64);
:func:`track_distances` measures how alike two tracks are, and :func:`cluster_tracks`
groups them by average linkage up to :data:`CLUSTER_DISTANCE`, never joining two tracks
that may not be one person (cannot-link: they share a frame, or are anchors of two
people). The video-adaptive step (:func:`faceripper.adaptive.decide_video`) reads the
clusters. Every function here is pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

#: Tracks (average linkage, :func:`track_distances`) are joined into one cluster while
#: they are at most this far apart.
CLUSTER_DISTANCE = 0.4


def track_distances(encodings: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    """``(n, n)`` symmetric distances between tracks, each given by ``(k_i, 128)``
    encodings: the mean of the two directed distances, each the median over one track's
    encodings of the distance to the other track's nearest one (0 on the diagonal; inf
    for a track without encodings). One row of tracks at a time: memory
    ``O(n * k * K)`` for ``K`` encodings in all, besides the result."""
    n = len(encodings)
    out = np.full((n, n), np.inf)
    full = [i for i, e in enumerate(encodings) if len(e)]
    if full:
        every = np.concatenate([encodings[i].reshape(-1, 128) for i in full])
        starts = np.cumsum([0, *[len(encodings[i]) for i in full][:-1]])
        squares = (every**2).sum(axis=1)
        directed = np.empty((len(full), len(full)))
        for row, i in enumerate(full):
            mine = encodings[i].reshape(-1, 128)
            squared = (mine**2).sum(axis=1)[:, None] + squares[None] - 2 * mine @ every.T
            nearest = np.minimum.reduceat(np.sqrt(np.maximum(squared, 0.0)), starts, axis=1)
            directed[row] = np.median(nearest, axis=0)  # (k_i, n_full) -> (n_full,)
        out[np.ix_(full, full)] = (directed + directed.T) / 2
    np.fill_diagonal(out, 0.0)
    return out


def cluster_tracks(
    distances: npt.NDArray[np.float64],
    cannot: npt.NDArray[np.bool_],
    limit: float = CLUSTER_DISTANCE,
) -> npt.NDArray[np.int64]:
    """Agglomerative clustering, average linkage, with cannot-link constraints.

    Repeatedly joins the two clusters with the smallest mean distance between their
    tracks, while it is at most ``limit`` and no track of one may not be with a track of
    the other (``cannot``: two tracks sharing a frame are two people; two tracks
    decided for two people are two people). Ties break by index: deterministic.

    Args:
        distances: ``(n, n)`` symmetric track distances (:func:`track_distances`).
        cannot: ``(n, n)`` bool, symmetric: pairs that may never share a cluster.

    Returns:
        ``(n,)`` int64 cluster label per track (the smallest track index in it).
    """
    n = len(distances)
    label = np.arange(n, dtype=np.int64)
    # Two clusters join only if some pair of their tracks is within the limit, so the
    # components of that graph are clustered on their own (the same result, faster).
    near = (distances <= limit) & ~cannot
    component = _components(near)
    for members in (np.flatnonzero(component == c) for c in np.unique(component)):
        if len(members) > 1:
            inner = _average_linkage(
                distances[np.ix_(members, members)], cannot[np.ix_(members, members)], limit
            )
            label[members] = members[inner]
    return label


def _components(adjacent: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """``(n,)`` connected component of each node of an ``(n, n)`` symmetric graph (the
    smallest node index in it)."""
    n = len(adjacent)
    component = np.full(n, -1, dtype=np.int64)
    for start in range(n):
        if component[start] >= 0:
            continue
        component[start] = start
        stack = [start]
        while stack:
            node = stack.pop()
            for other in np.flatnonzero(adjacent[node] & (component < 0)):
                component[other] = start
                stack.append(int(other))
    return component


def _average_linkage(
    distances: npt.NDArray[np.float64], cannot: npt.NDArray[np.bool_], limit: float
) -> npt.NDArray[np.int64]:
    """:func:`cluster_tracks` on one component: labels are local indices."""
    n = len(distances)
    total = np.where(np.isfinite(distances), distances, 1e9).astype(np.float64)
    size = np.ones(n)
    blocked = cannot.copy() | np.eye(n, dtype=bool)
    alive = np.ones(n, dtype=bool)
    label = np.arange(n, dtype=np.int64)
    while True:
        mean = total / np.outer(size, size)
        mean[blocked | ~alive[:, None] | ~alive[None, :]] = np.inf
        if n == 0 or not np.isfinite(mean).any():
            break
        flat = int(np.argmin(mean))
        i, j = divmod(flat, n)
        if mean[i, j] > limit:
            break
        i, j = min(i, j), max(i, j)
        total[i, :] += total[j, :]
        total[:, i] += total[:, j]
        blocked[i, :] |= blocked[j, :]
        blocked[:, i] |= blocked[:, j]
        blocked[i, i] = True
        size[i] += size[j]
        alive[j] = False
        label[label == j] = i
    return label
