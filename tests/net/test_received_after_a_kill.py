"""Instances our storage SCP answered before its process was killed are stored by the
next receiver of the folder; a data set cut off mid-way is removed (PS3.4 B.2.2)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest

from tests.support.peers import PEER_ENV, STORESCU, free_port
from viewer.net.receiver import Receiver
from viewer.net.sinks import BatchSink
from viewer.store import StudyStore

# A storage SCP whose sink never returns: every instance is answered, none is stored,
# as when the process dies between the C-STORE response and the store's commit.
_LISTENER = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from viewer.core.settings import NetworkSettings
    from viewer.net.nodes import NodeRecord
    from viewer.net.scp import StorageSCP

    def never(item):
        threading.Event().wait()

    local = NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1")
    sender = NodeRecord("modality", "MODALITY", "127.0.0.1", 104)
    scp = StorageSCP(local, [sender], Path(sys.argv[1]), never, port=int(sys.argv[2]))
    scp.start()
    print("listening", flush=True)
    threading.Event().wait()
""")


@pytest.mark.peer
def test_answered_instances_survive_a_kill(tmp_path: Path,
                                           peer_files: dict[str, Path]) -> None:
    incoming, port = tmp_path / "incoming", free_port()
    listener = subprocess.Popen(
        [sys.executable, "-c", _LISTENER, str(incoming), str(port)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
    try:
        assert listener.stdout is not None and listener.stdout.readline() == "listening\n"
        files = sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:4]
        sent = subprocess.run(
            [STORESCU, "-aet", "MODALITY", "-aec", "LIGHTBOX", "127.0.0.1", str(port),
             *map(str, files)], env=PEER_ENV, capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr  # every one answered
    finally:
        listener.send_signal(signal.SIGKILL)
        listener.wait(10)
    # A data set the dead process was still writing: its sender had no answer.
    cut_off = incoming / f"{listener.pid}-0123456789abcdef.part"
    cut_off.write_bytes(b"\0" * 128 + b"DICM")
    # The answered ones are read-only; empty files made ahead for data sets to come are not.
    sealed = [p for p in incoming.glob("*.part") if not p.stat().st_mode & stat.S_IWUSR]
    assert len(sealed) == len(files)

    with StudyStore.open(tmp_path / "home") as store:
        receiver = Receiver(incoming, BatchSink(store.add_received_files, durable=True))
        receiver.close()
        uids = {str(pydicom.dcmread(p).SOPInstanceUID): p for p in files}
        assert store.has_instances(set(uids)) == set(uids)
        for uid, path in uids.items():
            kept = store.instance_path(uid)
            assert kept is not None
            stored = pydicom.dcmread(kept)
            assert stored.PixelData == pydicom.dcmread(path).PixelData
            assert stored.file_meta.SourceApplicationEntityTitle == "MODALITY"
        assert store.check() == []
    assert os.listdir(incoming) == []
