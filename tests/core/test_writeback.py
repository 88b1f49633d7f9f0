"""Starting write-back is a hint: it accepts any open file and changes nothing in it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from viewer.core import writeback


def test_start_writeback_leaves_the_file_as_written(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"x" * 300_000)
        writeback.start_writeback(fd)
        os.write(fd, b"y")
        writeback.start_writeback(fd)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"x" * 300_000 + b"y"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="both calls are Linux's")
def test_linux_has_both_calls_and_syncfs_flushes(tmp_path: Path) -> None:
    assert writeback._SYNC_FILE_RANGE is not None and writeback.HAS_SYNCFS
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        writeback.syncfs(fd)
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        writeback.syncfs(-1)  # EBADF, reported
