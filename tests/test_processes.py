"""faceripper.processes: what forked workers get from the process that starts them."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest

from faceripper.models import get_models
from faceripper.processes import prepare_forked_workers


def _has_hog_detector() -> bool:
    """In a worker: whether its models hold dlib's HOG detector before any detection."""
    return "hog" in get_models()._cache


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
def test_forked_workers_inherit_the_hog_detector_and_spawned_ones_are_left_alone():
    cache = get_models()._cache
    kept = cache.pop("hog", None)  # as in a process that has detected nothing yet
    try:
        prepare_forked_workers("hog", "spawn")
        assert "hog" not in cache  # a spawned worker would not inherit it
        fork = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(1, mp_context=fork) as pool:
            assert not pool.submit(_has_hog_detector).result()
        prepare_forked_workers("cnn", "fork")
        assert "hog" not in cache  # workers that will not use it
        prepare_forked_workers("hog", "fork")
        assert "hog" in cache
        with ProcessPoolExecutor(1, mp_context=fork) as pool:
            assert pool.submit(_has_hog_detector).result()  # not built again in the worker
    finally:
        if kept is not None:
            cache["hog"] = kept
