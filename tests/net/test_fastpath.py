"""The bulk-receive short path: data sets written as their PDUs arrive, answered at once.

Checked against pynetdicom's own path (taken whenever someone listens to the raw PDUs):
the files are the same byte for byte, and a data set cut off by an abort leaves nothing.
"""

from __future__ import annotations

import itertools
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from tests.net.conftest import FolderSink
from viewer.net import fastpath, quick_dimse
from viewer.net.commands import (
    command_fields,
    is_pending_retrieve_response,
    p_data_pdu,
    pending_retrieve_response,
    store_request,
)
from viewer.net.fastpath import set_nodelay
from viewer.net.receiver import Receiver
from viewer.net.sinks import Sink


class _Server:
    """A pynetdicom storage SCP wired as ours: a Receiver, and the tuned association."""

    def __init__(self, incoming: Path, sink: Sink, listen_to_pdus: bool) -> None:
        self.receiver = Receiver(incoming, sink)
        self.pdus: list[int] = []
        ae = AE(ae_title="LIGHTBOX")
        for uid in (CTImageStorage, MRImageStorage):
            ae.add_supported_context(uid)
        handlers: list[Any] = [(evt.EVT_CONN_OPEN, set_nodelay),
                               (evt.EVT_C_STORE, self.receiver.handle_store)]
        if listen_to_pdus:
            handlers.append((evt.EVT_DATA_RECV, lambda event: self.pdus.append(len(event.data))))
        self.server: Any = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.receiver.close()


@pytest.fixture
def scp(tmp_path: Path, sink: FolderSink) -> Iterator[_Server]:
    server = _Server(tmp_path / "incoming", sink, listen_to_pdus=False)
    yield server
    server.stop()


def _store_all(scp: _Server, files: list[Path], max_pdu: int) -> None:
    ae = AE(ae_title="PACS")
    ae.maximum_pdu_size = max_pdu
    for uid in (CTImageStorage, MRImageStorage):
        ae.add_requested_context(uid)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established
    for path in files:
        assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    assoc.release()
    scp.receiver.drain()


def _element(element: int, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\x00"
    return struct.pack("<HHL", 0x0000, element, len(value)) + value


def _c_store_rq(sop_class: str, sop_instance: str, message_id: int) -> bytes:
    """A C-STORE-RQ command set (PS3.7 9.3.1.1), implicit VR little endian."""
    body = b"".join((
        _element(0x0002, sop_class.encode()),
        _element(0x0100, struct.pack("<H", 0x0001)),
        _element(0x0110, struct.pack("<H", message_id)),
        _element(0x0700, struct.pack("<H", 0)),
        _element(0x0800, struct.pack("<H", 0x0000)),
        _element(0x1000, sop_instance.encode()),
    ))
    return _element(0x0000, struct.pack("<L", len(body))) + body


def test_the_command_set_of_a_store_request_is_read_back() -> None:
    encoded = _c_store_rq(CTImageStorage, "1.2.3.4", 7)
    fields = command_fields(encoded)
    assert fields is not None
    request = store_request(fields)
    assert request is not None
    assert (request.message_id, request.sop_class_uid, request.sop_instance_uid) == (
        7, CTImageStorage, "1.2.3.4")
    assert request.move_originator_id is None
    assert command_fields(encoded[:-3]) is None  # an element running past the end


def _c_get_rsp(status: int, remaining: int, completed: int) -> bytes:
    """A C-GET-RSP command set without identifier (PS3.7 9.3.3.2)."""
    body = b"".join((
        _element(0x0002, CTImageStorage.encode()),
        _element(0x0100, struct.pack("<H", 0x8010)),
        _element(0x0120, struct.pack("<H", 3)),
        _element(0x0800, struct.pack("<H", 0x0101)),
        _element(0x0900, struct.pack("<H", status)),
        _element(0x1020, struct.pack("<H", remaining)),
        _element(0x1021, struct.pack("<H", completed)),
        _element(0x1022, struct.pack("<H", 0)),
        _element(0x1023, struct.pack("<H", 0)),
    ))
    return _element(0x0000, struct.pack("<L", len(body))) + body


def test_pending_retrieve_responses_are_told_from_the_final_one() -> None:
    pending = command_fields(_c_get_rsp(0xFF00, 7, 5))
    final = command_fields(_c_get_rsp(0x0000, 0, 12))
    assert pending is not None and final is not None
    assert is_pending_retrieve_response(pending)
    assert not is_pending_retrieve_response(final)  # pynetdicom's path: counts and status
    rsp = pending_retrieve_response(pending)
    assert rsp is not None
    assert (rsp.Status, rsp.MessageIDBeingRespondedTo) == (0xFF00, 3)
    assert (rsp.NumberOfRemainingSuboperations, rsp.NumberOfCompletedSuboperations) == (7, 5)
    assert rsp.AffectedSOPClassUID == CTImageStorage
    assert store_request(pending) is None


@pytest.mark.parametrize("max_pdu", [16382, 0])
def test_short_path_and_pynetdicom_path_write_the_same_files(
        tmp_path: Path, peer_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
        max_pdu: int) -> None:
    short_cuts: list[int] = []
    original = quick_dimse.QuickStoreDIMSE.receive_pdvs

    def counted(self: Any, pdvs: Any) -> None:
        short_cuts.append(len(pdvs))
        original(self, pdvs)

    monkeypatch.setattr(quick_dimse.QuickStoreDIMSE, "receive_pdvs", counted)
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:3]
    received: dict[bool, dict[str, bytes]] = {}
    for listen in (False, True):
        # Someone listening to the raw PDUs gets pynetdicom's path, and every PDU.
        sink = FolderSink(tmp_path / f"sink-{listen}")
        server = _Server(tmp_path / f"incoming-{listen}", sink, listen_to_pdus=listen)
        try:
            _store_all(server, files, max_pdu)  # many fragments per data set, or one
        finally:
            server.stop()
        assert bool(server.pdus) == listen
        assert bool(short_cuts) != listen, f"short path {bool(short_cuts)}, listening {listen}"
        short_cuts.clear()
        received[listen] = {uid: path.read_bytes() for uid, path in sink.files.items()}
    assert len(received[False]) == 3
    assert received[False] == received[True]
    for path in files:
        original_ds = pydicom.dcmread(path)
        got = pydicom.dcmread(tmp_path / "sink-False" / f"{original_ds.SOPInstanceUID}.dcm")
        assert got.PixelData == original_ds.PixelData
        assert got.file_meta.SourceApplicationEntityTitle == "PACS"


