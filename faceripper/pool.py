"""Where ``rip``'s work units run: local worker processes, or a :class:`Cluster`.

A local pool's workers end with the main process and ignore Ctrl-C
(:mod:`faceripper.processes`). A worker that dies breaks a local pool
(``BrokenProcessPool``): :meth:`WorkerPool.replace` starts a new one, and the schedule
(:mod:`faceripper.pipeline`) runs again what was in flight.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any, Protocol

from faceripper.processes import (
    init_worker_process,
    prepare_forked_workers,
    terminate_executor,
)
from faceripper.worker import References, RipSettings, init_worker


class Cluster(Protocol):
    """Somewhere other than local processes to run the work units.

    :class:`faceripper.distributed.DaskCluster` is one. Only the work units
    (:func:`faceripper.worker.try_scan`, :func:`faceripper.worker.process_segment`) run
    there; their results come back and are committed by the main process
    (:mod:`faceripper.commit`), as for local processes.
    """

    def open(self, settings: RipSettings, references: References) -> tuple[Executor, int]:
        """An executor whose workers hold ``settings`` and ``references``, and how many
        units it runs at once. A unit that keeps killing its workers must complete with
        its crash result: ``BrokenProcessPool`` is a local pool's alone."""
        ...


def init_pool_worker(settings: RipSettings, references: References) -> None:
    """Local worker initializer: end with the main process, then keep the run's settings."""
    init_worker_process()
    init_worker(settings, references)


class WorkerPool:
    """Where the work units run: a process pool that can be replaced when a worker dies,
    or a :class:`Cluster`'s executor."""

    def __init__(
        self,
        threads: int,
        start_method: str | None,
        initargs: tuple[Any, ...],
        cluster: Cluster | None = None,
    ) -> None:
        self.threads = threads
        self.context = multiprocessing.get_context(start_method)
        self.initargs = initargs
        self.cluster = cluster
        self.executor = self._new()

    def _new(self) -> Executor:
        if self.cluster is not None:
            executor, self.threads = self.cluster.open(*self.initargs)
            return executor
        prepare_forked_workers(self.initargs[0].model, self.context.get_start_method())
        return ProcessPoolExecutor(
            max_workers=self.threads,
            mp_context=self.context,
            initializer=init_pool_worker,
            initargs=self.initargs,
        )

    def replace(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._new()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def terminate(self) -> None:
        """Stop at once (an interrupted or failed run): running units are abandoned."""
        terminate_executor(self.executor)
