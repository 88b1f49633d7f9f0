"""C-ECHO (PS3.4 A.4 Verification) with the round-trip time."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pynetdicom.presentation import build_context

from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net.connection import (
    CancelToken,
    abort_waiting,
    end_association,
    note_lost,
    open_association,
)
from viewer.net.nodes import NodeRecord
from viewer.net.policy import UNCOMPRESSED_SYNTAXES, VERIFICATION


@dataclass(frozen=True, slots=True)
class EchoResult:
    """What a C-ECHO measured.

    Attributes
    ----------
    round_trip : float
        Seconds from C-ECHO-RQ to C-ECHO-RSP.
    association : float
        Seconds to set up the association (TCP, TLS, A-ASSOCIATE).
    tls : bool
        The association was protected by TLS.
    """

    round_trip: float
    association: float
    tls: bool


def echo(node: NodeRecord, local: NetworkSettings, cancel: CancelToken | None = None) -> EchoResult:
    """Verify ``node`` with C-ECHO (PS3.7 9.1.5) and time it.

    Parameters
    ----------
    cancel : CancelToken, optional
        Cancelling while the association is set up gives it up at once; cancelling
        while the C-ECHO waits for its response aborts the association (A-ABORT, PS3.8
        7.3), since a PACS that accepted it and does not answer would hold the wait for
        the DIMSE timeout.

    Raises
    ------
    PeerError
        The association failed or the PACS answered with a non-success status.
    CancelledError
        Cancelled before or while the association was set up, or while the C-ECHO
        waited for its response.
    """
    start = time.perf_counter()
    assoc = open_association(
        node, local, [build_context(VERIFICATION, list(UNCOMPRESSED_SYNTAXES))], cancel=cancel
    )
    opened = time.perf_counter()

    unregister = (cancel.on_cancel(lambda: abort_waiting(assoc)) if cancel is not None
                  else None)
    try:
        status = assoc.send_c_echo()
        done = time.perf_counter()
        if cancel is not None:
            cancel.raise_if_cancelled()  # the empty answer of an aborted association
        if "Status" not in status:
            note_lost(assoc)
            raise PeerError(node.name, "no answer to C-ECHO (the association was lost)")
        if status.Status != 0x0000:
            raise PeerError(node.name, f"C-ECHO answered with status 0x{status.Status:04X}")
    finally:
        if unregister is not None:
            unregister()
        end_association(assoc)
    return EchoResult(round_trip=done - opened, association=opened - start, tls=node.uses_tls)
