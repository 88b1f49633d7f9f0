"""Reading one file to store: probed, its header parsed, checked complete and unchanging.

The read stage of an import (:mod:`viewer.store.importer`), also used for received files
(:mod:`viewer.store.received`) and by the home's check (:mod:`viewer.store.verify`).
:func:`prepare` reads a small file whole and only the header of a large one, and says
what it found: a :class:`Prepared` file to store, or why the file is skipped or failed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import (
    MEDIA_STORAGE_DIRECTORY,
    PROBE_LENGTH,
    IncompleteHeaderError,
    probe,
)
from viewer.store.source_copy import Signature, changed_text, signature

# Files up to this size are read whole (one read, written from memory); larger ones are
# read up to HEAD_BYTES for the header and copied file to file by the kernel.
WHOLE_FILE = 256 << 10
HEAD_BYTES = 64 << 10
LARGE_FILE = 32 << 20

# O_NONBLOCK: the files were listed as regular files, but a medium that changes under the
# import can put a FIFO in one's place, whose open() would wait for a writer for ever. A
# regular file reads the same with it.
_READ = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_REPLACED = "no longer a regular file: it was replaced while being imported"


def _read_upto(fd: int, count: int) -> bytes:
    """Read ``count`` bytes, fewer only at the end of the file."""
    data = os.read(fd, count)
    if len(data) == count or not data:
        return data
    parts = [data]
    count -= len(data)
    while count > 0 and (more := os.read(fd, count)):
        parts.append(more)
        count -= len(more)
    return b"".join(parts)


@dataclass(slots=True)
class Prepared:
    """A file read and understood, not yet stored."""

    path: Path
    record: InstanceRecord
    size: int
    digest: str
    data: bytes | None  # the whole file, or None: copied from ``path``
    # For a file copied from ``path``: what it was when its header was read (device,
    # inode, size, modification time), checked again as it is copied.
    seen: Signature | None = None


@dataclass(slots=True)
class Outcome:
    """What happened to one input file in the read stage."""

    path: Path
    size: int
    prepared: Prepared | None = None
    problem: str = ""
    skipped: bool = False


def prepare(path: Path, size: int) -> Outcome:
    """Read one file: probe, parse the header and check the file is complete.

    Small files are read whole; of a large one only the beginning is read (the header),
    more as the header needs, and the pixel data's length is checked against the file
    size. A file whose size is no longer the one it was listed with is changing (being
    written, or replaced): it is refused, not stored as it happens to be.
    """
    try:
        # os.open/os.read, not open(): a buffered file object costs an fstat, an ioctl
        # and a seek per file, a fifth of the system calls of a small-file import.
        fd = os.open(path, _READ)
        try:
            data = _read_upto(fd, size if size <= WHOLE_FILE else HEAD_BYTES)
            if not data:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return Outcome(path, size, problem=_REPLACED)
                return Outcome(path, size, problem="an empty file", skipped=True)
            if not probe(data[:PROBE_LENGTH]):
                return Outcome(path, size, problem="not a DICOM file", skipped=True)
            record, data = _header(fd, data, str(path), size)
            info = os.fstat(fd)
        finally:
            os.close(fd)
    except BlockingIOError:  # a FIFO with a writer: no regular file says "try again"
        return Outcome(path, size, problem=_REPLACED)
    except OSError as exc:
        return Outcome(path, size, problem=f"cannot read: {exc.strerror or exc}")
    except InputFileError as exc:
        return Outcome(path, size, problem=exc.problem)
    except Exception as exc:  # pydicom raises many types on damaged input
        return Outcome(path, size, problem=f"cannot read the DICOM header ({exc})")
    if not stat.S_ISREG(info.st_mode):
        return Outcome(path, size, problem=_REPLACED)
    if info.st_size != size:
        return Outcome(path, size, problem=changed_text(size, info.st_size))
    if record.sop_class_uid == MEDIA_STORAGE_DIRECTORY:
        return Outcome(path, size, problem="a DICOMDIR (directory, not an image)", skipped=True)
    if len(data) == size and size <= LARGE_FILE:
        return Outcome(path, size, Prepared(path, record, size, "", data))
    return Outcome(path, size, Prepared(path, record, size, "", None, signature(info)))


def _header(fd: int, data: bytes, source: str, size: int) -> tuple[InstanceRecord, bytes]:
    """Parse the header from ``data``, reading more of ``fd`` while it needs more.

    Each read takes as much again as read so far: a header of 100 kB (a multi-frame
    file's per-frame groups) costs a few reads, not the whole file in memory.
    """
    while True:
        try:
            return read_header_bytes(data, source, size), data
        except IncompleteHeaderError:
            if len(data) >= size:
                raise
            more = _read_upto(fd, min(len(data) * 3, size - len(data)))
            if not more:
                raise InputFileError(source, changed_text(size, len(data))) from None
            data += more
