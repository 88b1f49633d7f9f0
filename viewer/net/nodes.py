"""PACS nodes the user configured, kept in ``nodes.toml`` in the Lightbox home.

Each node is one TOML table named after the node::

    [pacs]
    called_aet = "ORTHANC"
    host = "pacs.example.org"
    port = 4242
    calling_aet = ""          # empty: the local AE title from settings.toml
    sending_aet = ""          # the PACS's AE title when it sends to us; empty: called_aet
    method = "auto"           # get, move or auto
    tls_ca = ""               # CA bundle that signs the PACS certificate: enables TLS
    tls_cert = ""             # our client certificate and key, if the PACS asks for one
    tls_key = ""
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from viewer.core.errors import UsageError
from viewer.core.paths import keep_private, write_private
from viewer.core.settings import check_ae_title, is_host
from viewer.net.policy import DEFAULT_POLICY

NODES_FILE = "nodes.toml"
RETRIEVE_METHODS = ("get", "move", "auto")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The longest timeout taken, in seconds: a day. Beyond about 1e9 s the platform's timers
# overflow (an OverflowError deep in pynetdicom), and no DICOM exchange waits that long.
LONGEST_TIMEOUT = 86400.0
_ADDRESS = re.compile(r"^(?P<aet>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """One remote DICOM application entity (a PACS).

    Attributes
    ----------
    name : str
        What the user calls it (``lightbox echo NAME``).
    called_aet, host, port : str, str, int
        Where it listens (PS3.8 7.1.1.4 Called AE Title).
    calling_aet : str
        Our AE title towards this node; empty means the local AE title.
    sending_aet : str
        The AE title the PACS calls from when it sends to us (C-MOVE sub-operations, a
        push), where it is not ``called_aet``: many PACS store with an AE title of their
        own. Empty means ``called_aet``.
    method : str
        ``get``, ``move`` or ``auto`` (C-GET, falling back to C-MOVE).
    tls_ca, tls_cert, tls_key : str
        PEM files; a CA turns TLS on (PS3.15 B.9).
    tls_check_hostname : bool
        Check the host name against the peer certificate (on by default).
    connect_timeout, acse_timeout, dimse_timeout : float
        Seconds; see :class:`viewer.net.policy.AssociationPolicy`.
    """

    name: str
    called_aet: str
    host: str
    port: int
    calling_aet: str = ""
    sending_aet: str = ""
    method: str = "auto"
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    tls_check_hostname: bool = True
    connect_timeout: float = DEFAULT_POLICY.connect_timeout
    acse_timeout: float = DEFAULT_POLICY.acse_timeout
    dimse_timeout: float = DEFAULT_POLICY.dimse_timeout

    @property
    def uses_tls(self) -> bool:
        """TLS is on when a CA is configured to verify the peer."""
        return bool(self.tls_ca)

    @property
    def sending_titles(self) -> tuple[str, ...]:
        """The calling AE titles this node may send to our storage SCP with (PS3.8 7.1.1.3)."""
        titles = [self.called_aet.strip()]
        if self.sending_aet.strip() and self.sending_aet.strip() not in titles:
            titles.append(self.sending_aet.strip())
        return tuple(titles)

    @property
    def address(self) -> str:
        """``AET@host:port``, how the node is named in messages."""
        return f"{self.called_aet}@{self.host}:{self.port}"

    def validated(self) -> NodeRecord:
        """Return self after checking every field, or raise :class:`UsageError`."""
        if not _NAME.match(self.name):
            raise UsageError(f"node name {self.name!r}: use letters, digits, '.', '_' or '-'")
        check_ae_title(self.called_aet)
        for title in (self.calling_aet, self.sending_aet):
            if title:
                check_ae_title(title)
        if not self.host:
            raise UsageError(f"node {self.name}: host is empty")
        if not is_host(self.host):
            raise UsageError(f"node {self.name}: {self.host!r} is not a host name or an IP "
                             "address")
        if not 1 <= int(self.port) <= 65535:
            raise UsageError(f"node {self.name}: port {self.port} is not a TCP port")
        if self.method not in RETRIEVE_METHODS:
            raise UsageError(f"node {self.name}: method must be get, move or auto")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise UsageError(f"node {self.name}: a TLS client certificate needs its key")
        if self.tls_cert and not self.tls_ca:
            raise UsageError(f"node {self.name}: a TLS client certificate needs --tls-ca")
        for t in (self.connect_timeout, self.acse_timeout, self.dimse_timeout):
            # "not 0 < t" also refuses NaN, which every comparison fails.
            if not 0 < float(t) <= LONGEST_TIMEOUT:
                raise UsageError(f"node {self.name}: timeouts must be seconds above 0 and "
                                 f"at most {LONGEST_TIMEOUT:g} (not {t})")
        return self

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> NodeRecord:
        """Build from a TOML table, ignoring keys this release does not know."""
        known = {f.name for f in fields(cls)} - {"name"}
        return cls(name=name, **{k: v for k, v in data.items() if k in known}).validated()

    def to_mapping(self) -> dict[str, Any]:
        """Return the TOML table (without the name, which is the table's key)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}


def parse_address(text: str) -> tuple[str, str, int]:
    """Split ``AET@HOST:PORT`` (IPv6 hosts in brackets) into its parts."""
    m = _ADDRESS.match(text.strip())
    if not m:
        raise UsageError(f"{text!r} is not AET@HOST:PORT (e.g. ORTHANC@pacs.example.org:4242)")
    host = m.group("host").strip("[]")
    return m.group("aet"), host, int(m.group("port"))


class NodeBook:
    """The nodes of one Lightbox home: read, add, edit, remove, written back atomically.

    Parameters
    ----------
    home : Path
        The Lightbox home folder.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / NODES_FILE
        self._nodes: dict[str, NodeRecord] = {}
        if self.path.exists():
            keep_private(self.path)
            try:
                with self.path.open("rb") as f:
                    data = tomllib.load(f)
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"{self.path}: not valid TOML ({exc})") from None
            for name, table in data.items():
                if isinstance(table, dict):
                    self._nodes[name] = NodeRecord.from_mapping(name, table)

    def __iter__(self) -> Iterator[NodeRecord]:
        return iter(sorted(self._nodes.values(), key=lambda n: n.name.lower()))

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def get(self, name: str) -> NodeRecord:
        """Return the node called ``name``; raise UsageError naming the known nodes."""
        try:
            return self._nodes[name]
        except KeyError:
            known = ", ".join(sorted(self._nodes)) or "none yet (lightbox node add)"
            raise UsageError(f"no node called {name!r}; known nodes: {known}") from None

    def add(self, node: NodeRecord, *, replace_existing: bool = False) -> None:
        """Add ``node`` (or replace it when ``replace_existing``) and save."""
        node.validated()
        if node.name in self._nodes and not replace_existing:
            raise UsageError(f"a node called {node.name!r} exists; use node edit")
        self._nodes[node.name] = node
        self.save()

    def edit(self, name: str, **changes: Any) -> NodeRecord:
        """Change some fields of node ``name`` and save; return the new record."""
        node = replace(self.get(name), **changes).validated()
        self._nodes[name] = node
        self.save()
        return node

    def remove(self, name: str) -> None:
        """Remove node ``name`` and save."""
        self.get(name)
        del self._nodes[name]
        self.save()

    def save(self) -> None:
        """Write ``nodes.toml`` atomically, readable by its owner only."""
        text = tomli_w.dumps({n.name: n.to_mapping() for n in self})
        write_private(self.path, text.encode("utf-8"))
