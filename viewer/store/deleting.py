"""A study's files taken out of the store inside the transaction that deletes its rows.

Deleting rows first and the files after left a moment, outside the write lock, in which
another process could import the same instances again: its rows named files the delete
then removed. Files first and rows after left rows without files on a crash. So the files
are moved aside (renamed, under the same write lock, to ``tmp/deleting-<owner>-<n>/`` in
the home, named after this process as :func:`viewer.core.process_identity.owner` names it,
each under its own relative path), the rows are deleted and committed, and only then is
the folder removed. A failed commit puts the files back. A crash leaves the
folder: the next :class:`~viewer.store.study_store.StudyStore` of the home puts back
the files whose rows are still there (the delete did not commit) and removes the rest.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from viewer.core.process_identity import owner, owner_alive
from viewer.store.filestore import FileStore
from viewer.store.folders import make_private_folders

LOGGER = logging.getLogger(__name__)

DELETING_PREFIX = "deleting-"
_COUNTER = itertools.count()


def new_aside(home: Path) -> Path:
    """A folder name, not yet made, for the files of one delete."""
    return home / "tmp" / f"{DELETING_PREFIX}{owner()}-{next(_COUNTER)}"


def move_aside(files: FileStore, aside: Path, relatives: Iterable[str]) -> list[str]:
    """Rename each stored file to ``aside``/its relative path; those moved, in order.

    A file already gone is skipped. Raises OSError for one that cannot be moved (the
    caller puts back those moved and gives up the delete).
    """
    moved: list[str] = []
    for relative in relatives:
        target = aside / relative
        make_private_folders(str(target.parent))
        try:
            os.rename(files.absolute(relative), target)
        except FileNotFoundError:
            continue
        moved.append(relative)
    return moved


def put_back(files: FileStore, aside: Path, relatives: Iterable[str]) -> None:
    """Return files :func:`move_aside` moved to their places (a delete that failed)."""
    for relative in relatives:
        place = files.absolute(relative)
        with contextlib.suppress(OSError):
            make_private_folders(str(place.parent))
            os.rename(aside / relative, place)
    remove(aside)


def remove(aside: Path) -> None:
    """Remove a delete's folder and what is left in it."""
    shutil.rmtree(aside, ignore_errors=True)


def recover(home: Path, files: FileStore, named: Callable[[list[str]], set[str]]) -> None:
    """Finish the deletes of processes that ended in the middle of one.

    ``named`` gives, of some relative paths, those a row still names: their delete did
    not commit, and they go back to their places; the rest go.
    """
    try:
        entries = [e for e in os.scandir(home / "tmp") if e.name.startswith(DELETING_PREFIX)]
    except OSError:
        return
    boot: list[str] = []
    for entry in entries:
        # A bare pid would keep a crashed delete's files hidden for as long as another
        # process has its number (after a reboot), while a repair drops their rows.
        alive = owner_alive(entry.name.removeprefix(DELETING_PREFIX), boot)
        if not entry.is_dir(follow_symlinks=False) or alive:
            continue
        aside = Path(entry.path)
        relatives = [os.path.relpath(os.path.join(folder, name), aside)
                     for folder, _dirs, names in os.walk(aside) for name in names]
        keep = named(relatives)
        back = [r for r in relatives if r in keep and not files.absolute(r).exists()]
        if back:
            LOGGER.warning("a delete cut short left %d files whose rows remain: put back",
                           len(back))
        put_back(files, aside, back)
        # The delete committed these: their study's folders go too, if it left them empty.
        files.prune([r for r in relatives if r not in keep])
