"""Atomic file writes: a temporary file in the target's folder, fsync, then rename.

A reader (or a resumed run after ``kill -9``) sees either the old file or the complete
new one, never a partial file. Temporary files are hidden (``.name.*.tmp``) so dataset
loaders never pick them up.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_writer(path: Path, fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only if the block succeeds.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())
        Path(temporary).chmod(_MODE)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, fsync=fsync) as stream:
        stream.write(data)
