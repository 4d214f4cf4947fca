"""Run ``rip``'s work units on a Dask distributed cluster (``rip --scheduler ADDRESS``).

Needs the optional package ``distributed`` (``pip install "faceripper[distributed]"``);
nothing else in faceripper imports this module, so ``import faceripper`` never imports
Dask.

Only the work units move: the scans (:func:`faceripper.worker.try_scan`) and the
segments (:func:`faceripper.worker.process_segment`) run on the cluster's workers,
through a :class:`concurrent.futures.Executor` built on the client's executor
(:meth:`distributed.Client.get_executor`). Everything else stays in the client process,
exactly as for a local run: the reference photos are encoded there, the results come
back to it and are committed in segment order by :func:`faceripper.pipeline.rip`, and it
alone writes the dataset, the manifest and the journal. Workers need read access to the
videos at the path the client sees, and no write access anywhere.

The run's settings and reference encodings (a few kilobytes) go to each worker once, in
a :class:`RunPlugin` registered under a name unique to the run. Dask hands registered
worker plugins to workers that join later too (a worker restarted after a crash, a
cluster that scales up), and each work unit carries only the plugin's name.

Failures:

* A worker that dies: Dask runs its units again on other workers. A unit that has
  killed ``distributed.scheduler.allowed-failures`` + 1 workers ends as
  :class:`distributed.KilledWorker`; it becomes that unit's error (its video's scan
  error, or its segment's ``the worker process crashed``), as a crash of a local worker
  process does, and the run goes on.
* The client loses the scheduler: the units in flight are cancelled by Dask and the run
  stops with :class:`SchedulerLostError` (exit code 1). Committed segments are in the
  journal, so the same command (with or without ``--scheduler``) continues the run.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import logging
import pickle
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from faceripper._version import __version__
from faceripper.errors import FaceripperError, UsageError
from faceripper.video import VideoError
from faceripper.worker import References, RipSettings, SegmentResult, SegmentTask, init_worker

log = logging.getLogger(__name__)

#: Default seconds to wait for the scheduler to answer (Dask's own default).
DEFAULT_CONNECT_TIMEOUT_S = 30.0


class SchedulerError(FaceripperError):
    """The scheduler cannot be reached, or its workers cannot run faceripper (exit code 2)."""


class SchedulerLostError(FaceripperError):
    """The client lost its scheduler in the middle of a run (exit code 1).

    The segments committed before are kept: rerunning the same command continues.
    """

    exit_code = 1


def security(
    ca_file: Path | None, cert: Path | None, key: Path | None
) -> distributed.security.Security | None:
    """Dask TLS settings for the client from ``--tls-ca-file``, ``--tls-cert``, ``--tls-key``.

    None when no option is given (Dask's configuration then applies, as for any Dask
    client). With TLS options, encryption is required: the client refuses to talk to a
    ``tcp://`` scheduler.

    Raises:
        UsageError: a file is missing, or the CA file or the certificate is not given.
    """
    if ca_file is None and cert is None and key is None:
        return None
    for option, path in (("--tls-ca-file", ca_file), ("--tls-cert", cert), ("--tls-key", key)):
        if path is not None and not path.is_file():
            raise UsageError(f"{path}: {option} file not found")
    if ca_file is None or cert is None:
        raise UsageError(
            "TLS needs --tls-ca-file (the cluster's CA) and --tls-cert (this client's "
            "certificate; --tls-key too unless the key is in the same file)"
        )
    return distributed.security.Security(
        tls_ca_file=str(ca_file),
        tls_client_cert=str(cert),
        tls_client_key=str(key) if key is not None else None,
        require_encryption=True,
    )


class RunPlugin(WorkerPlugin):
    """One run's settings and reference encodings, kept by every worker of the cluster."""

    idempotent = False

    def __init__(self, name: str, settings: RipSettings, references: References) -> None:
        self.name = name
        self.settings = settings
        self.references = references


#: One unit at a time per worker process, whatever its number of threads: dlib's HOG face
#: detector gives wrong boxes when two threads share it (dlib 20.0.1: 60 of 400 detections
#: differed with one detector shared by 2 threads, none with a detector per thread), and
#: two threads were not faster than one (dlib keeps the GIL).
_unit_lock = threading.Lock()
#: The run whose settings :func:`faceripper.worker.init_worker` installed in this process.
_installed: list[str] = [""]


