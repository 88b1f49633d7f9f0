"""Files of ended receivers are claimed even when their pid now belongs to another process.

After a reboot pids start again from 1, so the pid of a Lightbox process that crashed
with answered data sets in ``incoming`` may belong to an unrelated process that runs for
days: judged by the pid alone, its files were neither stored nor removed meanwhile. The
name records the writer's start (boot id and start time, proc(5)); a live process that
is not the writer does not keep its files. A Lightbox process still writing keeps them.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.process_identity import (
    EARLIER_BOOT,
    needs_proc,
    start_ticks,
    this_boot,
)
from viewer.net.file_meta import file_meta_bytes
from viewer.net.orphans import SEALED_MODE, claim_orphans, left_behind

pytestmark = needs_proc

CT_IMAGE, EXPLICIT_VR_LE = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"



def _sealed(path: Path, uid: str) -> Path:
    """A complete received file, as a receiver leaves it before its sink took it."""
    path.write_bytes(file_meta_bytes(CT_IMAGE, uid, EXPLICIT_VR_LE, "PACS")
                     + b"\x08\x00\x16\x00UI\x02\x001\x00")
    path.chmod(SEALED_MODE)
    return path



def test_a_sealed_file_from_before_a_reboot_is_claimed_though_its_pid_runs(
        tmp_path: Path) -> None:
    # The crashed writer had this test's pid in the previous boot.
    name = f"{os.getpid()}-{EARLIER_BOOT}.{start_ticks(os.getpid())}-0123abcd.part"
    orphan = _sealed(tmp_path / name, "1.2.3.1")
    (claimed,) = claim_orphans(tmp_path)
    assert not orphan.exists() and claimed.name.startswith(f"{os.getpid()}-{this_boot()}.")
    item = left_behind(claimed)
    assert item is not None and item.sop_instance_uid == "1.2.3.1"


def test_files_of_a_writer_whose_pid_another_process_took_are_settled(
        tmp_path: Path, unrelated: subprocess.Popen[bytes]) -> None:
    # The writer ran in this boot and ended; its pid went to an unrelated process
    # started later (a tick is enough to tell them apart).
    writer = f"{unrelated.pid}-{this_boot()}.{start_ticks(unrelated.pid) - 1}"
    sealed = _sealed(tmp_path / f"{writer}-0123abcd.part", "1.2.3.2")
    partial = tmp_path / f"{writer}-4567ef01.part"
    partial.write_bytes(b"\0" * 128 + b"DICM")
    claimed = claim_orphans(tmp_path)
    assert len(claimed) == 1 and not sealed.exists() and not partial.exists()
    assert os.listdir(tmp_path) == [claimed[0].name]
    assert unrelated.poll() is None  # only its pid was looked at


def test_an_earlier_versions_file_of_a_live_pid_is_left(
        tmp_path: Path, unrelated: subprocess.Popen[bytes]) -> None:
    # ``<pid>-<random>.part`` records no start: a live pid may be its writer.
    sealed = _sealed(tmp_path / f"{unrelated.pid}-0123abcd.part", "1.2.3.3")
    partial = tmp_path / f"{unrelated.pid}-4567ef01.part"
    partial.write_bytes(b"x")
    assert claim_orphans(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted([sealed.name, partial.name])
    unrelated.kill()
    unrelated.wait()
    (claimed,) = claim_orphans(tmp_path)  # the pid alone decides, as it always did
    assert os.listdir(tmp_path) == [claimed.name]


# A receiver that answered one data set (sealed, its sink never returns) and is in the
# middle of writing another, as a storage SCP is while its association runs.
_WRITER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from types import SimpleNamespace
    from viewer.net.commands import StoreRequest
    from viewer.net.receiver import Receiver

    def never(item):
        threading.Event().wait()

    receiver = Receiver(Path(sys.argv[1]), never)
    peer = SimpleNamespace(is_requestor=True, acceptor=SimpleNamespace(ae_title="PACS"))
    # (0008,0016) SOP Class UID, the one the requests name.
    element = memoryview(b"\\x08\\x00\\x16\\x00UI\\x1a\\x001.2.840.10008.5.1.4.1.1.2\\x00")
    answered = receiver.begin_instance(
        peer, StoreRequest(1, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "", None),
        "1.2.840.10008.1.2.1")
    answered.write(element)
    assert answered.finish() == 0
    answered.settle()
    writing = receiver.begin_instance(
        peer, StoreRequest(2, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.5", "", None),
        "1.2.840.10008.1.2.1")
    writing.write(element)
    print("writing", flush=True)
    sys.stdin.read()
""")


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mode, p.stat().st_size) for p in folder.iterdir()}


def test_the_files_of_a_running_receiver_are_not_touched(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(incoming)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              cwd=Path(__file__).parents[2])
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
        before = _listing(incoming)
        sealed = [n for n, (mode, _) in before.items() if not mode & stat.S_IWUSR]
        assert len(sealed) == 1
        assert all(n.startswith(f"{writer.pid}-{this_boot()}.") for n in before)
        assert claim_orphans(incoming) == []
        after = _listing(incoming)  # and the empty files it keeps making ahead
        assert {name: after.get(name) for name in before} == before
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    # Once it has ended, the same files are its orphans: the answered one is claimed.
    (claimed,) = claim_orphans(incoming)
    assert os.listdir(incoming) == [claimed.name]
    item = left_behind(claimed)
    assert item is not None and item.sop_instance_uid == "1.2.3.4"


def test_a_forked_child_names_its_files_after_itself(tmp_path: Path) -> None:
    from viewer.net.orphans import part_name

    assert part_name().startswith(f"{os.getpid()}-")  # the parent's, read once
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write_end, part_name().encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        name = pipe.read().decode()
    os.waitpid(pid, 0)
    assert name.startswith(f"{pid}-{this_boot()}.")
    assert part_name().startswith(f"{os.getpid()}-")
