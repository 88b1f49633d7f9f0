"""Where Lightbox keeps its data: the home folder, private to the user."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "LIGHTBOX_HOME"


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
