"""Processes and their start identities as /proc shows them, for tests of names that
record who wrote a file (viewer.core.process_identity)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: Skip where start identities cannot be read (no /proc: not Linux).
needs_proc = pytest.mark.skipif(not Path("/proc/self/stat").exists()
                                or not Path("/proc/sys/kernel/random/boot_id").exists(),
                                reason="start identities are read from /proc (Linux)")

#: A boot other than this one: the machine's boot before a crash and a reboot.
EARLIER_BOOT = "0123456789abcdef"


def this_boot() -> str:
    """The first 16 hex digits of this boot's id."""
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:16]


def start_ticks(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot."""
    fields = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
    return int(fields[19])