def test_a_data_set_cut_off_by_an_abort_leaves_nothing(
        scp: _Server, sink: FolderSink, tmp_path: Path) -> None:
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established
    context_id = assoc.accepted_contexts[0].context_id
    command = _c_store_rq(CTImageStorage, "1.2.826.0.1.3680043.9.7.1", 1)
    # PS3.8 E.2: the command (0x03), then a first data fragment (0x00), never the last.
    socket: Any = assoc.dul.socket
    socket.send(p_data_pdu(int(context_id or 0), 0x03, command))
    socket.send(p_data_pdu(int(context_id or 0), 0x00, b"\x08\x00\x16\x00" + b"\x00" * 4000))
    deadline = time.monotonic() + 10
    while not list((tmp_path / "incoming").glob("*.part")) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list((tmp_path / "incoming").glob("*.part")), "the fragment never reached a file"
    assoc.abort()
    while list((tmp_path / "incoming").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert list((tmp_path / "incoming").iterdir()) == []
    assert sink.files == {}
    assert scp.receiver.written == 0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to count descriptors")
def test_associations_leave_no_descriptors_open(scp: _Server, peer_files: dict[str, Path],
                                                ) -> None:
    files = sorted(p for p in peer_files.values() if p.name.startswith("doe_"))[:1]
    _store_all(scp, files, 0)  # first use: threads, caches and the receiver's files
    before = len(list(Path("/proc/self/fd").iterdir()))
    for _ in range(10):
        _store_all(scp, files, 0)
    deadline = time.monotonic() + 10
    while len(list(Path("/proc/self/fd").iterdir())) > before and time.monotonic() < deadline:
        time.sleep(0.05)  # the last association's threads are still closing
    # Each association used to leave its DUL's wake-up socket pair open: 20 more here.
    assert len(list(Path("/proc/self/fd").iterdir())) <= before


def _raw_store(scp: _Server, chunks: list[bytes], pause: float = 0.0) -> Any:
    """Open an association and send ``chunks`` of raw PDU bytes, each on its own."""
    ae = AE(ae_title="PACS")
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title="LIGHTBOX")
    assert assoc.is_established
    raw = assoc.dul.socket.socket
    for chunk in chunks:
        raw.sendall(chunk)
        if pause:
            time.sleep(pause)
    return assoc


