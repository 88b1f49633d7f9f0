"""What goes into a temporary file of the store: bytes read, or a source copied unchanged.

A file read whole is written from memory (:func:`write_all`); a large one is copied
file to file inside the kernel (:func:`copy_into`), and must still be the file whose
header was read: its :data:`Signature` (device, inode, size, modification time) is
checked before and after the copy, and a file that changed meanwhile fails with
:class:`SourceChangedError`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHUNK = 1 << 20


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``write(2)`` until everything is written (a short write is legal)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# What identifies a file's content as it was read: device, inode, size and
# modification time (ns) of its ``stat``.
Signature = tuple[int, int, int, int]


def signature(info: os.stat_result) -> Signature:
    """A file's :data:`Signature` from its ``stat``."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def changed_text(before: int, now: int) -> str:
    """The import report's words for a file that changed while it was imported."""
    return (f"changed while being imported (it had {before} bytes when first read and has "
            f"{now} now): import it again once it is complete")


_READ_NOW = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class SourceChangedError(OSError):
    """The file to copy is not the one whose header was read: it was replaced, truncated,
    extended or written to in between, or while it was copied."""

    def __init__(self, source: Path, listed: int, now: int) -> None:
        super().__init__(changed_text(listed, now))
        self.source = source

    def __str__(self) -> str:
        return str(self.args[0])


def copy_into(source: Path, fd: int, seen: Signature | None = None) -> None:
    """Copy a file inside the kernel where it can (``copy_file_range``, as ``cp`` does).

    With ``seen``, the file must still be that one, before and after the copy: its
    header was read earlier, and a medium being written to (or a file replaced) would
    otherwise put other bytes under that header's UIDs.
    """
    # O_NONBLOCK: a file replaced by a FIFO meanwhile would block open() for ever; as a
    # regular file it reads the same. The signature below then tells it is another file.
    with os.fdopen(os.open(source, _READ_NOW), "rb") as src:
        before = os.fstat(src.fileno())
        if seen is not None and signature(before) != seen:
            raise SourceChangedError(source, seen[2], before.st_size)
        remaining = before.st_size
        if hasattr(os, "copy_file_range"):
            try:
                while remaining > 0:
                    copied = os.copy_file_range(src.fileno(), fd, min(remaining, 1 << 30))
                    if copied == 0:
                        break
                    remaining -= copied
                _unchanged(source, src.fileno(), before, remaining)
                return
            except SourceChangedError:
                raise
            except OSError:
                src.seek(0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
        with os.fdopen(os.dup(fd), "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
            remaining = before.st_size - dst.tell()
        _unchanged(source, src.fileno(), before, remaining)


def _unchanged(source: Path, fd: int, before: os.stat_result, remaining: int) -> None:
    """Raise :class:`SourceChangedError` if the copy of ``fd`` ended short or the file
    changed while it was copied."""
    after = os.fstat(fd)
    if remaining or signature(after) != signature(before):
        raise SourceChangedError(source, before.st_size, after.st_size)
