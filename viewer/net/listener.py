"""Which Lightbox process of a home runs the storage SCP: ``<home>/listener.json``.

A storage SCP that runs for a long time (``lightbox listen``, or the application with
``always-listen``) records itself here: process id, AE title, plain and TLS ports. A
second process of the same home that needs a C-MOVE then sends it to that SCP instead
of failing to listen on the taken port: the listener stores what arrives into the
same store, and the second process checks the store for it. A record whose process
is gone is ignored (and replaced by the next listener).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

LOGGER = logging.getLogger(__name__)
LISTENER_FILE = "listener.json"


@dataclass(frozen=True, slots=True)
class ListenerRecord:
    """A running storage SCP of this home.

    Attributes
    ----------
    pid : int
        The process that runs it.
    ae_title : str
        Its AE title (the C-MOVE destination).
    port, tls_port : int
        Its plain and DICOM TLS ports; 0 where it does not listen.
    """

    pid: int
    ae_title: str
    port: int
    tls_port: int = 0

    def serves_port(self, port: int, tls: bool) -> bool:
        """True if it listens on ``port`` in the given mode (plain or TLS)."""
        return bool(port) and port == (self.tls_port if tls else self.port)


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists (on POSIX, signal 0; on Windows, its exit code)."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _windows_pid_alive(pid: int) -> bool:  # pragma: no cover - Windows only
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return False
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return bool(ok) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


class ListenerFile:
    """``<home>/listener.json``: write it on start, remove it on stop, read the live one.

    Parameters
    ----------
    home : Path
        The Lightbox home folder.
    """

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LISTENER_FILE

    def write(self, ae_title: str, port: int | None, tls_port: int | None) -> ListenerRecord:
        """Record this process as the listener (atomically, readable by the owner only)."""
        record = ListenerRecord(os.getpid(), ae_title, port or 0, tls_port or 0)
        tmp = self.path.with_name(f"{LISTENER_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(record)))
        if os.name == "posix":
            os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return record

    def read(self) -> ListenerRecord | None:
        """The recorded listener, alive or not; None without a readable record."""
        try:
            data = json.loads(self.path.read_text())
            return ListenerRecord(int(data["pid"]), str(data["ae_title"]), int(data["port"]),
                                  int(data.get("tls_port", 0)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def live(self, exclude_self: bool = True) -> ListenerRecord | None:
        """The recorded listener if its process runs (another process, by default)."""
        record = self.read()
        if record is None or not pid_alive(record.pid):
            return None
        if exclude_self and record.pid == os.getpid():
            return None
        return record

    def remove(self) -> None:
        """Remove the record if this process wrote it (another listener's stays)."""
        record = self.read()
        if record is not None and record.pid != os.getpid():
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            LOGGER.warning("cannot remove %s: %s", self.path, exc)
