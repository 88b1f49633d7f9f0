"""Files a Lightbox process received and left in ``incoming`` when it ended (PS3.4 B.2.2).

The receiver (:mod:`viewer.net.receiver`) writes each data set to ``<pid>-<random>.part``
and seals it (read-only) once complete, before its C-STORE response leaves. A process
killed after answering and before its sink stored the file leaves a sealed file, which
the next receiver of the folder claims and stores; a partial one is removed.
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


def claim_orphans(incoming: Path) -> list[Path]:
    """Deal with the files of Lightbox processes that no longer run (a crash, a kill).

    Partial data sets are removed: their senders were not answered, and a retry fetches
    them again. Complete ones (sealed, see :data:`SEALED_MODE`) are claimed, by renaming
    them under this process's id (another process of the home may be looking too), and
    returned to be stored.
    """
    claimed: list[Path] = []
    for path in incoming.glob("*-*.part"):
        pid = path.name.split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        try:
            sealed = CAN_SEAL and not path.stat().st_mode & stat.S_IWUSR
        except OSError:
            continue  # claimed or removed meanwhile
        if not sealed:
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        ours = incoming / f"{os.getpid()}-{uuid.uuid4().hex}.part"
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
