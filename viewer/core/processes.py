"""Whether a process still runs, portably (files and records are named after their owner).

``os.kill(pid, 0)`` is the POSIX probe; on Windows ``os.kill`` with any other signal than
the two console events terminates the process, so there the process's exit code is asked.
"""

from __future__ import annotations

import os
import sys


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