def _split_store(context_id: int, uid: str, data: bytes, sizes: list[int]) -> list[bytes]:
    """The PDUs of a C-STORE-RQ and its data set, in fragments of the given sizes."""
    pdus = [p_data_pdu(context_id, 0x03, _c_store_rq(CTImageStorage, uid, 1))]
    offset = 0
    for size in itertools.cycle(sizes):
        piece = data[offset:offset + size]
        offset += size
        pdus.append(p_data_pdu(context_id, 0x02 if offset >= len(data) else 0x00, piece))
        if offset >= len(data):
            return pdus


def _wait_for(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("stream_bytes", [16 * 1024 * 1024, 1])
def test_a_data_set_arriving_in_odd_pieces_is_written_exactly(
        scp: _Server, sink: FolderSink, monkeypatch: pytest.MonkeyPatch,
        stream_bytes: int) -> None:
    # PDUs cut anywhere (inside a PDU header too), with pauses: the reads that go on
    # without the reactor must wait for the rest of a PDU that has begun, and hand back
    # to the reactor when nothing has; with a budget of 1 byte they hand back each time.
    monkeypatch.setattr(fastpath, "_STREAM_BYTES", stream_bytes)
    uid = "1.2.826.0.1.3680043.9.7.2"
    data = b"\x08\x00\x16\x00" + bytes(range(256)) * 300
    # Fragments of different sizes: a header read in two parts must not borrow
    # bytes from the one before.
    pdus = _split_store(1, uid, data, [7001, 3001, 5001])
    ends = list(itertools.accumulate(len(p) for p in pdus))
    stream = b"".join(pdus)
    # In the command's header; in each data PDU's header (2 or 4 bytes in); in a body.
    cuts = sorted({0, 3, *(end + 2 for end in ends[:-1]), *(end + 4 for end in ends[1:-1]),
                   ends[0] + 5000, len(stream)})
    assoc = _raw_store(scp, [stream[a:b] for a, b in itertools.pairwise(cuts)], pause=0.02)
    _wait_for(lambda: uid in sink.files)
    assoc.release()
    scp.receiver.drain()
    assert uid in sink.files, "the data set never arrived"
    written = sink.files[uid].read_bytes()
    assert written.endswith(data)
    assert pydicom.dcmread(sink.files[uid]).file_meta.MediaStorageSOPInstanceUID == uid


def test_an_abort_right_behind_a_fragment_leaves_nothing(
        scp: _Server, sink: FolderSink, tmp_path: Path) -> None:
    # The A-ABORT arrives in the same burst as the first data fragment: the data set's
    # read-ahead meets it and hands it to the state machine.
    uid = "1.2.826.0.1.3680043.9.7.3"
    command = p_data_pdu(1, 0x03, _c_store_rq(CTImageStorage, uid, 1))
    fragment = p_data_pdu(1, 0x00, b"\x08\x00\x16\x00" + b"\x00" * 40000)
    abort = struct.pack(">BBLBBBB", 0x07, 0, 4, 0, 0, 0, 0)  # PS3.8 9.3.8: A-ABORT
    assoc = _raw_store(scp, [command + fragment + abort])
    _wait_for(lambda: assoc.is_aborted or not assoc.is_alive())
    _wait_for(lambda: not list((tmp_path / "incoming").iterdir()))
    scp.receiver.drain()
    assert list((tmp_path / "incoming").iterdir()) == []
    assert sink.files == {}
    assert scp.receiver.written == 0


def test_a_data_set_whose_header_does_not_parse_keeps_the_association(
        scp: _Server, sink: FolderSink) -> None:
    # The header is read on the network thread after the response; pydicom's fallback
    # raises on an unknown VR. The file goes to the sink as received (the store reads it
    # again and names the problem) and the association carries on.
    uid = "1.2.826.0.1.3680043.9.7.4"
    data = b"\x08\x00\x16\x00ZZ\x04\x001.2\x00" + b"\x10\x00\x10\x00PN\x02\x00AB"
    assoc = _raw_store(scp, [b"".join(_split_store(1, uid, data, [4096]))])
    _wait_for(lambda: uid in sink.files)
    time.sleep(0.2)  # an abort would have reached us by now
    assert uid in sink.files
    assert assoc.is_established and not assoc.is_aborted
    assoc.release()
