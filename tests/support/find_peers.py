"""A C-FIND SCP inside the test that sends some matches, then misbehaves as told.

The matches are studies ``1.2.826.0.1.3680043.10.2.<n>`` (n from 1) with a name, an ID
and Modalities in Study. What happens after the first ``before`` matches:

``"silent"``
    Nothing more is sent until :meth:`ScriptedFindPeer.stop` (a PACS that hangs).
``"abort"``
    The association is aborted (A-ABORT, PS3.8 7.3), after the matches already sent,
    and the connection closed: the connection is lost mid-answer. (Closing the socket
    from the handler instead could overtake the matches still queued to be sent.)
``"await-cancel"``
    The peer waits up to ``patience`` seconds for a C-CANCEL (PS3.7 9.3.2.3). If one
    came it records that in :attr:`ScriptedFindPeer.saw_cancel` and ends with status
    Cancel (0xFE00); if none came it sends the remaining matches and Success.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

UID_ROOT = "1.2.826.0.1.3680043.10.2."


class ScriptedFindPeer:
    """A Study Root C-FIND SCP on loopback: ``total`` study matches, ``after`` as above.

    Attributes
    ----------
    sent : int
        How many matches it has sent.
    saw_cancel : bool
        Whether a C-CANCEL for the C-FIND reached it (``event.is_cancelled``).
    """

    def __init__(self, total: int, *, before: int, after: str, patience: float = 20.0,
                 aet: str = "FINDPACS") -> None:
        if after not in ("silent", "abort", "await-cancel"):
            raise ValueError(after)
        self.total, self.before, self.after, self.patience = total, before, after, patience
        self.aet = aet
        self.sent = 0
        self.saw_cancel = False
        self.released = threading.Event()
        ae = AE(ae_title=aet)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        server = ae.start_server(("127.0.0.1", 0), block=False,
                                 evt_handlers=[(evt.EVT_C_FIND, self._find)])
        assert server is not None
        self.server = server
        self.port = int(self.server.server_address[1])

    def match(self, n: int) -> Dataset:
        """The ``n``-th study match (from 1), as the peer sends it."""
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.StudyInstanceUID = f"{UID_ROOT}{n}"
        ds.PatientName = f"PATIENT^{n}"
        ds.PatientID = f"ID{n}"
        ds.ModalitiesInStudy = "CT"
        ds.NumberOfStudyRelatedInstances = n
        return ds

    def _find(self, event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        for n in range(1, self.total + 1):
            if n == self.before + 1 and self._misbehave(event):
                break
            self.sent += 1
            yield 0xFF00, self.match(n)
        if self.saw_cancel:
            yield 0xFE00, None  # PS3.4 C.4.1.1.4: the answer to a C-CANCEL

    def _misbehave(self, event: evt.Event) -> bool:
        """Do what ``after`` says; True when no more matches are to be sent."""
        if self.after == "silent":
            self.released.wait()
            return True
        if self.after == "abort":
            event.assoc.abort(block=False)  # queued behind the matches: they go first
            return True
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline and not self.released.is_set():
            if event.is_cancelled:
                self.saw_cancel = True
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Release a waiting handler and stop the server."""
        self.released.set()
        self.server.shutdown()
