"""What Lightbox's storage SCP admits, and the record of what it turned away.

The presentation contexts it offers: Verification and every storage SOP class pynetdicom
knows, in the SCP role (PS3.4 A.4, B.5), and, from a configured node, any other abstract
syntax taken as storage. The peers it admits: a configured node is known by its calling AE
title *and* the addresses its host resolves to, an IPv4-mapped IPv6 peer read as IPv4
(RFC 4291 2.5.5.2), each port admitting its own nodes (:class:`Admission`: a node that uses
DICOM TLS only on the TLS port, PS3.15 B.9). What it refused: an association (PS3.8 9.3.4) or a
presentation context (PS3.8 9.3.3.2), kept for the log and for a C-MOVE's explanation.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from pydicom.uid import UID
from pynetdicom import AllStoragePresentationContexts, sop_class
from pynetdicom.presentation import PresentationContext, build_context

from viewer.net.nodes import NodeRecord
from viewer.net.policy import UNCOMPRESSED_SYNTAXES, VERIFICATION

# The storage SCP's one log name, which users filter on, for every module of it.
LOGGER = logging.getLogger("viewer.net.scp")

# PS3.4 B.5: every storage SOP class pynetdicom knows, accepted in the SCP role.
SCP_STORAGE_CLASSES = tuple(str(cx.abstract_syntax) for cx in AllStoragePresentationContexts)


def storage_like(uid: str) -> bool:
    """Whether an abstract syntax not in :data:`SCP_STORAGE_CLASSES` is taken as storage:
    a private UID, one newer than the UID dictionary (PS3.6 Table A-1), or a Storage SOP
    Class it names (PS3.4 B.5). A known class of another service (Modality Worklist
    FIND, Storage Commitment, MPPS, Print, ...) is refused at association, not accepted
    and failed when its request comes."""
    name = UID(uid)
    if name.is_private or not name.keyword:
        return True
    return (name.type == "SOP Class" and "Storage" in name.name
            and "Storage Commitment" not in name.name)


def class_name(uid: str) -> str:
    """The name of a SOP class newer than pydicom's UID dictionary that pynetdicom knows
    (``LabelMapSegmentationStorage`` -> "Label Map Segmentation Storage"), else ""."""
    for keyword in dir(sop_class):
        if getattr(sop_class, keyword, None) == uid and keyword[:1].isupper():
            return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", keyword)
    return ""


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


@dataclass(frozen=True, slots=True)
class Admission:
    """Who one port of the storage SCP admits: built when the node list is set.

    Every host is resolved then, not per connection: the checks below are set look-ups,
    made for each connection accepted (:attr:`addresses`) and each association
    (:attr:`pairs`), hundreds of them in a C-MOVE.

    Attributes
    ----------
    pairs : frozenset of (str, str)
        The (calling AE title, address) pairs admitted on this port.
    tls_only : mapping of (str, str) to str
        On the plain port, the pairs of nodes that use DICOM TLS, to the node's name:
        refused there (PS3.15 B.9: such a node reaches us over TLS only), with a log
        line that says so. Empty on the TLS port.
    addresses : frozenset of str
        The address of every configured node, whichever port it uses: a connection from
        any other address is no node's (:meth:`from_a_node`).
    """

    pairs: frozenset[tuple[str, str]] = frozenset()
    tls_only: Mapping[tuple[str, str], str] = field(default_factory=dict)
    addresses: frozenset[str] = frozenset()

    def from_a_node(self, address: str) -> bool:
        """Whether a connection from ``address`` may come from a configured node.

        The address as the socket gives it is tried first: only an IPv4-mapped IPv6
        peer (a dual-stack socket) needs :func:`plain_address`'s parsing.
        """
        return address in self.addresses or plain_address(address) in self.addresses


def admissions(nodes: Iterable[NodeRecord]) -> tuple[Admission, Admission]:
    """What the plain port and the TLS port admit of ``nodes``: ``(plain, tls)``.

    The TLS port admits every node (its client certificate is checked in the
    handshake); the plain port only the nodes that do not use TLS, so that a node's
    TLS (PS3.15 B.9) cannot be bypassed by calling the plain port with its AE title
    from its address. Each host is resolved once (:func:`node_addresses`).
    """
    plain: set[tuple[str, str]] = set()
    tls: dict[tuple[str, str], str] = {}
    addresses: set[str] = set()
    for node in nodes:
        resolved = node_addresses(node.host)
        addresses |= resolved
        pairs = {(title, addr) for addr in resolved for title in node.sending_titles}
        if node.uses_tls:
            tls.update(dict.fromkeys(pairs, node.name))
        else:
            plain |= pairs
    # A pair that a plain node has too (same AE title and address) stays admitted there.
    tls_only = {pair: name for pair, name in tls.items() if pair not in plain}
    known = frozenset(addresses)
    return (Admission(frozenset(plain), tls_only, known),
            Admission(frozenset(plain | tls.keys()), {}, known))


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
        ``"node"`` (no configured node sends with that AE title from that address),
        ``"tls"`` (the node uses DICOM TLS and called the plain port, PS3.15 B.9) or
        ``"called"`` (the called AE title is not ours).
    """

    calling: str
    address: str
    called: str
    reason: str

