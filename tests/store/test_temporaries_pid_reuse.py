"""Temporary files of ended imports are removed even when their pid now runs another process.

After a reboot pids start again from 1, so the pid of an import that crashed with
temporary files in ``files/.incoming`` may belong to an unrelated process that runs for
days: judged by the pid alone, its files stayed for as long. The name records the
writer's start (boot id and start time, proc(5)); a live process that is not the writer
does not keep its files. A running import keeps them, and names of earlier versions are
still judged by their pid.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.process_identity import (
    EARLIER_BOOT,
    needs_proc,
    start_ticks,
    this_boot,
)
from viewer.store import StudyStore
from viewer.store.filestore import FileStore
from viewer.store.verify import TEMPORARY_GRACE_S, check_home
from viewer.store.verify_repair import repair_home

pytestmark = needs_proc


def _leave(files: FileStore, name: str) -> Path:
    """A temporary file as a killed import leaves it: part of a data set, no row."""
    path = files.incoming / name
    path.write_bytes(b"\0" * 128 + b"DICM half a file")
    return path


@pytest.fixture
def files(tmp_path: Path) -> FileStore:
    """The file store of a home, without the database around it."""
    return FileStore(tmp_path / "files")



def test_a_temporary_whose_pid_another_process_took_is_removed(
        files: FileStore, unrelated: subprocess.Popen[bytes]) -> None:
    # The import ran in this boot and was killed; its pid went to an unrelated process
    # started later (a tick is enough to tell them apart).
    writer = f"{unrelated.pid}-{this_boot()}.{start_ticks(unrelated.pid) - 1}"
    left = _leave(files, f"{writer}-17.part")
    assert files.clean_incoming() == 1
    assert not left.exists()
    assert unrelated.poll() is None  # only its pid was looked at


def test_a_temporary_from_before_a_reboot_is_removed_though_its_pid_runs(
        files: FileStore) -> None:
    # The crashed import had this test's pid, and even its start time, in the last boot.
    left = _leave(files, f"{os.getpid()}-{EARLIER_BOOT}.{start_ticks(os.getpid())}-17.part")
    assert files.clean_incoming() == 1
    assert not left.exists()


def test_the_temporaries_of_a_running_import_are_kept(files: FileStore) -> None:
    written = Path(files.write_temporary(b"being written"))
    ours = f"{os.getpid()}-{this_boot()}.{start_ticks(os.getpid())}"
    assert written.parent == files.incoming and written.name.startswith(f"{ours}-")
    named = _leave(files, f"{ours}-900001.part")
    assert files.clean_incoming() == 0
    assert written.exists() and named.exists()


def test_an_earlier_versions_temporary_is_judged_by_its_pid(
        files: FileStore, unrelated: subprocess.Popen[bytes]) -> None:
    # ``<pid>-<counter>.part`` records no start: a live pid may be its writer.
    live = _leave(files, f"{unrelated.pid}-17.part")
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = _leave(files, f"{ended.pid}-18.part")
    assert files.clean_incoming() == 1
    assert live.exists() and not dead.exists()
    unrelated.kill()
    unrelated.wait()
    assert files.clean_incoming() == 1  # the pid alone decides, as it always did
    assert os.listdir(files.incoming) == []


def test_a_forked_child_names_its_temporaries_after_itself(files: FileStore) -> None:
    parents = Path(files.write_temporary(b"x"))
    assert parents.name.startswith(f"{os.getpid()}-{this_boot()}.")
    pid = os.fork()
    if pid == 0:
        try:
            files.write_temporary(b"y")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    (childs,) = set(os.listdir(files.incoming)) - {parents.name}
    assert childs.startswith(f"{pid}-{this_boot()}.")
    # Its writer has ended: the child's file goes, the parent's stays.
    assert files.clean_incoming() == 1
    assert os.listdir(files.incoming) == [parents.name]


def test_check_reports_a_stale_temporary_of_either_name_as_temporary(home: Path) -> None:
    with StudyStore.open(home):
        pass
    files = FileStore(home / "files")
    stale = Path(files.write_temporary(b"half a file"))  # this version's name
    earlier = _leave(files, f"{os.getpid()}-900001.part")
    old = time.time() - TEMPORARY_GRACE_S - 60
    for path in (stale, earlier):
        os.utime(path, (old, old))
    young = Path(files.write_temporary(b"being written"))

    found = check_home(home)
    relative = [str(p.relative_to(home)) for p in (stale, earlier, young)]
    assert sorted((o.path, o.kind) for o in found.orphans) == sorted(
        [(relative[0], "temporary"), (relative[1], "temporary")])
    assert [o.path for o in found.temporary_in_use] == [relative[2]]

    log = repair_home(home, found)
    assert log.not_repaired == [], log.not_repaired
    assert sorted(a.subject for a in log.repaired if a.action == "removed_temporary") == sorted(
        relative[:2])
    assert young.exists() and not stale.exists() and not earlier.exists()
