"""Worker processes that die with the process that started them.

``rip`` and ``encode`` run their work in a :class:`concurrent.futures.ProcessPoolExecutor`.
Its workers wait on a pipe that they themselves keep open, so when the main process is
killed (``kill -9``, the OOM killer) they would wait forever, holding memory. Every
worker therefore runs :func:`init_worker_process` first:

* on Linux it asks the kernel to send it ``SIGKILL`` when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), and exits at once if the parent is already gone;
* on every platform a watchdog thread waits on the parent's sentinel (a pipe, or a
  process handle on Windows) and ends the worker when the parent is gone;
* it ignores ``SIGINT``: Ctrl-C in a terminal reaches the whole process group, and the
  main process alone decides how the run stops (it ends its workers itself, see
  :func:`terminate_executor`); ``SIGTERM`` ends it at once (the default action), not
  through the handler a forked worker inherits from the command line.

A worker writes nothing, so ending it at any moment loses nothing: the main process
either commits its result or the next run redoes the work.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from multiprocessing.connection import wait
from typing import Any

#: ``PR_SET_PDEATHSIG`` from ``<linux/prctl.h>``.
_PR_SET_PDEATHSIG = 1


def _parent_death_signal() -> bool:
    """Ask Linux to kill this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(sentinel: Any) -> None:
    wait([sentinel])
    os._exit(1)  # the parent is gone: nobody will read our results


def init_worker_process() -> None:
    """Make this (worker) process end with its parent and leave Ctrl-C to the parent.

    Call it first in a process pool's initializer, in the worker process.
    """
    with contextlib.suppress(ValueError):  # only possible in the main thread
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        # A forked worker inherits the CLI's SIGTERM handler, which turns the signal
        # into an exception (and a traceback) meant for the main process: a worker
        # asked to stop just stops.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    armed = _parent_death_signal()
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return
    if armed and not parent.is_alive():
        os._exit(1)  # the parent died before the death signal was armed
    threading.Thread(
        target=_watch_parent, args=(parent.sentinel,), name="parent-watchdog", daemon=True
    ).start()


def prepare_forked_workers(detector: str, start_method: str | None = None) -> None:
    """Build here what each worker would otherwise build for itself, where workers are
    forked (``start_method``, default: the platform's) to detect faces with ``detector``:
    dlib's HOG face detector, 0.3 to 0.7 s of CPU to load in every process, which forked
    workers then share. (Only plain data: a dlib network run here would hang the forked
    workers' first call.)
    """
    if detector != "hog" or (start_method or multiprocessing.get_start_method()) != "fork":
        return
    from faceripper.models import get_models

    get_models().hog_detector  # noqa: B018 (built and kept for the workers to inherit)


def terminate_executor(executor: Executor) -> None:
    """Stop a process pool at once: its workers are killed, queued work is dropped.

    For an interrupted run (Ctrl-C, ``SIGTERM``): waiting for the running units could
    take minutes, and their results would not be used. Another executor is shut down
    without waiting.
    """
    if isinstance(executor, ProcessPoolExecutor):
        processes = dict(getattr(executor, "_processes", None) or {})
        results = getattr(executor, "_result_queue", None)
        for process in processes.values():
            with contextlib.suppress(Exception):
                process.kill()
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            with contextlib.suppress(Exception):
                process.join(timeout=5)
        # A worker killed while it sent a result leaves half a message in the results
        # pipe, and the pool's manager thread waits for the rest for ever: the
        # interpreter's exit joins that thread, and the process never ends. The workers
        # are dead; with this process's own write end closed, the pipe has no writer
        # left, and the thread reads end-of-file and ends as for a broken pool.
        writer = getattr(results, "_writer", None)
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
        return
    executor.shutdown(wait=False, cancel_futures=True)
