"""Errors that Lightbox reports to people: each names the file or peer and the problem."""

from __future__ import annotations

import errno
import os


class LightboxError(Exception):
    """Base of every error Lightbox reports to a user.

    The message is one line that a clinician or an administrator can act on; the
    command line prints it without a traceback.
    """


class InputFileError(LightboxError):
    """A file cannot be read or displayed.

    Parameters
    ----------
    path : str
        The file, as the user named it.
    problem : str
        What is wrong with it, in words.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class UsageError(LightboxError):
    """The user asked for something that does not fit the input (e.g. frame 9 of 4)."""


class PeerError(LightboxError):
    """A DICOM peer refused, failed or could not be reached.

    Parameters
    ----------
    peer : str
        The node name or ``AET@host:port`` of the peer.
    problem : str
        What happened and what to check.
    """

    def __init__(self, peer: str, problem: str) -> None:
        self.peer = peer
        self.problem = problem
        super().__init__(f"{peer}: {problem}")


class PeerUnreachableError(PeerError):
    """No association could be made with the peer (refused, rejected, silent, TLS refused).

    Every later request to the same peer would fail alike, so a caller that can go on
    without one answer (a retrieve's planning C-FIND) still stops on this one.
    """


class NoAcceptedContextError(PeerError):
    """The peer accepted the association but none of the presentation contexts proposed.

    PS3.8 9.3.3.2: an A-ASSOCIATE-AC answers each proposed context, and may refuse every
    one (abstract syntax or transfer syntaxes not supported). Such an association
    carries no DIMSE message and is aborted (PS3.8 7.3); the peer is reachable and
    knows us, it does not offer the service asked for. A caller that can use another
    service (C-MOVE instead of C-GET, another information model) says so.

    Parameters
    ----------
    peer, problem : str
        As for :class:`PeerError`.
    proposed : tuple of str
        The abstract syntax UIDs proposed, in the order proposed, each once.
    """

    def __init__(self, peer: str, problem: str, proposed: tuple[str, ...] = ()) -> None:
        super().__init__(peer, problem)
        self.proposed = proposed


class CancelledError(LightboxError):
    """An operation was cancelled by the user."""


# A full disk or quota is not a problem of one file: imports and retrieves stop there.
_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


class DiskFullError(LightboxError):
    """The disk (or quota) of the Lightbox home is full: nothing more can be stored.

    Parameters
    ----------
    where : str
        The home folder or file that could not grow.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"the disk of {where} is full")


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the disk is full (ENOSPC, EDQUOT, or :class:`DiskFullError`)."""
    if isinstance(exc, DiskFullError):
        return True
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def out_of_space(path: str | os.PathLike[str]) -> bool:
    """Whether the file system of ``path`` has no space left for this user.

    SQLite opens a WAL database only after sizing its ``-shm`` file: on a full disk even
    a read-only open fails, as "disk I/O error", naming no disk. This tells that case
    from a failing or damaged database.
    """
    try:
        stats = os.statvfs(path)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return stats.f_bavail * stats.f_frsize < _LEAST_FREE_BYTES


# An SQLite page or two and a -shm block: below this, nothing in the home can be opened.
_LEAST_FREE_BYTES = 64 * 1024
