"""Atomic writes: complete file or none, usual permissions, nothing left behind."""

from __future__ import annotations

import os
import stat

import pytest

from faceripper.fileio import atomic_write_bytes, atomic_writer


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_a_written_file_has_the_usual_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "sub" / "a.bin", b"data")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "sub" / "a.bin").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert (tmp_path / "sub" / "a.bin").read_bytes() == b"data"


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_writer(path) as stream:
        stream.write(b"new, half")
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
