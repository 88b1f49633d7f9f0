"""The DIMSE provider of Lightbox's associations, with C-STORE on a short path.

See :mod:`viewer.net.fastpath`, which installs it on every association Lightbox opens or
accepts, and reads P-DATA-TF PDUs into :meth:`QuickStoreDIMSE.receive_pdvs`.
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any, Protocol, cast

from pynetdicom import evt
from pynetdicom._handlers import (
    standard_dimse_recv_handler,
    standard_dimse_sent_handler,
    standard_pdu_recv_handler,
)
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from viewer.net.commands import (
    StoreRequest,
    c_store_request,
    command_fields,
    encode_c_store_rsp,
    is_pending_retrieve_response,
    p_data_pdu,
    pending_retrieve_response,
    store_request,
)

LOGGER = logging.getLogger(__name__)

# Pending C-GET/C-MOVE responses closer together than this (seconds) are coalesced.
_PENDING_INTERVAL = 0.02


class IncomingInstance(Protocol):
    """A data set being received into its file, fragment by fragment."""

    def write(self, fragment: memoryview) -> None:
        """Append one fragment of the data set (PS3.8 E.2: the value of a PDV)."""

    def finish(self) -> int:
        """The data set is complete: keep it; return the C-STORE status (PS3.4 B.2.3)."""

    def settle(self) -> None:
        """After the response has left: hand the file on (work that need not delay it)."""

    def abandon(self) -> None:
        """The association broke off mid data set: drop what arrived."""


class DirectReceiver(Protocol):
    """A C-STORE handler that also takes data sets fragment by fragment (the Receiver)."""

    def handle_store(self, event: Any) -> int:
        """The ``evt.EVT_C_STORE`` handler, for data sets that take pynetdicom's path."""

    def begin_instance(self, assoc: Any, request: StoreRequest, transfer_syntax: str
                       ) -> IncomingInstance:
        """Open the file of one C-STORE-RQ's data set."""


# pynetdicom's own logging handlers: skipping their events loses nothing unless its logger
# is on at DEBUG, where they would write the PDU and DIMSE summaries.
_STANDARD_HANDLERS = {standard_pdu_recv_handler, standard_dimse_recv_handler,
                      standard_dimse_sent_handler}


_PYNETDICOM_LOG = logging.getLogger("pynetdicom")


def observed(assoc: Any, *events: Any) -> bool:
    """Whether someone listens to these notification events (then no short cut is taken)."""
    debug = _PYNETDICOM_LOG.isEnabledFor(logging.DEBUG)
    for event in events:
        for handler, _args in assoc.get_handlers(event):
            if debug or handler not in _STANDARD_HANDLERS:
                return True
    return False


