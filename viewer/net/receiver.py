"""Receiving C-STORE data sets straight to files, and handing them on off the network thread.

The association's thread does only what must happen before the C-STORE response: it
writes the encoded data set, as received, behind a File Meta Information header
(PS3.10 7.1) into a file. Everything else (reading the header, indexing, moving into
the store) runs in the sink on a worker thread, so the network keeps streaming.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME

LOGGER = logging.getLogger(__name__)
_UID = re.compile(r"^[0-9.]{1,64}$")

# PS3.4 B.2.3 C-STORE statuses we answer.
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_NOT_AUTHORIZED = 0x0124


@dataclass(frozen=True, slots=True)
class ReceivedInstance:
    """One instance written to disk by the receiver, ready for the store's import path.

    Attributes
    ----------
    path : Path
        A complete DICOM file (preamble, File Meta Information, data set as sent).
    sop_instance_uid, sop_class_uid, transfer_syntax_uid : str
        From the C-STORE request and its presentation context.
    calling_aet : str
        The AE title that sent it.
    move_originator_message_id : int or None
        Set for C-MOVE sub-operations (PS3.7 9.3.1.1).
    """

    path: Path
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    calling_aet: str
    move_originator_message_id: int | None = None


Sink = Callable[[ReceivedInstance], None]


def _element(group_elem: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element of group 0002 (PS3.5 7.1.2)."""
    if len(value) % 2:
        value += b"\x00" if vr == b"UI" else b" "  # PS3.5 6.2: even length, UI pads NUL
    tag = struct.pack("<HH", 0x0002, group_elem)
    if vr == b"OB":
        return tag + vr + b"\x00\x00" + struct.pack("<L", len(value)) + value
    return tag + vr + struct.pack("<H", len(value)) + value


_PREAMBLE = b"\x00" * 128 + b"DICM"
_VERSION = _element(0x0001, b"OB", b"\x00\x01")
_IMPLEMENTATION = _element(0x0012, b"UI", IMPLEMENTATION_CLASS_UID.encode()) + _element(
    0x0013, b"SH", IMPLEMENTATION_VERSION_NAME.encode())


def _file_meta_bytes(sop_class: str, sop_instance: str, syntax: str, source_aet: str) -> bytes:
    """Preamble and File Meta Information (PS3.10 7.1), encoded directly: a few
    microseconds, where building a pydicom dataset per instance costs milliseconds."""
    body = b"".join((
        _VERSION,
        _element(0x0002, b"UI", sop_class.encode("ascii")),
        _element(0x0003, b"UI", sop_instance.encode("ascii")),
        _element(0x0010, b"UI", syntax.encode("ascii")),
        _IMPLEMENTATION,
        _element(0x0016, b"AE", source_aet.encode("ascii", "replace")) if source_aet else b"",
    ))
    length = struct.pack("<HH", 0x0002, 0x0000) + b"UL" + struct.pack("<HL", 4, len(body))
    return _PREAMBLE + length + body


class Receiver:
    """Writes C-STORE requests to ``incoming`` and feeds a sink from one worker thread.

    Parameters
    ----------
    incoming : Path
        Folder for received files; on the same file system as the store so that the
        store moves them by renaming.
    sink : callable
        Called with each :class:`ReceivedInstance` on the worker thread; it owns the file
        afterwards. An exception marks that instance failed and the rest go on.
    """

    def __init__(self, incoming: Path, sink: Sink) -> None:
        self.incoming = incoming
        self.sink = sink
        incoming.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[ReceivedInstance | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.written = 0
        self.bytes_written = 0
        self.delivered = 0
        self.failures: list[tuple[str, str]] = []  # (SOP Instance UID, reason)
        self.uids: set[str] = set()
        self.authorize: Callable[[Any], bool] | None = None

    # --- on the association's thread

    def handle_store(self, event: Any) -> int:
        """``evt.EVT_C_STORE`` handler: write the data set to its file, queue it, answer."""
        if self.authorize is not None and not self.authorize(event):
            return STORE_NOT_AUTHORIZED
        req = event.request
        sop_instance = str(req.AffectedSOPInstanceUID)
        sop_class = str(req.AffectedSOPClassUID)
        syntax = str(event.context.transfer_syntax)
        calling = str(event.assoc.requestor.ae_title).strip()
        name = sop_instance if _UID.match(sop_instance) else uuid.uuid4().hex
        final = self.incoming / f"{name}.dcm"
        part = self.incoming / f"{name}.{uuid.uuid4().hex[:8]}.part"
        try:
            data = req.DataSet.getbuffer()
            with part.open("wb") as f:
                f.write(_file_meta_bytes(sop_class, sop_instance, syntax, calling))
                f.write(data)
            os.replace(part, final)
        except OSError as exc:
            LOGGER.error("cannot write received instance %s: %s", sop_instance, exc)
            part.unlink(missing_ok=True)
            with self._lock:
                self.failures.append((sop_instance, f"cannot write {final}: {exc}"))
            return STORE_OUT_OF_RESOURCES
        except (AttributeError, TypeError):
            part.unlink(missing_ok=True)
            return STORE_CANNOT_UNDERSTAND
        originator = req.MoveOriginatorMessageID
        item = ReceivedInstance(
            final, sop_instance, sop_class, syntax, calling,
            int(originator) if originator is not None else None,
        )
        with self._lock:
            self.written += 1
            self.bytes_written += len(data)
            self.uids.add(sop_instance)
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._run, name="lightbox-receiver", daemon=True
                )
                self._worker.start()
        self._queue.put(item)
        return STORE_SUCCESS

    # --- on the worker thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                self.sink(item)
                with self._lock:
                    self.delivered += 1
            except Exception as exc:  # one bad instance never stops the batch
                LOGGER.warning("received instance %s not imported: %s", item.sop_instance_uid,
                               exc)
                with self._lock:
                    self.failures.append((item.sop_instance_uid, str(exc)))
            finally:
                self._queue.task_done()

    # --- on the caller's thread

    def drain(self) -> None:
        """Wait until every file written so far went through the sink."""
        self._queue.join()

    def close(self) -> None:
        """Drain, then stop the worker thread."""
        with self._lock:
            worker = self._worker
            self._worker = None
        if worker is not None:
            self._queue.put(None)
            worker.join()
