"""Which process owns a file, told apart from any other that had or will have its pid.

Lightbox names the files it writes in shared folders (data sets received over the
network, the file store's temporary files) after their owner, so that a later process
can remove or take over those of a process that has ended. A pid alone does not tell:
after a reboot pids start again from 1, and a crashed writer's pid may belong to an
unrelated process that runs for days, which would keep its files for as long.

The owner part of a name is therefore ``<pid>-<boot>.<start>``: the first 16 hex digits
of the boot id and the process's start time in clock ticks since boot (Linux, proc(5)).
Where either cannot be read, and in the names of earlier versions, it is ``<pid>`` and the
pid alone decides. A name is the owner part, ``-`` and a part of the writer's own that
holds neither ``-`` nor ``.``, and a suffix.
"""

from __future__ import annotations

import os
from pathlib import Path

from viewer.core.processes import pid_alive

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _boot_id() -> str:
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip().replace("-", "")[:16]
    except (OSError, UnicodeDecodeError):
        return ""


def start_identity(pid: int, boot: str | None = None) -> str:
    """What tells process ``pid`` from any other that had or will have its number.

    Parameters
    ----------
    pid : int
        The process.
    boot : str, optional
        This boot's id as :func:`start_identity` uses it, when already read.

    Returns
    -------
    str
        ``<boot id>.<start time>``: the first 16 hex digits of the boot id and field 22
        of ``/proc/<pid>/stat``, the start time in clock ticks since boot (proc(5)). Empty
        where either cannot be read (no ``/proc``, the process has ended).
    """
    boot = _boot_id() if boot is None else boot
    if not boot:
        return ""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat_line = fh.read()
    except OSError:
        return ""
    # Field 2, the command name, is in parentheses and may hold spaces and ")".
    fields = stat_line.rpartition(b")")[2].split()
    if len(fields) < 20 or not fields[19].isdigit():
        return ""
    return f"{boot}.{fields[19].decode('ascii')}"


# Names are made per file (10,000 per import): the owner part is read once per process,
# when first needed, and again in a forked child (another pid and start).
_OWNER = [""]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _OWNER.__setitem__(0, ""))


def owner() -> str:
    """This process's owner part of a name: ``<pid>-<boot>.<start>``, or ``<pid>`` where
    its start identity cannot be read (:func:`start_identity`)."""
    if not _OWNER[0]:
        pid = os.getpid()
        identity = start_identity(pid)
        _OWNER[0] = f"{pid}-{identity}" if identity else str(pid)
    return _OWNER[0]


def owner_alive(stem: str, boot: list[str]) -> bool | None:
    """Whether the process that named a file ``stem`` (its name without the suffix)
    still runs; None if the name has no owner part.

    A live pid is not enough: after a reboot the crashed writer's pid may belong to an
    unrelated process, and its files would then be kept for as long as that one runs.
    A name that carries the writer's start identity is judged by it; one that does not
    (an earlier version's) by the pid, as before.

    Parameters
    ----------
    stem : str
        ``<owner>-<writer's part>``, as made with :func:`owner`.
    boot : list of str
        Empty at first; the boot id is kept in it for the next names of the same look
        through a folder, read once however many names carry it.

    Returns
    -------
    bool or None
        False once the writer has ended (its pid is free, or now another process's);
        True while it may run, also where its start cannot be read.
    """
    fields = stem.split("-")
    if not fields[0].isdigit():
        return None
    start = fields[1] if len(fields) == 3 and "." in fields[1] else ""
    return still_runs(int(fields[0]), start, boot)


def still_runs(pid: int, start: str, boot: list[str] | None = None) -> bool:
    """Whether the process that recorded ``pid`` and ``start`` (its
    :func:`start_identity`, "" where it could not be read or was not recorded) runs.

    Parameters
    ----------
    pid : int
        The process id recorded.
    start : str
        Its start identity as recorded; "" lets the pid alone decide.
    boot : list of str, optional
        As for :func:`owner_alive`: the boot id, read once for many records.

    Returns
    -------
    bool
        False once that process has ended (its pid is free, or now another process's);
        True while it may run, also where its start cannot be read now.
    """
    if not pid_alive(pid):
        return False
    if not start:
        return True
    if boot is None:
        boot = []
    if not boot:
        boot.append(_boot_id())
    if boot[0] and start.partition(".")[0] != boot[0]:
        return False  # recorded before a reboot: that process is gone whatever runs now
    identity = start_identity(pid, boot[0])
    # Unreadable (hidden /proc, or it ended just now): leave it, as for a live one.
    return not identity or identity == start
