"""The target's lock: one ``rip`` (or ``reconcile``) writes a target folder at a time.

The lock file is ``T/.faceripper.lock``, held with ``flock`` (``msvcrt.locking`` on
Windows) and released by the OS if the process dies.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import IO

from faceripper.errors import FaceripperError

LOCK_NAME = ".faceripper.lock"


class TargetLockedError(FaceripperError):
    """Another ``rip`` is writing to the same target folder."""


#: Lock files held by this process, closed in every child it forks (see :class:`TargetLock`).
_held_locks: set[IO[bytes]] = set()


def _close_held_locks() -> None:
    for handle in list(_held_locks):
        with contextlib.suppress(OSError):
            handle.close()
    _held_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_held_locks)


class TargetLock:
    """An exclusive, non-blocking lock on a file, released by the OS if the process dies.

    Only this process holds it: ``flock`` belongs to the open file, which a forked child
    would share (a worker process outliving a killed ``rip`` would keep the target
    locked), so every forked child closes it first thing; other children never get the
    descriptor (Python opens files non-inheritable, ``O_CLOEXEC``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: IO[bytes] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+b")
        try:
            if sys.platform == "win32":
                import msvcrt

                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise TargetLockedError(
                f"{self.path.parent}: another faceripper rip is writing to this folder"
            ) from None
        self.handle = handle
        _held_locks.add(handle)

    def release(self) -> None:
        if self.handle is not None:
            _held_locks.discard(self.handle)
            self.handle.close()
            self.handle = None
