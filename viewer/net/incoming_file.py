"""One C-STORE data set on its way into a file, and the statuses its C-STORE is answered with.

:class:`IncomingFile` is written on the association's thread as the data set's fragments
arrive, behind its File Meta Information. It keeps the first bytes to read the header
from, seals the complete file before the response leaves (a process that ends before its
sink took a sealed file leaves it to be stored, :mod:`viewer.net.orphans`), and once the
response has left queues it on its :class:`~viewer.net.receiver.Receiver` for the sink.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING

from viewer.core.errors import InputFileError, disk_full
from viewer.core.records import InstanceRecord
from viewer.core.writeback import start_writeback
from viewer.dicom.header import read_header_bytes
from viewer.dicom.structure import IncompleteHeaderError
from viewer.net.commands import StoreRequest
from viewer.net.dataset_identity import dataset_uids
from viewer.net.orphans import CAN_SEAL, SEALED_MODE

if TYPE_CHECKING:
    from viewer.net.receiver import Receiver

# The receiver's records keep its name (the command line's log shows it).
LOGGER = logging.getLogger("viewer.net.receiver")

# PS3.4 B.2.3 C-STORE statuses we answer.
STORE_SUCCESS = 0x0000
STORE_OUT_OF_RESOURCES = 0xA700
STORE_CANNOT_UNDERSTAND = 0xC000
STORE_NOT_AUTHORIZED = 0x0124
STORE_DATA_SET_MISMATCH = 0xA900  # Data Set does not match SOP Class

# How much of each data set is kept in memory to read its header from (the store's
# importer reads as much of a file for the same purpose).
HEAD_BYTES = 64 * 1024


class IncomingFile:
    """One data set on its way into ``incoming``, under a temporary name.

    The file keeps its temporary name (``<pid>-<start>-<random>.part``) until the sink takes it:
    renaming it on the association's thread cost as much as writing it (the worker
    renames files out of the same folder meanwhile). A write that fails marks the
    instance failed (status 0xA700); the rest of its fragments are then only counted.
    """

    __slots__ = (
        "calling_aet",
        "complete",
        "data_start",
        "fd",
        "head",
        "header",
        "part",
        "receiver",
        "request",
        "size",
        "status",
        "transfer_syntax",
    )

    def __init__(self, receiver: Receiver, request: StoreRequest, transfer_syntax: str,
                 calling_aet: str) -> None:
        self.receiver = receiver
        self.request = request
        self.transfer_syntax = transfer_syntax
        self.calling_aet = calling_aet
        self.part = ""
        self.fd: int | None = None
        self.size = 0
        self.data_start = 0  # where the data set begins, after the File Meta Information
        self.status = STORE_SUCCESS
        # The beginning of the file, to read its header once the response has left.
        self.head = bytearray()
        self.complete = False
        self.header: InstanceRecord | None = None

    def write(self, fragment: memoryview) -> None:
        """Append a fragment; after a failure, drop it."""
        if self.fd is None:
            return
        if len(self.head) < HEAD_BYTES:
            self.head += fragment[:HEAD_BYTES - len(self.head)]
        try:
            while fragment:
                written = os.write(self.fd, fragment)
                fragment = fragment[written:]
                self.size += written
        except OSError as exc:
            self.failed(exc)

    def failed(self, exc: OSError) -> None:
        """The file cannot be written: answer 0xA700 (PS3.4 B.2.3), keep nothing."""
        if disk_full(exc):
            self.receiver.note_full()  # said once for the retrieve, not per instance
        else:
            LOGGER.error("cannot write received instance %s: %s",
                         self.request.sop_instance_uid, exc)
        self._discard()
        self.status = STORE_OUT_OF_RESOURCES
        where = self.part or self.receiver.incoming
        self.receiver._forget(self, f"cannot write {where}: {exc}")

    def finish(self) -> int:
        """The data set is complete (the file is closed by :meth:`settle`); the C-STORE
        status. The file is sealed (:data:`~viewer.net.orphans.SEALED_MODE`) before that
        status is sent."""
        if self.fd is not None:
            mismatch = self._mismatch()
            if mismatch:
                LOGGER.warning("refused instance %s from AE %s: %s (status 0x%04X)",
                               self.request.sop_instance_uid, self.calling_aet, mismatch,
                               STORE_DATA_SET_MISMATCH)
                self._discard()
                self.status = STORE_DATA_SET_MISMATCH
                self.receiver._forget(self, mismatch)
                return self.status
            self.complete = True
            if CAN_SEAL:
                with contextlib.suppress(OSError):  # unsealed, it is only not recovered
                    os.fchmod(self.fd, SEALED_MODE)
        return self.status

    def _mismatch(self) -> str:
        """Why the data set is not the instance its C-STORE request names, or "".

        PS3.4 B.2.3: 0xA900, the data set does not match the SOP Class. Its File Meta
        Information, written from the request, would contradict it (PS3.10 7.1), and the
        store would file it under the data set's UIDs while the sender was told the
        request's instance was stored.
        """
        uids = dataset_uids(self.head[self.data_start:], self.transfer_syntax,
                            whole=self.size <= HEAD_BYTES)
        if uids is None:
            return ""
        sop_class, sop_instance = uids
        if sop_instance and sop_instance != self.request.sop_instance_uid:
            return (f"its data set is SOP Instance {sop_instance}, not the "
                    f"{self.request.sop_instance_uid} its C-STORE request names")
        if sop_class and sop_class != self.request.sop_class_uid:
            return (f"its data set is of SOP Class {sop_class}, not the "
                    f"{self.request.sop_class_uid} its C-STORE request names")
        return ""

    @property
    def settling(self) -> bool:
        """Complete and answered, and about to be queued (true until it is)."""
        return self.complete or (self.fd is None and self.status == STORE_SUCCESS)

    def settle(self) -> None:
        """Start writing the file to disk, close it, read the header from memory and
        queue the file for the sink.

        Called once the response has left, while the peer reads it and sends the next
        data set. Read on the worker instead, each header held the GIL that this thread
        needs after every read from the socket; written out only by the store's flush,
        the last batch's data was still to write after the last instance.
        """
        if not self.complete or self.fd is None:
            return
        self.complete = False
        fd, self.fd = self.fd, None
        start_writeback(fd)
        try:
            os.close(fd)
        except OSError as exc:  # the descriptor is gone all the same (close(2))
            self.failed(exc)
            return
        header: InstanceRecord | None = None
        try:
            header = read_header_bytes(bytes(self.head), self.part, self.size)
        except (IncompleteHeaderError, InputFileError):
            pass  # the store reads the file itself, and names the problem
        except Exception:  # pydicom raises many types on damaged input (an unknown VR)
            LOGGER.debug("header of %s left to the store", self.part, exc_info=True)
        self.head = bytearray()
        self.receiver._keep(self, self.size, header)

    def abandon(self) -> None:
        """The data set will not be completed: remove what was written."""
        self._discard()
        self.receiver._forget(self)

    def _discard(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(self.part)
