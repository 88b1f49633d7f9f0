"""Where Lightbox keeps its data: the home folder, private to the user."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import platformdirs

HOME_ENV = "LIGHTBOX_HOME"
LOGGER = logging.getLogger(__name__)
# Group and others: no access to anything Lightbox creates.
_OTHERS = 0o077
HOME_MARKER = "studies.sqlite"
"""The study database's name (:data:`viewer.store.study_store.DATABASE_NAME` is this): a
folder that holds it is a Lightbox home."""
# Homes already warned about as open to others: one warning per process is enough.
_WARNED: set[Path] = set()


def private_umask() -> int:
    """Make everything this process creates private to the user; return the old umask.

    Called once at the start of the ``lightbox`` process. Folders and files inside the
    home are created with explicit modes where Lightbox creates them itself, but SQLite
    (the database, its WAL and shared-memory files), Qt (settings, the thumbnail cache)
    and ``mkdir(parents=True)`` (the parents it makes) follow the umask: with the usual
    022 the database, which holds every patient's name, was 0644, and with 000 folders
    of images were 0777 (PS3.15 asks the application to protect data at rest).
    """
    old = os.umask(_OTHERS)
    os.umask(old | _OTHERS)
    return old


def keep_private(path: Path) -> None:
    """Take group and others' access away from an existing file of the home, saying so.

    A settings or nodes file that others could write may have been changed by them:
    the nodes file decides who may send to this workstation. The file is made 0600 and
    a warning asks the user to check it.
    """
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & _OTHERS:
        return
    os.chmod(path, mode & ~_OTHERS)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        LOGGER.warning("%s was writable by other users (mode %03o): made private; check that "
                       "its contents are yours", path, mode)


def home_folder(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return where the Lightbox home is, without creating or changing anything.

    Parameters
    ----------
    explicit : path-like, optional
        The ``--home`` argument; wins over ``LIGHTBOX_HOME`` and the platform default.

    Returns
    -------
    Path
        The folder, which may not exist yet.
    """
    if explicit is not None:
        home = Path(explicit)
    elif os.environ.get(HOME_ENV):
        home = Path(os.environ[HOME_ENV])
    else:
        home = Path(platformdirs.user_data_dir("lightbox", appauthor=False))
    return home.expanduser()


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the Lightbox home folder, creating it private to the user (mode 0700).

    A folder Lightbox creates, or an empty one it is given (``mkdir`` then ``--home``),
    is made 0700: patient data goes in. An existing folder that holds anything keeps its
    mode (``--home .``, a shared department folder: others' access to what is already
    there may depend on it, and a home loosened on purpose is the user's call); when
    group or others have access a warning says so, once per process. Lightbox's own
    database and files in it are created private whatever the folder's mode.

    Parameters
    ----------
    explicit : path-like, optional
        The ``--home`` argument; wins over ``LIGHTBOX_HOME`` and the platform default.

    Returns
    -------
    Path
        An existing folder (PS3.15 asks the application to protect patient data at rest;
        the file mode is the first line of that defence).

    Raises
    ------
    OSError
        The folder cannot be created, or a file is in its place (FileExistsError).
    """
    home = home_folder(explicit)
    try:
        home.mkdir(parents=True, mode=0o700)
        ours = True
    except FileExistsError:
        if not home.is_dir():
            raise
        try:
            with os.scandir(home) as entries:
                ours = next(entries, None) is None
        except PermissionError:
            # The owner's own folder without read permission (0300): making it 0700 is
            # what lets Lightbox use it at all, as it always did.
            ours = True
    if os.name == "posix":
        if ours:
            os.chmod(home, 0o700)
        else:
            _warn_if_shared(home)
    return home


def _warn_if_shared(home: Path) -> None:
    mode = stat.S_IMODE(home.stat().st_mode)
    if not mode & _OTHERS or home in _WARNED:
        return
    _WARNED.add(home)
    LOGGER.warning("%s is open to other users (mode %03o): Lightbox keeps its database and "
                   "files in it private; 'chmod 700' the folder to close it too, or name a "
                   "folder of Lightbox's own", home, mode)


def write_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, readable by its owner only.

    The file is written under a temporary name created with mode 0600 (so it is never
    readable by others, even for a moment) and renamed over ``path``: a reader sees the
    old file or the new one, never half of it.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0),
                 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
