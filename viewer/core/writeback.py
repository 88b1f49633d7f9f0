"""Starting to write a file's data to disk without waiting for it.

A batch of files is made durable with one flush (``syncfs`` or an ``fsync`` per file)
before its rows are committed; that flush then waits for all of the batch's data to
reach the disk. Started as each file is complete, the writing overlaps with whatever
comes next, and the flush has little left to wait for. Linux's ``sync_file_range``
does that; elsewhere this does nothing and the flush does all the work, as before.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

# sync_file_range(2): start write-out of dirty pages in the range, do not wait.
_SYNC_FILE_RANGE_WRITE = 2


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_SYNC_FILE_RANGE = _load()


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing ``fd``'s data to disk, and return at once.

    Only a hint: durability still comes from the flush that follows. A failure here is
    ignored; that flush reports it.
    """
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(fd, 0, 0, _SYNC_FILE_RANGE_WRITE)
