"""faceripper.processes: what forked workers get from the process that starts them."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
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


# A worker that dies while it sends its result back, as one killed at that moment does:
# it writes the first bytes of a result message into the pool's results pipe (the
# queue its process loop holds), says so, and waits to be killed.
_HALF_SENT = textwrap.dedent(
    """
    import gc, os, struct, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context
    from multiprocessing.queues import SimpleQueue
    from faceripper.processes import init_worker_process, terminate_executor

    def half_send(marker):
        (results,) = [q for q in gc.get_objects() if isinstance(q, SimpleQueue)]
        results._writer._send(struct.pack("!i", 1_000_000) + b"x" * 100)
        open(marker, "w").close()
        time.sleep(120)

    if __name__ == "__main__":
        marker = sys.argv[2]
        context = get_context(sys.argv[1])
        pool = ProcessPoolExecutor(1, mp_context=context, initializer=init_worker_process)
        pool.submit(half_send, marker)
        while not os.path.exists(marker):
            time.sleep(0.05)
        time.sleep(0.5)  # the pool's manager thread is now reading the half message
        terminate_executor(pool)
        print("terminated", flush=True)
    """
)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_pool_whose_worker_died_mid_result_lets_the_process_exit(method, tmp_path):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    script = tmp_path / "half_sent.py"
    script.write_text(_HALF_SENT)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script), method, str(tmp_path / "sent")],
        capture_output=True,
        text=True,
        timeout=60,  # before, the interpreter's exit waited on the pool's thread for ever
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "terminated\n"
    assert time.monotonic() - started < 30
