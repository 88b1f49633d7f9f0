"""Whether a file holds the instance already stored: a copy, or a conflict.

An import (:mod:`viewer.store.importer`) and a receive (:mod:`viewer.store.received`)
that find a SOP Instance UID stored already compare the two files: byte for byte, and
failing that the data sets after their File Meta Information, which differs between
two senders' copies of one instance.
"""

from __future__ import annotations

import filecmp
import os
from pathlib import Path

from viewer.dicom.same_decoded import same_instance_decoded
from viewer.dicom.structure import split_file_meta
from viewer.store.reading import Prepared


def same_content(item: Prepared, stored: Path) -> bool | None:
    """Whether a file to import holds the instance stored in ``stored`` (a re-import).

    Byte for byte the same file is the usual case, and all that is read. Only when the
    sizes or bytes differ are the two File Meta groups read, to compare the data sets
    after them (:func:`same_data_set`): two copies of one instance written by different
    senders differ there and nowhere else. None when the stored file is gone (removed
    behind the store's back).
    """
    try:
        size = stored.stat().st_size
    except FileNotFoundError:
        return None
    except OSError:
        return False
    try:
        if size == item.size:
            if item.data is not None:
                if stored.read_bytes() == item.data:
                    return True
            elif filecmp.cmp(item.path, stored, shallow=False):
                return True
        return same_data_set(item.path, stored)
    except OSError:
        return False


# Read for the File Meta group: (0002,0000) makes it a few hundred bytes; a group longer
# than this (a huge Private Information value) is compared as whole files.
META_HEAD = 64 << 10
_COMPARE_PIECE = 1 << 20


def same_data_set(first: Path, second: Path) -> bool:
    """Whether two DICOM files hold the same data set byte for byte, whatever their File
    Meta Information.

    Group 0002 is the file's, not the instance's (PS3.10 7.1): the Source Application
    Entity Title our receiver writes (the sender's), the writer's Implementation Class
    UID and Version Name, its Private Information. The data sets after it are compared
    byte for byte under the same Transfer Syntax UID, and decoded under two different
    ones (:func:`~viewer.dicom.same_decoded.same_instance_decoded`). A file without
    preamble and meta, or whose meta group cannot be told apart
    (:func:`viewer.dicom.structure.split_file_meta`), is compared whole.

    Raises
    ------
    OSError
        A file cannot be read.
    """
    with first.open("rb") as a, second.open("rb") as b:
        split_a, split_b = split_file_meta(a.read(META_HEAD)), split_file_meta(b.read(META_HEAD))
        size_a, size_b = os.fstat(a.fileno()).st_size, os.fstat(b.fileno()).st_size
        if split_a is None or split_b is None:
            return size_a == size_b and filecmp.cmp(first, second, shallow=False)
        (start_a, syntax_a), (start_b, syntax_b) = split_a, split_b
        if syntax_a != syntax_b:
            # Another encoding of the same data set is the same instance (PS3.5 10): a
            # PACS sending a study again compressed is not a conflict each time.
            return same_instance_decoded(first, second)
        if size_a - start_a != size_b - start_b:
            return False
        a.seek(start_a)
        b.seek(start_b)
        while piece := a.read(_COMPARE_PIECE):
            if piece != b.read(len(piece)):
                return False
        return not b.read(1)
