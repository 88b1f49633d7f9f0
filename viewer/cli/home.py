"""The Lightbox home of a command: ``--home``, ``LIGHTBOX_HOME`` or the default, usable."""

from __future__ import annotations

import os
from pathlib import Path

from viewer.core.errors import UsageError
from viewer.core.paths import HOME_ENV, HOME_MARKER, home_folder, resolve_home


def cli_home(explicit: str | None) -> Path:
    """Return the home folder of a command, created private to the user.

    Parameters
    ----------
    explicit : str, optional
        The ``--home`` argument.

    Returns
    -------
    Path
        An existing folder that only its owner can read.

    Raises
    ------
    UsageError
        When ``--home`` is empty (``Path("")`` would be the current folder), or the home
        cannot be created or made private (a file in its place, no permission): one line
        naming the folder and the reason, not a traceback.
    """
    if explicit is not None and not explicit.strip():
        raise UsageError("--home: empty path; name the folder to keep the studies in")
    try:
        return resolve_home(explicit)
    except OSError as exc:
        name = explicit if explicit is not None else os.environ.get(HOME_ENV) or exc.filename
        raise UsageError(
            f"{name}: cannot be used as the Lightbox home ({_reason(exc)})"
        ) from exc


def listed_home(explicit: str | None) -> Path:
    """The home of a command that only lists or checks the studies: one named by
    ``--home`` or ``LIGHTBOX_HOME`` that holds no study database is an error, not made (a
    mistyped name would list nothing, with exit status 0, and leave an empty home behind).

    The platform's default home is made as by any command: it cannot be mistyped.
    """
    if _named(explicit):
        folder = home_folder(explicit)
        _refuse_missing(folder / HOME_MARKER, f"no Lightbox home at {folder} (no study "
                        "database: 'lightbox import' makes one)")
    return cli_home(explicit)


def existing_home(explicit: str | None) -> Path:
    """The home of a command that shows or changes what a home already holds (its nodes,
    its settings): a named one that does not exist is an error, not made, as in
    :func:`listed_home`; one without a study database is fine (nodes come first)."""
    if _named(explicit):
        folder = home_folder(explicit)
        _refuse_missing(folder, f"no Lightbox home at {folder} (no such folder: 'lightbox "
                        "node add' or 'lightbox import' makes one)")
    return cli_home(explicit)


def _refuse_missing(path: Path, message: str) -> None:
    """Raise UsageError(message) if ``path`` does not exist; any other failure to look
    (a file in the way, no permission) is left for opening the home to word."""
    try:
        os.stat(path)
    except FileNotFoundError:
        raise UsageError(message) from None
    except OSError:
        pass


def _named(explicit: str | None) -> bool:
    """Whether the home is named by ``--home`` or ``LIGHTBOX_HOME`` (it can be mistyped)."""
    return bool((explicit is not None and explicit.strip()) or (
        explicit is None and os.environ.get(HOME_ENV)))


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileExistsError):
        return "a file of that name is in the way; name a folder"
    if isinstance(exc, NotADirectoryError):
        return "a part of the path is a file, not a folder"
    return exc.strerror or str(exc)
