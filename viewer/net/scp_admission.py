"""What Lightbox's storage SCP admits, and the record of what it turned away.

The presentation contexts it offers: Verification and every storage SOP class pynetdicom
knows, in the SCP role (PS3.4 A.4, B.5), and, from a configured node, any other abstract
syntax taken as storage. The peers it admits: a configured node is known by its calling AE
title *and* the addresses its host resolves to, an IPv4-mapped IPv6 peer read as IPv4
(RFC 4291 2.5.5.2). What it refused: an association (PS3.8 9.3.4) or a presentation context
(PS3.8 9.3.3.2), kept for the log and for a C-MOVE's explanation.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import socket
from typing import NamedTuple

from pydicom.uid import UID
from pynetdicom import AllStoragePresentationContexts, sop_class
from pynetdicom.presentation import PresentationContext, build_context

from viewer.net.policy import UNCOMPRESSED_SYNTAXES, VERIFICATION

# The storage SCP's one log name, which users filter on, for every module of it.
LOGGER = logging.getLogger("viewer.net.scp")

# PS3.4 B.5: every storage SOP class pynetdicom knows, accepted in the SCP role.
SCP_STORAGE_CLASSES = tuple(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def storage_like(uid: str) -> bool:
    """Whether an abstract syntax not in :data:`SCP_STORAGE_CLASSES` is taken as storage:
    a private UID, or one pynetdicom knows as no other service (PS3.4 B.5)."""
    name = UID(uid)
    return name.is_private or not name.keyword or not hasattr(sop_class, name.keyword)


def node_addresses(host: str) -> set[str]:
    """The addresses ``host`` resolves to (none, the failure logged, if it does not)."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        LOGGER.warning("cannot resolve node host %s; it cannot send to us", host)
        return set()


def plain_address(address: str) -> str:
    """``address`` as a node's host resolves to: an IPv4-mapped IPv6 address as IPv4.

    A socket bound to ``::`` (all addresses) also takes IPv4 connections, and reports
    their peer as ``::ffff:a.b.c.d`` (RFC 4291 2.5.5.2, RFC 3493 3.7); a node
    configured as ``a.b.c.d`` is that same peer.
    """
    try:
        mapped = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        return str(mapped.ipv4_mapped)
    return address


@functools.lru_cache(maxsize=4)
def scp_contexts(syntaxes: tuple[str, ...]) -> tuple[PresentationContext, ...]:
    """Verification and every storage SOP class in the SCP role (PS3.4 A.4, B.5).

    Built once per process: building the 170-odd contexts, with pynetdicom checking
    every UID, took 50 ms at each start of a C-MOVE's SCP. pynetdicom copies them for
    each association it accepts, so sharing them is safe.
    """
    contexts = [build_context(VERIFICATION, list(UNCOMPRESSED_SYNTAXES))]
    contexts += [build_context(uid, list(syntaxes)) for uid in SCP_STORAGE_CLASSES]
    return tuple(contexts)


class RefusedContext(NamedTuple):
    """A presentation context our storage SCP refused (PS3.8 9.3.3.2): instances of that
    SOP class in those transfer syntaxes cannot come, unless the sender converts them.

    Attributes
    ----------
    calling : str
        The requestor's calling AE title.
    sop_class : str
        The abstract syntax proposed.
    transfer_syntaxes : tuple of str
        The transfer syntaxes proposed for it.
    result : int
        PS3.8 9.3.3.2: 3, abstract syntax not supported; 4, transfer syntaxes not
        supported.
    """

    calling: str
    sop_class: str
    transfer_syntaxes: tuple[str, ...]
    result: int


class Refusal(NamedTuple):
    """An association our storage SCP turned away, for the log and a C-MOVE's explanation.

    Attributes
    ----------
    calling, address : str
        The requestor's calling AE title and IP address.
    called : str
        The AE title it asked for (PS3.8 7.1.1.4).
    reason : str
        ``"node"`` (no configured node sends with that AE title from that address) or
        ``"called"`` (the called AE title is not ours).
    """

    calling: str
    address: str
    called: str
    reason: str

