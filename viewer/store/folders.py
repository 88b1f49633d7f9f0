"""File system steps under the managed file store: private folders, renames, folder flushes.

:class:`~viewer.store.filestore.FileStore` puts its files in place with these: folders
made 0700 all the way down (:func:`make_private_folders`), a rename that never replaces a
stored file (``renameat2`` with ``RENAME_NOREPLACE``, or a hard link), and folders
flushed so that the names made in them survive a power cut (:func:`sync_folder`). The
store's repair and deletion use the same folder steps.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import filecmp
import os
from collections.abc import Callable
from pathlib import Path

from viewer.core.writeback import libc_function

# A folder opened to flush its entries (POSIX); Windows cannot open a folder as a file,
# and NTFS journals its renames.
FOLDER_OPEN_FLAGS = (os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
           if hasattr(os, "O_DIRECTORY") else None)
# fsync of a folder where the file system has no use for it (some network file systems).
_NOT_SUPPORTED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})

# renameat2(2) with RENAME_NOREPLACE: a rename that fails with EEXIST rather than
# replace what is there (Linux 3.15; ext4, btrfs, xfs, tmpfs and others).
_RENAMEAT2 = libc_function("renameat2", [ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                         ctypes.c_char_p, ctypes.c_uint])
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
# renameat2 or its flag refused: an older kernel, a file system without it.
_NO_RENAMEAT2 = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})


def rename_unless_there(source: str | Path, target: str | Path) -> bool:
    """Rename ``source`` to ``target`` unless ``target`` exists; whether it was renamed.

    A stored file is never replaced: another process may have put the same instance
    there a moment ago (two imports of one disc, a push during an import), with the same
    bytes or, from a damaged or edited copy, with others, and its row may follow.
    ``os.replace`` let the second file take the place of the first under the first's
    row. Linux renames without replacing in one call; elsewhere, or where the file
    system refuses that, a hard link does (Windows: a rename never replaces).
    """
    if _RENAMEAT2 is not None:
        if _RENAMEAT2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                      _RENAME_NOREPLACE) == 0:
            return True
        error = ctypes.get_errno()
        if error == errno.EEXIST:
            return False
        if error not in _NO_RENAMEAT2:
            raise OSError(error, os.strerror(error), target)
    if os.name == "nt":
        try:
            os.rename(source, target)
        except FileExistsError:
            return False
        return True
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # No hard links here (FAT, some network file systems): a check, then the rename.
        if os.path.lexists(target):
            return False
        os.replace(source, target)
        return True
    os.unlink(source)
    return True


def drop_copy(source: str | Path, target: str | Path) -> None:
    """``target`` was there already: if it holds the same bytes, ``source`` is a copy of
    it and goes; otherwise FileExistsError, and ``source`` stays for the caller."""
    if filecmp.cmp(source, target, shallow=False):
        os.unlink(source)
        return
    raise FileExistsError(errno.EEXIST, "a different file of this instance is stored",
                          target)


def make_private_folders(folder: str) -> None:
    """``os.makedirs`` with every folder it makes 0700, not only the last one.

    ``makedirs`` gives the folders above the last the umask's mode: a study's folder was
    0777 under a umask of 000, though its series' folder was 0700.
    """
    missing = []
    while not os.path.isdir(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made meanwhile by another thread
            os.mkdir(path, 0o700)


def sync_folder(folder: str | Path) -> None:
    """``fsync`` a folder, so that names made in it survive a power cut.

    Nothing where that cannot be done or is of no use: Windows cannot open a folder as a
    file (NTFS journals its names), some network file systems refuse a folder's fsync.
    """
    if FOLDER_OPEN_FLAGS is None:
        return
    try:
        flush_folder(str(folder), os.fsync)
    except OSError as exc:
        if exc.errno not in _NOT_SUPPORTED:
            raise


def flush_folder(folder: str, flush: Callable[[int], None]) -> None:
    """Open ``folder`` and apply ``flush`` to it (``fsync``, or the drive-cache flush);
    errors are the caller's to judge (:func:`sync_folder` ignores "not supported")."""
    fd = os.open(folder, FOLDER_OPEN_FLAGS)  # type: ignore[arg-type]
    try:
        flush(fd)
    finally:
        os.close(fd)
