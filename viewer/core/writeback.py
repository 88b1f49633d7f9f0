"""Writing a file's data to disk: started early, and flushed for a whole file system.

A batch of files is made durable with one flush before its rows are committed: Linux's
``syncfs`` (one call for the file system), elsewhere an ``fsync`` per file and, on
macOS, one :func:`flush_drive_cache`. Started as
each file is complete (Linux's ``sync_file_range``), the writing overlaps with whatever
comes next, and the flush has little left to wait for. Where a call is missing, the
functions here say so (:data:`HAS_SYNCFS`) or do nothing (:func:`start_writeback`).
"""

from __future__ import annotations

import ctypes
import errno
import sys
from typing import Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

# sync_file_range(2): start write-out of dirty pages in the range, do not wait.
_SYNC_FILE_RANGE_WRITE = 2


def libc_function(name: str, argtypes: list[Any]) -> Any:
    """A Linux C library function returning int, or None elsewhere or if missing."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


_SYNCFS = libc_function("syncfs", [ctypes.c_int])
_SYNC_FILE_RANGE = libc_function(
    "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint])

#: Whether :func:`syncfs` is available; without it, flush each file with ``os.fsync``.
HAS_SYNCFS = _SYNCFS is not None


def syncfs(fd: int) -> None:
    """Flush the whole file system that ``fd`` is on (Linux ``syncfs(2)``).

    Raises
    ------
    OSError
        The flush failed, or the platform has no ``syncfs`` (see :data:`HAS_SYNCFS`).
    """
    if _SYNCFS is None:
        raise OSError("syncfs is not available on this platform")
    if _SYNCFS(fd) != 0:
        raise OSError(ctypes.get_errno(), "syncfs failed")


# macOS: fsync(2) hands the data to the drive, which may keep it in its cache through a
# power cut; F_FULLFSYNC asks the drive to write out all it holds (fcntl(2)).
_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)
# F_FULLFSYNC refused: file systems that do not offer it (network, some FUSE).
_NO_FULLFSYNC = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOTTY})


def needs_drive_flush() -> bool:
    """Whether :func:`flush_drive_cache` does anything here (macOS)."""
    return _FULLFSYNC is not None


def flush_drive_cache(fd: int) -> None:
    """After a batch's ``fsync``s, have the drive write out its cache, where they do not.

    On macOS ``fsync`` leaves the data in the drive's cache; ``F_FULLFSYNC`` on any file
    of the drive writes all of it out: one call makes a whole batch durable, where one
    per file would cost a cache flush each. Elsewhere ``fsync`` and ``syncfs`` flush the
    drive's cache themselves, and this does nothing; so does a file system that refuses
    ``F_FULLFSYNC`` (its ``fsync`` is all there is).

    Raises
    ------
    OSError
        The flush failed.
    """
    if _FULLFSYNC is None:
        return
    try:
        fcntl.fcntl(fd, _FULLFSYNC)
    except OSError as exc:
        if exc.errno not in _NO_FULLFSYNC:
            raise


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing ``fd``'s data to disk, and return at once.

    Only a hint: durability still comes from the flush that follows. A failure here is
    ignored; that flush reports it.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
