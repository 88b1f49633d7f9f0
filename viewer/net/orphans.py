"""Files a Lightbox process received and left in ``incoming`` when it ended (PS3.4 B.2.2).

The receiver (:mod:`viewer.net.receiver`) writes each data set to a file named by
:func:`part_name` and seals it (read-only) once complete, before its C-STORE response
leaves. A process killed after answering and before its sink stored the file leaves a
sealed file, which the next receiver of the folder claims and stores; a partial one is
removed.

A name is ``<pid>-<start>-<random>.part``, where ``<start>`` tells this process from a
later one given the same pid (after a reboot pids start again from 1): the boot id and
the process's start time in clock ticks since boot (Linux, proc(5)). Where neither can
be read, and in files of earlier versions, the name is ``<pid>-<random>.part`` and the
pid alone decides.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import uuid
from pathlib import Path

from viewer.core.processes import pid_alive
from viewer.dicom.structure import read_meta
from viewer.net.sinks import ReceivedInstance

# How much of a file is read for its File Meta Information.
_META_BYTES = 64 * 1024

# A data set's file is made read-only once complete, before its C-STORE response
# leaves (fchmod, on the open descriptor: no folder lock, a microsecond). A sender may
# delete its copy once answered, so a process that ends before its sink took the file
# must leave it to be stored, not removed with the partial ones. Where there is no
# fchmod (Windows) nothing is sealed, and such files are removed as before.
SEALED_MODE = 0o400
CAN_SEAL = hasattr(os, "fchmod")

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


def _owner() -> str:
    pid = os.getpid()
    identity = start_identity(pid)
    return f"{pid}-{identity}" if identity else str(pid)


# A name is made per received instance: the owner part is read once per process, when
# first needed, and again in a forked child (another pid and start).
_OWNER = [""]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _OWNER.__setitem__(0, ""))


def part_name() -> str:
    """A new name in ``incoming`` for a data set this process receives (or claims)."""
    if not _OWNER[0]:
        _OWNER[0] = _owner()
    return f"{_OWNER[0]}-{uuid.uuid4().hex}.part"


def _writer_alive(name: str, boot: list[str]) -> bool | None:
    """Whether the process that named a file ``name`` still runs; None if not ours.

    A live pid is not enough: after a reboot the crashed writer's pid may belong to an
    unrelated process, and its files would then be kept for as long as that one runs.
    A name that carries the writer's start identity is judged by it; one that does not
    (an earlier version's) by the pid, as before.
    """
    fields = name[: -len(".part")].split("-")
    if not fields[0].isdigit():
        return None
    pid = int(fields[0])
    if not pid_alive(pid):
        return False
    if len(fields) != 3 or "." not in fields[1]:
        return True
    if not boot:
        boot.append(_boot_id())
    written_in = fields[1].partition(".")[0]
    if boot[0] and written_in != boot[0]:
        return False  # written before a reboot: that process is gone whatever runs now
    identity = start_identity(pid, boot[0])
    # Unreadable (hidden /proc, or it ended just now): leave the file, as for a live one.
    return not identity or identity == fields[1]


def claim_orphans(incoming: Path) -> list[Path]:
    """Deal with the files of Lightbox processes that no longer run (a crash, a kill).

    Partial data sets are removed: their senders were not answered, and a retry fetches
    them again. Complete ones (sealed, see :data:`SEALED_MODE`) are claimed, by renaming
    them under this process's name (another process of the home may be looking too), and
    returned to be stored. A process runs if its pid does and, where the name records
    it, its start identity (:func:`start_identity`) is the one in the name.
    """
    claimed: list[Path] = []
    boot: list[str] = []  # read when a name first needs it
    for path in incoming.glob("*-*.part"):
        if _writer_alive(path.name, boot) is not False:
            continue
        try:
            sealed = CAN_SEAL and not path.stat().st_mode & stat.S_IWUSR
        except OSError:
            continue  # claimed or removed meanwhile
        if not sealed:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        ours = incoming / part_name()
        try:
            os.rename(path, ours)
        except OSError:
            continue  # another process claimed it first
        claimed.append(ours)
    return claimed


def left_behind(path: Path) -> ReceivedInstance | None:
    """What the sink needs of a complete file another process received, from the File
    Meta Information the receiver wrote (PS3.10 7.1); None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_META_BYTES)
        _, meta = read_meta(head)
    except (OSError, ValueError, struct.error):
        return None

    def text(tag: int) -> str:
        return meta.get(tag, b"").decode("ascii", "replace").rstrip("\0 ")

    sop_uid = text(0x00020003)  # Media Storage SOP Instance UID
    if not sop_uid:
        return None
    return ReceivedInstance(path, sop_uid, text(0x00020002), text(0x00020010),
                            text(0x00020016))
