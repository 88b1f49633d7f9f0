"""Move misplaced files of the store to the places their own UIDs give, for
:mod:`viewer.store.verify_repair`.

A file is misplaced when the UIDs of its own header give another place
(``files/<study>/<series>/<sop>.dcm``) than the one it lies at: two stored files whose
contents were swapped, three each holding the next one's instance, a file copied in by
hand. Each goes to its own place when that place is free, or is freed because the file
holding it goes to its own place too: a chain is moved from its free end, and a cycle (a
swap) is opened by renaming one of its files to a temporary name beside it first. A place
held by a file that stays is not touched; the caller decides what to do with the file
that wanted it (a copy, or a conflict to report).

The rules of the repair hold for each step, so that an import may run meanwhile and a
repair cut short anywhere is finished by the next:

- Nothing is ever replaced. A file goes to its place by a hard link, which fails when the
  name exists, never by a rename over it: a file an import put there meanwhile stays.
- Before a file goes to its place, a second name of it is made in the repair's staging
  folder, ``tmp/repair-<owner>-0/<place>``. An import of the same instance that replaces it
  there before the repair's own import commits cannot take its bytes (the repair then
  moves the second name to ``lost+found/``); a repair killed before it removes the second
  name has it given back by the next one (:func:`~viewer.store.verify.staged`).
- The old name goes only once the new one is on disk (its folder flushed): a crash in
  between leaves two names of one file, never none (the next repair drops the extra
  name, which is the same file as the one at its place).
- The temporary name that opens a cycle, ``<path>.refile-<pid>``, is in the store's tree,
  where no import writes: a file left there by a crash is a DICOM file without a row,
  which the next repair moves to its place like any other.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from viewer.store.folders import make_private_folders, sync_folder

REFILING = ".refile-"
"""The temporary name of a file moved out of the way of another: ``<path>.refile-<pid>``."""

# A file system without hard links (FAT, exFAT, some network shares) answers so.
NO_LINKS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK,
                      errno.ENOSYS})


@dataclass(slots=True)
class Refiled:
    """What :func:`refile` did: ``moved`` maps each place filled to where its file was;
    ``now`` maps each file not moved to its path now (its old one, unless it could not be
    given back after a cycle was opened); ``errors`` says why a file could not be moved;
    ``no_links`` is set when the file system has no hard links (nothing more was moved)."""

    moved: dict[str, str] = field(default_factory=dict)
    now: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    no_links: bool = False


def refile(home: Path, places: Mapping[str, str], staging: Path) -> Refiled:
    """Move each file of ``places`` (path -> its place, both relative to ``home``) to its
    place where that can be done without replacing anything (see the module docstring).

    When several files want one place, only the first by path is moved; the others, like
    files whose place is held by a file that stays, are left where they are.

    Parameters
    ----------
    home : Path
        The Lightbox home.
    places : Mapping[str, str]
        Misplaced files of the store and the places their own UIDs give.
    staging : Path
        The repair's staging folder, for the second names.

    Returns
    -------
    Refiled
        What was moved, and where the others are.
    """
    done = Refiled()
    at = {path: path for path in places}  # each file's name now
    first: dict[str, str] = {}
    for path in sorted(places):
        first.setdefault(places[path], path)
    pending = {path: place for place, path in first.items()}
    while pending and not done.no_links:
        ready = [path for path, place in pending.items() if not os.path.lexists(home / place)]
        if not ready:
            opened = _on_cycle(pending, at)
            if opened is None:
                break  # the rest wait for places held by files that stay
            try:
                at[opened] = _rename_aside(home, at[opened])
            except OSError as exc:
                done.errors[opened] = f"cannot be renamed ({exc.strerror or exc})"
                del pending[opened]
            continue
        for path in ready:
            place = pending.pop(path)
            try:
                _link_into_place(home, at[path], place, staging)
            except FileExistsError:
                continue  # something took the place meanwhile: the caller compares
            except OSError as exc:
                if exc.errno in NO_LINKS:
                    done.no_links = True
                    break
                done.errors[path] = (f"cannot be moved to {place} "
                                     f"({exc.strerror or exc})")
                continue
            done.moved[place] = path
    moved = set(done.moved.values())
    for path in places:
        if path not in moved:
            done.now[path] = _give_back(home, at[path], path)
    return done


def drop_extra_name(path: Path, target: Path) -> bool:
    """Remove ``path`` when it is another name of the file at ``target`` (a repair cut
    short between giving a file its place and dropping its old name); no bytes go."""
    try:
        if not os.path.samefile(path, target):
            return False
        path.unlink()
    except OSError:
        return False
    return True


def _on_cycle(pending: Mapping[str, str], at: Mapping[str, str]) -> str | None:
    """A file of ``pending`` whose place is held by a file of ``pending`` whose place is
    held ... by the first: a cycle, none of whose places frees without opening it."""
    holder = {at[path]: path for path in pending}
    for start in pending:
        seen: set[str] = set()
        path: str | None = start
        while path is not None and path not in seen:
            seen.add(path)
            path = holder.get(pending[path])
        if path is not None:
            return path  # the first file met twice is on the cycle
    return None


def _rename_aside(home: Path, relative: str) -> str:
    """Rename a file to a temporary name beside it (no import writes such a name, so a
    rename cannot replace anything there); return the new name."""
    base = f"{relative}{REFILING}{os.getpid()}"
    candidate, number = base, 0
    while os.path.lexists(home / candidate):
        number += 1
        candidate = f"{base}.{number}"
    os.rename(home / relative, home / candidate)
    return candidate


def _link_into_place(home: Path, relative: str, place: str, staging: Path) -> None:
    """Give the file at ``relative`` the name ``place`` (which must not exist), with a
    second name in ``staging`` first, then drop its old name once the new is on disk.

    Raises
    ------
    FileExistsError
        The place is taken; nothing was changed.
    OSError
        Anything else; nothing was changed either.
    """
    source, target, second = home / relative, home / place, staging / place
    second.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.link(source, second)
    except FileExistsError:
        if not os.path.samefile(source, second):
            raise
    try:
        make_private_folders(str(target.parent))
        os.link(source, target)
        try:
            sync_folder(target.parent)
        except OSError:
            target.unlink()  # the link just made: the file keeps its old name
            raise
    except OSError:
        with contextlib.suppress(OSError):
            second.unlink()
        raise
    os.unlink(source)


def _give_back(home: Path, now: str, relative: str) -> str:
    """Rename a file moved aside to open a cycle back to its old name when that is still
    free (the cycle could not be closed); return where the file is."""
    if now == relative or os.path.lexists(home / relative):
        return now
    try:
        os.link(home / now, home / relative)  # never over a file placed meanwhile
    except OSError as exc:
        if exc.errno not in NO_LINKS:
            return now
        os.rename(home / now, home / relative)
        return relative
    with contextlib.suppress(OSError):
        os.unlink(home / now)
    return relative