def run_unit(run: str, function: Callable[..., Any], *args: Any) -> Any:
    """Run one work unit on a Dask worker, with the run's settings installed.

    Several runs (clients) may share a cluster: the process's settings are swapped when
    a unit of another run comes.
    """
    plugin = distributed.get_worker().plugins.get(run)
    if not isinstance(plugin, RunPlugin):
        raise RuntimeError(f"this worker has no faceripper run {run!r} (plugin not registered)")
    with _unit_lock:
        if _installed[0] != run:
            init_worker(plugin.settings, plugin.references)
            _installed[0] = run
        return function(*args)


def environment() -> dict[str, str]:
    """Versions that decide a run's output, as the calling process has them."""
    import av
    import cv2
    import dlib
    import numpy

    return {
        "faceripper": __version__,
        "dlib": str(dlib.__version__),
        "opencv": str(cv2.__version__),
        "av": str(av.__version__),
        "numpy": str(numpy.__version__),
    }


def _crashed(args: tuple[Any, ...], detail: str) -> Any:
    """The result a unit that kept killing its workers gets, as for a local crash."""
    unit = args[0] if args else None
    if isinstance(unit, SegmentTask):
        return SegmentResult(unit.sequence, error=f"{unit.path}: {detail}")
    if isinstance(unit, (str, Path)):  # a scan: its result is the error
        return VideoError(f"{unit}: {detail}")
    return None


class DaskExecutor(cf.Executor):
    """Submits one run's work units to the cluster.

    Its futures are plain :class:`concurrent.futures.Future` objects: a unit that kept
    killing workers completes with its crash result instead of ``KilledWorker``, and
    every unit in flight fails with :class:`SchedulerLostError` when the scheduler is
    lost.
    """

    def __init__(self, client: distributed.Client, run: str, address: str) -> None:
        self._client = client
        self._run = run
        self._address = address
        self._executor = client.get_executor(pure=False)
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future[Any]:
        if kwargs:
            raise TypeError("work units take positional arguments only")
        remote = tuple(_absolute(arg) for arg in args)
        inner = self._executor.submit(run_unit, self._run, fn, *remote)
        outer: cf.Future[Any] = cf.Future()
        outer.set_running_or_notify_cancel()
        inner.add_done_callback(lambda done: self._settle(done, outer, args))
        return outer

    def _settle(self, inner: cf.Future[Any], outer: cf.Future[Any], args: tuple[Any, ...]) -> None:
        if inner.cancelled():
            outer.set_exception(
                SchedulerLostError(
                    f"lost the connection to the Dask scheduler at {self._address}; the "
                    "segments finished so far are kept: run the same command again to continue"
                )
            )
            return
        error = inner.exception()
        if isinstance(error, distributed.KilledWorker):
            result = _crashed(args, f"the worker process crashed ({_killed(error)})")
            if result is not None:
                outer.set_result(result)
                return
        if error is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel the units still queued or running, and forget the run on the workers."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=False)
        if self._client.status == "running":
            try:
                self._client.unregister_worker_plugin(self._run)
            except Exception as exc:  # the run's results are all in; only cleanup failed
                log.info("could not unregister the run's worker plugin: %s", exc)


def _absolute(arg: Any) -> Any:
    """A unit's video path made absolute: a worker's working folder is not the client's."""
    if isinstance(arg, SegmentTask) and not arg.path.is_absolute():
        return dataclasses.replace(arg, path=arg.path.absolute())
    if isinstance(arg, Path):
        return arg.absolute()
    return arg


def _killed(error: BaseException) -> str:
    allowed = getattr(error, "allowed_failures", None)
    if isinstance(allowed, int):
        return f"it killed {allowed + 1} Dask worker{'s' if allowed else ''}"
    return "it killed its Dask workers"


