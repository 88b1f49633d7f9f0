"""Files a Lightbox process received and left in ``incoming`` when it ended (PS3.4 B.2.2).

The receiver (:mod:`viewer.net.receiver`) writes each data set to a file named by
:func:`part_name` and seals it (read-only) once complete, before its C-STORE response
leaves. A process killed after answering and before its sink stored the file leaves a
sealed file, which the next receiver of the folder claims and stores; a partial one is
removed.

A name is ``<pid>-<start>-<random>.part``, where ``<start>`` tells this process from a
later one given the same pid (after a reboot pids start again from 1): the boot id and
the process's start time in clock ticks since boot (Linux, proc(5);
:mod:`viewer.core.process_identity`). Where either cannot
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

from viewer.core.process_identity import owner, owner_alive
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

def part_name() -> str:
    """A new name in ``incoming`` for a data set this process receives (or claims)."""
    return f"{owner()}-{uuid.uuid4().hex}.part"


def claim_orphans(incoming: Path) -> list[Path]:
    """Deal with the files of Lightbox processes that no longer run (a crash, a kill).

    Partial data sets are removed: their senders were not answered, and a retry fetches
    them again. Complete ones (sealed, see :data:`SEALED_MODE`) are claimed, by renaming
    them under this process's name (another process of the home may be looking too), and
    returned to be stored. A process runs if its pid does and, where the name records
    it, its start identity is the one in the name
    (:func:`~viewer.core.process_identity.owner_alive`).
    """
    claimed: list[Path] = []
    boot: list[str] = []  # read when a name first needs it
    for path in incoming.glob("*-*.part"):
        if owner_alive(path.name[: -len(".part")], boot) is not False:
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
