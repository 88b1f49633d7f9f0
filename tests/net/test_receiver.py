"""The receiver's hand-over to the store: in batches when the sink takes batches."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pydicom
import pytest

from tests.net.conftest import FolderSink
from tests.net.test_fastpath import _Server, _store_all
from viewer.core.records import InstanceRecord
from viewer.dicom.structure import read_meta
from viewer.net import receiver_worker
from viewer.net.commands import StoreRequest
from viewer.net.receiver import BATCH_FILES, Receiver, RecentUids
from viewer.net.receiver_worker import BLANK_FILES
from viewer.net.sinks import BatchSink, CountingSink, ReceivedInstance


class _RecordingStore:
    """Takes batches of paths as ``StudyStore.add_received_files`` does (into a folder)."""

    def __init__(self, folder: Path, fail: bool = False) -> None:
        self.sink = FolderSink(folder)
        self.batches: list[int] = []
        self.headers: list[InstanceRecord | None] = []
        self.fail = fail

    def add_received_files(self, paths: list[Path], *,
                           headers: Sequence[InstanceRecord | None],
                           durable: bool = False) -> list[object]:
        self.batches.append(len(paths))
        self.headers.extend(headers)
        if self.fail:
            raise OSError(28, "No space left on device")
        results: list[object] = []
        for path in paths:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            self.sink(ReceivedInstance(path, ds.SOPInstanceUID, ds.SOPClassUID,
                                       ds.file_meta.TransferSyntaxUID, "PACS"))
            results.append(path)
        return results


def _files(peer_files: dict[str, Path], count: int) -> list[Path]:
    return sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:count]


def test_a_batch_sink_gets_what_arrived_together(tmp_path: Path,
                                                 peer_files: dict[str, Path]) -> None:
    files = _files(peer_files, 12)
    store = _RecordingStore(tmp_path / "store")
    counting = CountingSink(BatchSink(store.add_received_files))
    server = _Server(tmp_path / "incoming", counting, listen_to_pdus=False)
    try:
        _store_all(server, files, 0)
    finally:
        server.stop()
    assert sum(store.batches) == len(files) == server.receiver.delivered
    assert max(store.batches) > 1 and max(store.batches) <= BATCH_FILES
    assert counting.arrived == set(store.sink.files)
    for path in files:
        ds = pydicom.dcmread(path)
        assert pydicom.dcmread(store.sink.files[ds.SOPInstanceUID]).PixelData == ds.PixelData
    # Each header was read from memory as its data set arrived: the store need not.
    assert len(store.headers) == len(files) and all(store.headers)
    by_uid = {h.sop_instance_uid: h for h in store.headers if h is not None}
    for path in files:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        header = by_uid[ds.SOPInstanceUID]
        assert (header.study_uid, header.series_uid, header.rows) == (
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.Rows)
        assert header.file_size == os.stat(store.sink.files[ds.SOPInstanceUID]).st_size


def test_a_failing_batch_marks_its_instances_failed_and_the_rest_goes_on(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    files = _files(peer_files, 3)
    store = _RecordingStore(tmp_path / "store", fail=True)
    counting = CountingSink(BatchSink(store.add_received_files))
    server = _Server(tmp_path / "incoming", counting, listen_to_pdus=False)
    try:
        _store_all(server, files, 0)  # drains: the worker survived the failures
        assert len(server.receiver.failures) == 3
        assert all("No space left" in reason for _, reason in server.receiver.failures)
        assert server.receiver.delivered == 0 and counting.arrived == set()
        # What the store did not take is kept under its SOP Instance UID, not left
        # under a temporary name that would be cleaned up as a partial file.
        kept = {p.name for p in (tmp_path / "incoming").glob("*.dcm")}
        assert kept == {f"{pydicom.dcmread(p).SOPInstanceUID}.dcm" for p in files}
        assert not [p for p in (tmp_path / "incoming").glob("*.part") if p.stat().st_size]
        store.fail = False
        _store_all(server, files[:1], 0)
        assert server.receiver.delivered == 1
    finally:
        server.stop()


@pytest.mark.timeout(60)
def test_draining_does_not_wait_for_a_batch_to_fill(
        tmp_path: Path, peer_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # The end of a retrieve drains the receiver: the batch being gathered goes to the
    # store at once instead of waiting for files that will not come. With the batch
    # window at ten minutes, only that hand-over lets drain() return.
    monkeypatch.setattr(receiver_worker, "BATCH_WAIT", 600.0)
    files = _files(peer_files, 3)
    store = _RecordingStore(tmp_path / "store")
    server = _Server(tmp_path / "incoming", BatchSink(store.add_received_files),
                     listen_to_pdus=False)
    try:
        _store_all(server, files, 0)  # ends with drain()
        assert server.receiver.delivered == len(files)
        _store_all(server, files[:1], 0)  # the worker goes on after a flush
        assert server.receiver.delivered == len(files) + 1
    finally:
        server.stop()
    assert sum(store.batches) == len(files) + 1


def test_a_long_running_receiver_remembers_a_bounded_number_of_uids() -> None:
    recent = RecentUids(3)
    for uid in ("1.1", "1.2", "1.3", "1.1", "1.4"):
        recent.add(uid)
    assert len(recent) == 3
    assert "1.2" not in recent  # the oldest went; "1.1" was seen again and stays
    assert all(uid in recent for uid in ("1.1", "1.3", "1.4"))


def test_files_made_ahead_are_removed_when_the_receiver_closes(
        tmp_path: Path, peer_files: dict[str, Path]) -> None:
    incoming = tmp_path / "incoming"
    store = _RecordingStore(tmp_path / "store")
    server = _Server(incoming, BatchSink(store.add_received_files), listen_to_pdus=False)
    try:
        _store_all(server, _files(peer_files, 2), 0)
        # The worker keeps empty files ready for the next data sets.
        assert 0 < len(list(incoming.glob("*.part"))) <= BLANK_FILES
    finally:
        server.stop()
    assert list(incoming.iterdir()) == []
    assert len(store.sink.files) == 2


def test_partial_files_of_dead_processes_are_removed(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid is free now (reuse within the test is vanishingly unlikely)
    orphan = incoming / f"{dead.pid}-0123abcd.part"
    ours = incoming / f"{os.getpid()}-4567ef01.part"
    other = incoming / "1.2.3.dcm"
    for path in (orphan, ours, other):
        path.write_bytes(b"x")
    Receiver(incoming, lambda item: None).close()
    assert sorted(p.name for p in incoming.iterdir()) == sorted([ours.name, other.name])


def test_a_closed_receiver_refuses_data_sets_until_reopened(tmp_path: Path) -> None:
    # A PACS that died mid-retrieve can leave a data set in our socket buffer, read
    # after the retrieve closed its receiver: no file, no late delivery to the sink.
    sink = FolderSink(tmp_path / "sink")
    receiver = Receiver(tmp_path / "incoming", sink)
    peer = SimpleNamespace(is_requestor=True, acceptor=SimpleNamespace(ae_title="PACS"))
    request = StoreRequest(1, "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "", None)
    receiver.close()
    refused = receiver.begin_instance(peer, request, "1.2.840.10008.1.2.1")
    assert refused.finish() == 0xA700
    assert list((tmp_path / "incoming").iterdir()) == []
    receiver.reopen()
    taken = receiver.begin_instance(peer, request, "1.2.840.10008.1.2.1")
    # (0008,0016) SOP Class UID, the request's: a data set of another class is refused.
    taken.write(memoryview(b"\x08\x00\x16\x00UI\x1a\x001.2.840.10008.5.1.4.1.1.2\x00"))
    assert taken.finish() == 0
    taken.settle()  # after the response: hands the file on
    receiver.close()
    assert set(sink.files) == {"1.2.3.4"} and receiver.written == 1


@pytest.mark.parametrize("end", ["drain", "close"])
def test_the_end_of_a_retrieve_waits_for_the_last_answered_file(
        tmp_path: Path, peer_files: dict[str, Path], end: str) -> None:
    """The C-STORE response leaves before its file is queued, so the PACS's final
    response can reach the retrieve first: draining (or closing) then still delivers that
    file, and closing does not take it for a data set cut off mid-way."""
    (path,) = _files(peer_files, 1)
    ds = pydicom.dcmread(path)
    store = _RecordingStore(tmp_path / "store")
    receiver = Receiver(tmp_path / "incoming", BatchSink(store.add_received_files))
    peer = SimpleNamespace(is_requestor=True, acceptor=SimpleNamespace(ae_title="PACS"))
    request = StoreRequest(1, str(ds.SOPClassUID), str(ds.SOPInstanceUID), "", None)
    incoming = receiver.begin_instance(peer, request, str(ds.file_meta.TransferSyntaxUID))
    data = path.read_bytes()
    incoming.write(memoryview(data)[read_meta(data)[0]:])  # the data set, as sent
    assert incoming.finish() == 0  # answered; the association's thread settles it next
    settler = threading.Timer(0.2, incoming.settle)
    settler.start()
    try:
        getattr(receiver, end)()
        assert set(store.sink.files) == {str(ds.SOPInstanceUID)}
    finally:
        settler.join()
        receiver.close()
    stored = pydicom.dcmread(store.sink.files[str(ds.SOPInstanceUID)])
    assert stored.PixelData == ds.PixelData