class DaskCluster:
    """A connection to a Dask scheduler on which ``rip`` runs its work units.

    Args:
        address: the scheduler, ``tcp://HOST:PORT`` or ``tls://HOST:PORT``.
        security: TLS settings (:func:`security`); None: Dask's configuration.
        timeout_s: seconds to wait for the scheduler to answer.
        threads: work units to run at once (``rip`` keeps twice that many in flight);
            None: the number of worker processes of the cluster when the run starts
            (each runs one unit at a time).

    Raises:
        SchedulerError: the scheduler does not answer.
        UsageError: TLS options with a ``tcp://`` address.
    """

    def __init__(
        self,
        address: str,
        security: distributed.security.Security | None = None,
        timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        threads: int | None = None,
    ) -> None:
        self.address = address
        self.threads = threads
        if security is not None and security.require_encryption and address.startswith("tcp://"):
            raise UsageError(f"{address}: the TLS options need a tls:// scheduler address")
        if address.startswith("tls://") and security is None:
            configured = distributed.security.Security()  # Dask's configuration files
            if not (
                getattr(configured, "tls_ca_file", None)
                and getattr(configured, "tls_client_cert", None)
            ):
                raise UsageError(
                    f"{address}: a tls:// scheduler needs --tls-ca-file and --tls-cert "
                    "(or Dask's distributed.comm.tls settings)"
                )
        try:
            self.client = distributed.Client(
                address,
                security=security,
                timeout=timeout_s,
                set_as_default=False,
            )
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerError(
                f"cannot connect to the Dask scheduler at {address}: {_one_line(exc)}"
            ) from None

    def open(self, settings: RipSettings, references: References) -> tuple[cf.Executor, int]:
        """An executor for one run, and how many units it runs at once.

        Waits for a first worker if none has joined yet, checks that the workers run
        the same faceripper, and gives every worker the run's settings and references.

        Raises:
            SchedulerError: a worker cannot run faceripper, or runs another version of it.
        """
        if not self.client.nthreads():
            log.warning("no worker has joined the scheduler at %s yet: waiting", self.address)
            self.client.wait_for_workers(1)
        self._check_workers()
        digest = hashlib.sha256(pickle.dumps((settings, references), protocol=5)).hexdigest()
        run = f"faceripper-{digest[:16]}-{uuid.uuid4().hex[:8]}"
        self.client.register_plugin(RunPlugin(run, settings, references), name=run)
        nthreads = self.client.nthreads()
        crowded = sorted(worker for worker, n in nthreads.items() if n > 1)
        if crowded:
            log.warning(
                "%d worker(s) have several threads (%s): each worker process runs one "
                "faceripper unit at a time; start workers with --nthreads 1 and use "
                "--nworkers for more processes",
                len(crowded),
                crowded[0],
            )
        return DaskExecutor(self.client, run, self.address), self.threads or max(1, len(nthreads))

    def _check_workers(self) -> None:
        here = environment()
        found = self.client.run(environment, on_error="return")
        for worker, versions in sorted(found.items()):
            if isinstance(versions, BaseException):
                raise SchedulerError(
                    f"worker {worker} cannot run faceripper ({_one_line(versions)}): install "
                    f"faceripper {__version__} and its dependencies on every worker"
                )
            if versions.get("faceripper") != here["faceripper"]:
                raise SchedulerError(
                    f"worker {worker} runs faceripper {versions.get('faceripper')}, this "
                    f"client {here['faceripper']}: install the same version everywhere"
                )
            differ = [
                f"{k} {versions.get(k)} (here {v})" for k, v in here.items() if versions.get(k) != v
            ]
            if differ:
                log.warning(
                    "worker %s has other versions: %s; its crops may differ from a local run's",
                    worker,
                    ", ".join(differ),
                )

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        loggers = [logging.getLogger(name) for name in ("distributed", "distributed.client")]
        levels = [logger.level for logger in loggers]
        if self.client.status != "running":
            # Lost scheduler: closing cancels the client's reconnection attempts, which
            # Dask logs as an error with a traceback; SchedulerLostError already says it.
            for logger in loggers:
                logger.setLevel(logging.CRITICAL)
        try:
            self.client.close(timeout=5)
        except Exception as exc:  # a lost scheduler: nothing left to close cleanly
            log.info("closing the Dask client: %s", exc)
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    def __enter__(self) -> DaskCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."
