"""Starting write-back is a hint: it accepts any open file and changes nothing in it.

After a batch's fsyncs, macOS needs ``F_FULLFSYNC`` to get past the drive's cache.
"""

from __future__ import annotations

import errno
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


class _Fcntl:
    """Stands in for macOS's fcntl, which cannot run here: records F_FULLFSYNC calls."""

    F_FULLFSYNC = 51  # <sys/fcntl.h> on macOS

    def __init__(self, error: int | None = None) -> None:
        self.error = error
        self.calls: list[int] = []

    def fcntl(self, fd: int, command: int) -> int:
        os.fstat(fd)  # a real descriptor
        self.calls.append(command)
        if self.error is not None:
            raise OSError(self.error, os.strerror(self.error))
        return 0


def _flush_with(monkeypatch: pytest.MonkeyPatch, fake: _Fcntl, path: Path) -> None:
    monkeypatch.setattr(writeback, "fcntl", fake)
    monkeypatch.setattr(writeback, "_FULLFSYNC", fake.F_FULLFSYNC)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        writeback.flush_drive_cache(fd)
    finally:
        os.close(fd)


def test_where_fsync_stops_at_the_drive_its_cache_is_flushed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _Fcntl()
    _flush_with(monkeypatch, fake, tmp_path / "f")
    assert fake.calls == [fake.F_FULLFSYNC]


def test_a_file_system_without_full_fsync_is_left_at_fsync(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _Fcntl(errno.ENOTSUP)
    _flush_with(monkeypatch, fake, tmp_path / "f")
    assert fake.calls == [fake.F_FULLFSYNC]


def test_a_failing_drive_flush_is_reported(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    with pytest.raises(OSError, match="Input/output error"):
        _flush_with(monkeypatch, _Fcntl(errno.EIO), tmp_path / "f")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's fsync flushes it")
def test_on_linux_there_is_nothing_more_to_flush() -> None:
    assert writeback._FULLFSYNC is None
    writeback.flush_drive_cache(-1)  # not even looked at
