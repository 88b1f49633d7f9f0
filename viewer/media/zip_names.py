"""Zip archives whose member names are flagged UTF-8 but are not (APPNOTE 4.4.4, bit 11).

Some Windows tools set the flag over names written in the system's code page (a patient's
folder ``Müller`` in cp1252). Python's zipfile decodes every name of the central
directory when it opens an archive and stops at the first such name, which would lose
every image in it. Such an archive is read through a view of its bytes in which the flag
is cleared on those members' headers, central and local: zipfile then decodes their names
as code page 437, the format's own encoding without the flag (APPNOTE Appendix D), and
extracts every member. Only the names' spelling is a guess; a DICOMDIR's File IDs are
ASCII (PS3.10 8.2), so no record's match depends on it.
"""

from __future__ import annotations

import contextlib
import io
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

_UTF8_NAME = 0x800  # general purpose bit 11
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # APPNOTE 4.3.12, 46 bytes
_LOCAL_SIGNATURE = b"PK\x03\x04"
_FLAGS_AT_CENTRAL, _FLAGS_AT_LOCAL = 8, 6
_NO_OFFSET = 0xFFFFFFFF  # the offset is in the Zip64 extra field (APPNOTE 4.5.3)
# The Zip64 end of central directory record and its locator (APPNOTE 4.3.14, 4.3.15),
# as zipfile's _EndRecData reports them: [signature, disk, disk of the directory,
# entries here, entries, directory size, directory offset, comment length, comment,
# where the record is].
_END_64, _END_64_SIZE, _END_64_LOCATOR_SIZE = b"PK\x06\x06", 56, 20


@contextlib.contextmanager
def relabelled(archive: Path) -> Iterator[tuple[zipfile.ZipFile, int] | None]:
    """``archive`` opened with the UTF-8 flag cleared where a name is not UTF-8, and how
    many names that is; None when that does not make it readable."""
    with open(archive, "rb") as fh:
        try:
            patches = _patches(fh)
            opened = zipfile.ZipFile(_PatchedView(fh, patches)) if patches else None
        except (OSError, ValueError, zipfile.BadZipFile, NotImplementedError, struct.error):
            opened = None
        if opened is None:
            yield None
            return
        with opened:
            yield opened, sum(1 for _, which in patches if which == "central")


def _patches(fh: io.BufferedReader) -> dict[tuple[int, str], bytes]:
    """(offset, which header) -> the two flag bytes to read there instead."""
    # zipfile's own reading of the end records (Zip64 included) is the one to agree with;
    # without it, there is no fallback rather than a second opinion on the format.
    end_records = getattr(zipfile, "_EndRecData", None)
    if end_records is None:
        return {}
    end = end_records(fh)
    if not end:
        return {}
    size, offset, location = int(end[5]), int(end[6]), int(end[9])
    concat = location - size - offset  # bytes before the archive (a self-extractor)
    if end[0] == _END_64:
        concat -= _END_64_SIZE + _END_64_LOCATOR_SIZE
    fh.seek(offset + concat)
    directory = fh.read(size)
    patches: dict[tuple[int, str], bytes] = {}
    at = 0
    while at + _CENTRAL.size <= len(directory):
        fields = _CENTRAL.unpack_from(directory, at)
        if fields[0] != b"PK\x01\x02":
            break
        flags, name_length, extra_length, comment_length = fields[3], *fields[10:13]
        local = fields[16]
        name = directory[at + _CENTRAL.size:at + _CENTRAL.size + name_length]
        if flags & _UTF8_NAME and not _is_utf8(name):
            cleared = struct.pack("<H", flags & ~_UTF8_NAME)
            patches[offset + concat + at + _FLAGS_AT_CENTRAL, "central"] = cleared
            if local != _NO_OFFSET:
                _patch_local(fh, local + concat, patches)
        at += _CENTRAL.size + name_length + extra_length + comment_length
    return patches


def _patch_local(fh: io.BufferedReader, header: int,
                 patches: dict[tuple[int, str], bytes]) -> None:
    fh.seek(header)
    head = fh.read(8)
    if len(head) == 8 and head[:4] == _LOCAL_SIGNATURE:
        (flags,) = struct.unpack_from("<H", head, _FLAGS_AT_LOCAL)
        if flags & _UTF8_NAME:
            patches[header + _FLAGS_AT_LOCAL, "local"] = struct.pack("<H", flags & ~_UTF8_NAME)


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _PatchedView(io.RawIOBase):
    """A read-only view of a file with a few two-byte fields replaced."""

    def __init__(self, fh: io.BufferedReader, patches: dict[tuple[int, str], bytes]) -> None:
        super().__init__()
        self._fh = fh
        self._patches = sorted((offset, data) for (offset, _), data in patches.items())

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._fh.tell()
        count = self._fh.readinto(buffer)
        view = memoryview(buffer).cast("B")
        for offset, data in self._patches:
            for i, byte in enumerate(data):
                if start <= offset + i < start + count:
                    view[offset + i - start] = byte
        return count

