"""Atomic file writes: a temporary file in the target's folder, fsync, then rename.

A reader (or a resumed run after ``kill -9``) sees either the old file or the complete
new one, never a partial file. Temporary files are hidden (``.name.*.tmp``) so dataset
loaders never pick them up.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

#: Flags of a new temporary file: created, never an existing one, not inherited by children.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | os.O_CLOEXEC


def _create_temporary(folder: Path, name: str) -> tuple[int, Path]:
    """A new hidden temporary file in ``folder``, opened for writing.

    Created with mode 0666, which the kernel reduces by the umask: the usual permissions
    of a new file, unlike mkstemp's 0600, without reading (and briefly changing) the
    process's umask.
    """
    for _ in range(100):
        temporary = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(temporary, _CREATE, 0o666), temporary
        except FileExistsError:
            continue
    raise FileExistsError(f"{folder}: no free temporary file name for {name}")


@contextmanager
def atomic_writer(path: Path, fsync: bool = True) -> Iterator[BinaryIO]:
    """Open a binary stream whose content replaces ``path`` only if the block succeeds.

    The file gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = _create_temporary(path.parent, path.name)
    try:
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            if fsync:
                os.fsync(stream.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_writer(path, fsync=fsync) as stream:
        stream.write(data)
