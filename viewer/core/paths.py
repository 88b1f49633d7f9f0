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


def resolve_home(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the Lightbox home folder, creating it private to the user (mode 0700).

    Parameters
    ----------
    explicit : path-like, optional
        The ``--home`` argument; wins over ``LIGHTBOX_HOME`` and the platform default.

    Returns
    -------
    Path
        An existing folder that only its owner can read (PS3.15 asks the application to
        protect patient data at rest; the file mode is the first line of that defence).
    """
    if explicit is not None:
        home = Path(explicit)
    elif os.environ.get(HOME_ENV):
        home = Path(os.environ[HOME_ENV])
    else:
        home = Path(platformdirs.user_data_dir("lightbox", appauthor=False))
    home = home.expanduser()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(home, 0o700)
    return home


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