class QuickStoreDIMSE(DIMSEServiceProvider):
    """The DIMSE provider, with C-STORE requests and responses on a short path.

    pynetdicom turns every command set into a pydicom dataset and back; for the small,
    fixed C-STORE-RQ/RSP of each instance that is most of the network threads' work.
    When the association's C-STORE handler is a :class:`DirectReceiver`, a data set is
    written to its file fragment by fragment as the PDUs arrive, and the response is
    sent from the DUL thread: no copy of the data set, no hand-over between threads.
    Otherwise a request whose command set arrives in one fragment (as peers send it) is
    parsed directly and its data set collected as is; so are the pending C-GET/C-MOVE
    responses that come with every instance; responses without error details are
    encoded directly. Everything else takes pynetdicom's path.

    A C-GET or C-MOVE SCP sends a pending response per instance (PS3.4 C.4.2.1.4,
    C.4.3.1.4); they only carry progress, so those that follow one another within
    :data:`_PENDING_INTERVAL` reach the caller as the latest of them: the one held back is
    delivered when the connection goes quiet or before the next other message.
    """

    _quick: tuple[int, C_STORE, io.BytesIO] | None = None
    _direct: tuple[int, StoreRequest, IncomingInstance] | None = None
    _held: tuple[int, dict[int, bytes]] | None = None
    _last_pending = 0.0

    @property
    def receiving(self) -> bool:
        """Whether a data set is being written to its file (more of its PDVs to come)."""
        return self._direct is not None

    def receive_fragment(self, context_id: int, pdv: memoryview) -> bool:
        """A PDV (header + value) that continues the data set being written, on the DUL
        thread; False, having done nothing, if it is anything else."""
        direct = self._direct
        control = pdv[0]
        if direct is None or control & 0x01 or context_id != direct[0]:
            return False
        incoming = direct[2]
        incoming.write(pdv[1:])
        if control & 0x02:  # PS3.8 E.2: the last fragment of the data set
            self._direct = None
            try:
                self._respond(context_id, direct[1], incoming.finish())
            finally:
                # While the PACS reads the response and sends the next instance.
                incoming.settle()
        return True

    def receive_pdvs(self, pdvs: list[tuple[int, memoryview]]) -> None:
        """PDVs of one P-DATA-TF, on the DUL thread: each (context ID, header + value)."""
        for index, (context_id, pdv) in enumerate(pdvs):
            if self._direct is not None:
                if not self.receive_fragment(context_id, pdv):
                    LOGGER.error("C-STORE data set interrupted by another message")
                    self._direct[2].abandon()
                    self._direct = None
                    self.dul.event_queue.put("Evt19")  # PS3.8 9.2: invalid PDU received
                    return
                continue
            if self._quick is None and self.message is None and pdv[0] & 0x03 == 0x03:
                # PS3.8 E.2: a whole command set. Its fields are read once, here.
                fields = command_fields(pdv[1:])
                if fields and index + 1 == len(pdvs) and is_pending_retrieve_response(fields):
                    self._deliver_pending(context_id, fields)
                    continue
                if fields and self._begin_direct(context_id, fields):
                    continue
            rest = P_DATA()
            rest.presentation_data_value_list.extend((cx, bytes(v)) for cx, v in pdvs[index:])
            self.receive_primitive(rest)
            return

    def _begin_direct(self, context_id: int, fields: dict[int, bytes]) -> bool:
        request = store_request(fields)
        if request is None:
            return False
        assoc = self.dul.assoc
        context = assoc._accepted_cx.get(context_id)
        if (context is None or str(context.abstract_syntax) != request.sop_class_uid
                or not context.as_scp):
            return False  # pynetdicom answers with the right refusal
        handler, _args = assoc.get_handlers(evt.EVT_C_STORE)
        owner: Any = getattr(handler, "__self__", None)
        # Duck-typed: a runtime Protocol check per instance costs more than this method.
        if (not hasattr(owner, "begin_instance") or handler != owner.handle_store
                or observed(assoc, evt.EVT_DIMSE_RECV, evt.EVT_DIMSE_SENT)):
            return False
        receiver = cast(DirectReceiver, owner)
        syntax = str(context.transfer_syntax[0])
        self._direct = (context_id, request, receiver.begin_instance(assoc, request, syntax))
        return True

    def _respond(self, context_id: int, request: StoreRequest, status: int) -> None:
        """Send the C-STORE-RSP from the DUL thread (PS3.7 9.3.1.2)."""
        command = encode_c_store_rsp(request.message_id, request.sop_class_uid,
                                     request.sop_instance_uid, status)
        cast(AssociationSocket, self.dul.socket).send(p_data_pdu(context_id, 0x03, command))

    def _deliver_pending(self, context_id: int, fields: dict[int, bytes]) -> None:
        # Only the command fields are kept while held: the primitive, with pynetdicom's
        # checks of every value, is built for the responses that are delivered.
        now = time.monotonic()
        if now - self._last_pending < _PENDING_INTERVAL:
            self._held = (context_id, fields)
            return
        self._held = None
        self._put_pending(context_id, fields, now)

    def _put_pending(self, context_id: int, fields: dict[int, bytes], now: float) -> None:
        self._last_pending = now
        pending = pending_retrieve_response(fields)
        if pending is not None:
            pending._context_id = context_id
            self.msg_queue.put((context_id, pending))

    def flush_held(self) -> None:
        """Deliver the pending response held back, if any (on the DUL thread)."""
        held, self._held = self._held, None
        if held is not None:
            self._put_pending(held[0], held[1], time.monotonic())

    def abandon(self) -> None:
        """Drop a data set cut off by the end of the association."""
        if self._direct is not None:
            self._direct[2].abandon()
            self._direct = None

    def receive_primitive(self, primitive: Any) -> None:
        pdvs = list(primitive.presentation_data_value_list)
        req: C_STORE | None = None
        if self._quick is None and self.message is None and pdvs:
            context_id, first = pdvs[0]
            if first[0] & 0x03 == 0x03:  # PS3.8 E.2: a command, last fragment
                fields = command_fields(memoryview(first)[1:])
                if fields and len(pdvs) == 1 and is_pending_retrieve_response(fields):
                    self._deliver_pending(context_id, fields)
                    return
                req = c_store_request(fields) if fields else None
        self.flush_held()  # a later message never overtakes a held response
        if req is not None:
            self._quick = (pdvs[0][0], req, io.BytesIO())
            pdvs = pdvs[1:]
            if not pdvs:
                return
        if self._quick is None:
            super().receive_primitive(primitive)
            return
        context_id, req, data = self._quick
        for index, (cx, fragment) in enumerate(pdvs):
            if fragment[0] & 0x01 or cx != context_id:
                # A command before the data set ended: not for the short path.
                LOGGER.error("C-STORE data set interrupted by another message")
                self._quick = None
                self.dul.event_queue.put("Evt19")  # PS3.8 9.2: invalid PDU received
                return
            data.write(memoryview(fragment)[1:])
            if fragment[0] & 0x02:  # the last fragment of the data set
                req.DataSet = data
                req._context_id = context_id
                self._quick = None
                self.msg_queue.put((context_id, req))
                if index + 1 < len(pdvs):  # the next message began in the same PDU
                    rest = P_DATA()
                    rest.presentation_data_value_list.extend(pdvs[index + 1:])
                    self.receive_primitive(rest)
                return

    def send_msg(self, primitive: Any, context_id: int) -> None:
        if (
            type(primitive) is C_STORE
            and primitive.MessageIDBeingRespondedTo is not None
            and isinstance(primitive.Status, int)
            and primitive.ErrorComment is None
            and primitive.OffendingElement is None
            and primitive.AffectedSOPClassUID
            and primitive.AffectedSOPInstanceUID
        ):
            pdata = P_DATA()
            command = encode_c_store_rsp(
                int(primitive.MessageIDBeingRespondedTo), str(primitive.AffectedSOPClassUID),
                str(primitive.AffectedSOPInstanceUID), int(primitive.Status))
            # PS3.8 E.2: message control header 0x03 = command, last fragment.
            pdata.presentation_data_value_list.append((context_id, b"\x03" + command))
            self.dul.send_pdu(pdata)
            return
        super().send_msg(primitive, context_id)
