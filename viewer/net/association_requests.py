"""A-ASSOCIATE-RQ PDUs decoded once per distinct request (PS3.8 9.3.2).

A PACS opens a new association for every C-MOVE it serves, and its requests are the same
bytes each time: the same AE titles, presentation contexts and user information. For
the hundred-odd contexts of a storage sub-association, pynetdicom's decoding builds some
six hundred items and took 4-10 ms of every association's set-up. The decoded PDU is only
read afterwards (the state machine turns it into a new A-ASSOCIATE primitive for each
association, PS3.8 9.2 AE-6), so one decoded PDU serves every association that sends
the same bytes.
"""

from __future__ import annotations

import functools

from pynetdicom.pdu import A_ASSOCIATE_RQ

# Distinct requests remembered: one per peer and kind of association, in practice.
REMEMBERED_REQUESTS = 16


@functools.lru_cache(maxsize=REMEMBERED_REQUESTS)
def decoded_request(raw: bytes) -> A_ASSOCIATE_RQ:
    """The A-ASSOCIATE-RQ PDU encoded as ``raw`` (PDU header included), decoded.

    Callers must not change the returned PDU: other associations share it.

    Raises
    ------
    Exception
        Whatever pynetdicom raises for a PDU it cannot decode (nothing is remembered).
    """
    pdu = A_ASSOCIATE_RQ()
    pdu.decode(raw)
    return pdu
