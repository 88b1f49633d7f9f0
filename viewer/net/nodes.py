"""PACS nodes the user configured, kept in ``nodes.toml`` in the Lightbox home.

Each node is one TOML table named after the node::

    [pacs]
    called_aet = "ORTHANC"
    host = "pacs.example.org"
    port = 4242
    calling_aet = ""          # empty: the local AE title from settings.toml
    sending_aet = ""          # the PACS's AE title when it sends to us; empty: called_aet
    method = "auto"           # get, move or auto (any case)
    tls_ca = ""               # CA bundle that signs the PACS certificate: enables TLS
    tls_cert = ""             # our client certificate and key, if the PACS asks for one
    tls_key = ""
    timeout = 20              # optional: seconds for any answer (connect, association,
                              # each message) where the three below are not given
    connect_timeout = 20      # or each on its own (defaults 10, 30 and 120 s)
    acse_timeout = 20
    dimse_timeout = 20

A key may be spelt with ``-`` (``calling-aet``), as in ``settings.toml``. A key this
release does not know, or a key outside any node table, is not ignored: a misspelt
``calling_aet`` would otherwise make the node call with the wrong AE title without a word.
Such a table is set aside as invalid like a bad value, and, like it, written back as it
was read when the file is saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from viewer.core.errors import UsageError
from viewer.core.paths import write_private
from viewer.core.settings import check_ae_title, did_you_mean, is_host, read_toml
from viewer.net.policy import DEFAULT_POLICY

NODES_FILE = "nodes.toml"
RETRIEVE_METHODS = ("get", "move", "auto")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The longest timeout taken, in seconds: a day. Beyond about 1e9 s the platform's timers
# overflow (an OverflowError deep in pynetdicom), and no DICOM exchange waits that long.
LONGEST_TIMEOUT = 86400.0
_ADDRESS = re.compile(r"(?P<aet>[^@]{1,16})@(?P<host>\[[^\]]+\]|[^:]+):(?P<port>[0-9]{1,5})")


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
    timeout : float
        ``--timeout``: the seconds each of the three timeouts below takes where it is not
        given on its own; 0 (unset) leaves them at their defaults.
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
    timeout: float = 0.0

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
        """``AET@HOST:PORT``, how the node is named in messages (:func:`format_address`)."""
        return format_address(self.called_aet, self.host, self.port)

    def separate_timeouts(self) -> tuple[str, ...]:
        """The timeouts set on their own: not what :attr:`timeout` gives them.

        Without a :attr:`timeout` none is: files written before it held all three, so a
        value there cannot tell a hand edit from one Lightbox wrote.
        """
        if not self.timeout:
            return ()
        return tuple(k for k in _TIMEOUTS if float(getattr(self, k)) != float(self.timeout))

    def with_timeout(self, seconds: float) -> NodeRecord:
        """A copy waiting at most ``seconds`` for any answer of the peer.

        The TCP connect, the association (A-ASSOCIATE-AC/RJ, PS3.8 9.1.1) and each DIMSE
        response all take ``seconds``, except a timeout set on its own
        (:meth:`separate_timeouts`): a per-kind value in ``nodes.toml`` wins.
        """
        keep = self.separate_timeouts()
        seconds = float(seconds)
        if not 0 < seconds <= LONGEST_TIMEOUT:
            # Checked here: 0 stands for "unset" in the record, and the timeouts it sets
            # would be named instead of the one the user gave.
            raise UsageError(f"node '{self.name}': timeout: timeouts must be seconds above 0 "
                             f"and at most {LONGEST_TIMEOUT:g} (not {seconds:g})")
        timeouts: dict[str, Any] = {k: seconds for k in _TIMEOUTS if k not in keep}
        return replace(self, timeout=seconds, **timeouts)

    def validated(self) -> NodeRecord:
        """Return self after checking every field, or raise :class:`UsageError`.

        The message names the node and the key (``node 'pacs': port 0 is not a TCP
        port (1-65535)``), so that one read from ``nodes.toml`` can be found there.
        """
        if not _NAME.match(self.name):
            raise UsageError(f"node name {self.name!r}: use letters, digits, '.', '_' or '-'")
        node = f"node {self.name!r}"
        for key in ("called_aet", "calling_aet", "sending_aet"):
            title = getattr(self, key)
            if title or key == "called_aet":
                try:
                    check_ae_title(title)
                except UsageError as exc:
                    raise UsageError(f"{node}: {key}: {exc}") from None
        if not self.host:
            raise UsageError(f"{node}: host is empty")
        if not is_host(self.host):
            raise UsageError(f"{node}: host {self.host!r} is not a host name or an IP "
                             "address")
        if not 1 <= int(self.port) <= 65535:
            raise UsageError(f"{node}: port {self.port} is not a TCP port (1-65535)")
        if self.method not in RETRIEVE_METHODS:
            raise UsageError(f"{node}: method {self.method!r} must be get, move or auto")
        if self.tls_cert and not self.tls_key:
            raise UsageError(f"{node}: a TLS client certificate needs its key (--tls-key)")
        if self.tls_key and not self.tls_cert:
            raise UsageError(f"{node}: a TLS client key needs its certificate (--tls-cert)")
        if self.tls_cert and not self.tls_ca:
            raise UsageError(f"{node}: a TLS client certificate needs --tls-ca")
        for key in ("timeout", *_TIMEOUTS):
            t = getattr(self, key)
            if key == "timeout" and t == 0:  # unset
                continue
            # "not 0 < t" also refuses NaN, which every comparison fails.
            if not 0 < float(t) <= LONGEST_TIMEOUT:
                raise UsageError(f"{node}: {key}: timeouts must be seconds above 0 and "
                                 f"at most {LONGEST_TIMEOUT:g} (not {t})")
        return self

    @classmethod
    def from_mapping(cls, name: str, data: Mapping[str, Any]) -> NodeRecord:
        """Build from a TOML table; a key may be spelt with ``-`` (``calling-aet``).

        A timeout the table does not give takes ``timeout`` when there is one.

        Raises
        ------
        UnknownNodeKeyError
            A key this release does not know (``called_AET``), naming the closest known
            one; a file edit puts it right, not ``node edit``.
        UsageError
            A key is missing or of the wrong type (``port = "abc"``), or a value is
            invalid (:meth:`validated`); the message names the node and the key, not
            the file (:class:`NodeBook` adds it).
        """
        node = f"node {name!r}"
        known = {f.name for f in fields(cls)} - {"name"}
        table: dict[str, Any] = {}
        for key, value in data.items():
            field_name = key.replace("-", "_")
            if field_name not in known:
                hint = did_you_mean(key, known)
                raise UnknownNodeKeyError(f"{node}: unknown key {key!r}{hint}")
            if field_name in table:
                raise UsageError(f"{node}: {field_name} is given twice (with '_' and "
                                 "with '-')")
            table[field_name] = value
        for key in _REQUIRED:
            if key not in table:
                raise UsageError(f"{node}: {key} is missing ({_REQUIRED[key]})")
        values = {key: _typed(node, key, value) for key, value in table.items()}
        if values.get("timeout"):
            values = {**{k: values["timeout"] for k in _TIMEOUTS}, **values}
        return cls(name=name, **values).validated()

    def to_mapping(self) -> dict[str, Any]:
        """Return the TOML table (without the name, which is the table's key).

        ``timeout`` is left out when unset, as files without it were written.
        """
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "name" and (f.name != "timeout" or self.timeout)}


# The keys of a node table: a top-level key among them is a node missing its [NAME] line.
_NODE_KEYS = frozenset(f.name for f in fields(NodeRecord)) - {"name"}


class UnknownNodeKeyError(UsageError):
    """A table of ``nodes.toml`` holds a key that no node has (a typing mistake)."""


# The keys a table must have, and what each one is, for the message when one is missing.
_REQUIRED = {"called_aet": "the PACS's AE title, in quotes", "host": "its host name or "
             "IP address, in quotes", "port": "its TCP port, 1-65535"}
_TIMEOUTS = ("connect_timeout", "acse_timeout", "dimse_timeout")


def _typed(node: str, key: str, value: Any) -> Any:
    """``value`` of ``key`` as read from TOML, if it has the type of the field.

    TOML keeps types (``port = "104"`` is text): a wrong one used to surface as a
    TypeError or ValueError deep in :meth:`NodeRecord.validated`, a traceback for every
    command. bool is refused where a number is due: Python counts it as an int.
    """
    if key == "port":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UsageError(f"{node}: port {value!r} is not a TCP port (1-65535)")
        return value
    if key in ("timeout", *_TIMEOUTS):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{node}: {key} {value!r} is not a number of seconds")
        return float(value)
    if key == "tls_check_hostname":
        if not isinstance(value, bool):
            raise UsageError(f"{node}: {key} {value!r} must be true or false")
        return value
    if not isinstance(value, str):
        raise UsageError(f"{node}: {key} {value!r} must be text, in quotes")
    if key == "method":  # "GET" as the DICOM services are written
        return value.strip().lower()
    return value


def format_address(aet: str, host: str, port: int | str) -> str:
    """``AET@HOST:PORT`` as :func:`parse_address` reads it back: an IPv6 host in brackets.

    ``ORTH@::1:104`` cannot be split again (which colon ends the host?); RFC 3986 3.2.2
    writes an IPv6 literal in a host:port pair as ``[::1]:104``. Every message, listing
    and hint that shows a node's address goes through here.
    """
    return f"{aet}@{host_port(host, port)}"


def host_port(host: str, port: int | str) -> str:
    """``HOST:PORT``, an IPv6 host in brackets (RFC 3986 3.2.2): ``[::1]:104``."""
    # A host name or IPv4 address never holds a colon; an IPv6 address always does.
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, str, int]:
    """Split ``AET@HOST:PORT`` (IPv6 hosts in brackets) into its parts."""
    m = _ADDRESS.fullmatch(text.strip())
    if not m:
        raise UsageError(f"{text!r} is not AET@HOST:PORT (e.g. ORTHANC@pacs.example.org:4242)"
                         + _address_hint(text.strip()))
    host = m.group("host").strip("[]")
    # PS3.5 6.2: an AE's leading and trailing spaces are not significant.
    return m.group("aet").strip(), host, int(m.group("port"))


def _address_hint(text: str) -> str:
    """Which part of an address :data:`_ADDRESS` refused is wrong, as ``: ...``, or ""."""
    aet, at, rest = text.rpartition("@")
    if not at:
        return ""
    host, colon, port = rest.rpartition(":")
    if len(aet) > 16:
        return f": the AE title {aet!r} is longer than 16 characters (PS3.5 6.2)"
    if host.count(":") and not host.startswith("["):
        return f": write an IPv6 address in brackets, {aet}@[{host}]:{port}"
    if colon and host and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f": the port {port!r} is not a TCP port (1-65535)"
    return ""


@dataclass(frozen=True, slots=True)
class InvalidNode:
    """A table of ``nodes.toml`` that does not make a usable node (hand-edited).

    It is kept as it is, written back unchanged when the file is saved, listed with its
    reason, and can be edited into a valid node or removed; the other nodes stay usable.

    Attributes
    ----------
    name : str
        The table's name.
    table : Mapping[str, Any]
        The table as read.
    reason : str
        What is wrong, naming the node and the key (``node 'bad': port 'abc' is not a
        TCP port (1-65535)``).
    unknown_key : bool
        The table holds a key no node has: an edit of the file puts it right, not
        ``node edit``, which keeps the table's keys.
    """

    name: str
    table: Mapping[str, Any]
    reason: str
    unknown_key: bool = False

    @property
    def address(self) -> str:
        """``AET@HOST:PORT`` from whatever the table holds, ``?`` where it holds nothing."""
        aet, host, port = (self.table.get(k, "?") for k in ("called_aet", "host", "port"))
        return format_address(str(aet), str(host), str(port))


class NodeBook:
    """The nodes of one Lightbox home: read, add, edit, remove, written back atomically.

    A table that does not make a valid node (a hand edit: ``port = "abc"``, a missing
    key, ``port = 0``) does not stop the others from loading: it is set aside in
    :attr:`invalid`, and :meth:`get` names the file, the node and the key when it is
    asked for. So is a table holding a key no node has (``calling-aet`` is read as
    ``calling_aet``; ``called_AET`` is not). A top-level entry that is no table (a node's
    keys written without their ``[NAME]`` line) is kept in :attr:`stray`. Both are
    written back unchanged by :meth:`save`: a ``node add`` must not delete what the user
    wrote and Lightbox did not understand.

    Parameters
    ----------
    home : Path
        The Lightbox home folder.

    Every change reads the file again first: another program (``lightbox node add`` in a
    shell, a hand edit) may have changed it since, and a save from what was read before
    would delete its nodes.

    Parameters
    ----------
    home : Path
        The Lightbox home folder.
    unreadable_ok : bool
        Whether a file that cannot be read or is not TOML gives an empty book that says so
        in :attr:`unreadable` and refuses every change (the workstation starts on a typo),
        rather than raising.

    Raises
    ------
    UsageError
        ``nodes.toml`` cannot be read or is not TOML at all (unless ``unreadable_ok``).
    """

    def __init__(self, home: Path, *, unreadable_ok: bool = False) -> None:
        self.path = home / NODES_FILE
        self._unreadable_ok = unreadable_ok
        self.unreadable: str | None = None
        self._nodes: dict[str, NodeRecord] = {}
        self._invalid: dict[str, InvalidNode] = {}
        # Top-level entries that are no table: kept as read, for a save not to drop them.
        self._stray: dict[str, Any] = {}
        self.reload()

    def reload(self) -> None:
        """Read ``nodes.toml`` again (see :attr:`unreadable`)."""
        self._nodes, self._invalid, self._stray = {}, {}, {}
        self.unreadable = None
        if not self.path.exists():
            return
        try:
            data = read_toml(self.path)
        except UsageError as exc:
            if not self._unreadable_ok:
                raise
            self.unreadable = (f"{exc}; correct the file (nodes cannot be changed here "
                               "until then)")
            return
        for name, table in data.items():
            if isinstance(table, dict):
                self._load(name, table)
            else:
                self._stray[name] = table

    def _fresh(self) -> None:
        """Read the file again before a change; refuse it while the file is unreadable."""
        self.reload()
        if self.unreadable is not None:
            raise UsageError(self.unreadable)

    def _load(self, name: str, table: dict[str, Any]) -> None:
        try:
            self._nodes[name] = NodeRecord.from_mapping(name, table)
        except UnknownNodeKeyError as exc:
            self._invalid[name] = InvalidNode(name, table, str(exc), unknown_key=True)
        except UsageError as exc:
            self._invalid[name] = InvalidNode(name, table, str(exc))

    @property
    def stray(self) -> list[str]:
        """The top-level keys of ``nodes.toml`` that are not a node table, as written."""
        return list(self._stray)

    def stray_problem(self, key: str | None = None) -> str:
        """What is wrong with the :attr:`stray` entries (or just ``key``), naming the file."""
        keys = [key] if key is not None else list(self._stray)
        node_keys = [k for k in keys if k.replace("-", "_") in _NODE_KEYS]
        why = ("a node's keys need a [NAME] line above them (e.g. [pacs])" if node_keys
               else "every entry must be a node table, [NAME]")
        return (f"{self.path}: {', '.join(keys)} {'is' if len(keys) == 1 else 'are'} outside "
                f"any node table and ignored: {why}; edit the file (kept as written until "
                "then)")

    def __iter__(self) -> Iterator[NodeRecord]:
        """The valid nodes, by name; see :attr:`invalid` for the others."""
        return iter(sorted(self._nodes.values(), key=lambda n: n.name.lower()))

    def __len__(self) -> int:
        return len(self._nodes)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes or name in self._invalid

    @property
    def invalid(self) -> list[InvalidNode]:
        """The tables of ``nodes.toml`` that are not usable nodes, by name."""
        return sorted(self._invalid.values(), key=lambda n: n.name.lower())

    def problem(self, node: InvalidNode) -> str:
        """What is wrong with ``node``, naming the file, and how to put it right."""
        if node.unknown_key:
            return (f"{self.path}: {node.reason}; correct the key in the file or remove the "
                    f"node with lightbox node remove {node.name}")
        return (f"{self.path}: {node.reason}; correct it (Edit... in the Query/Retrieve "
                f"tab, or lightbox node edit {node.name} --address AET@HOST:PORT) or remove "
                f"it (Remove, or lightbox node remove {node.name})")

    def _known_as(self, name: str) -> str:
        """The name a node is kept under, for ``name`` written in any case: ``--node
        pacs`` finds the node called PACS (a PACS administrator's names are told apart
        by their letters, not by their case; :meth:`add` refuses a second PACS)."""
        if name in self._nodes or name in self._invalid:
            return name
        matches = [known for known in (*self._nodes, *self._invalid)
                   if known.casefold() == name.casefold()]
        return matches[0] if len(matches) == 1 else name

    def get(self, name: str) -> NodeRecord:
        """Return the node called ``name`` (in any case: :meth:`_known_as`).

        Raises
        ------
        UsageError
            No such node (the known ones are named), or its table in ``nodes.toml`` is
            not a valid node (the file, the node and the key are named).
        """
        name = self._known_as(name)
        if name in self._invalid:
            raise UsageError(self.problem(self._invalid[name]))
        try:
            return self._nodes[name]
        except KeyError:
            known = ", ".join(sorted(self._nodes)) or "none yet (lightbox node add)"
            stray = f"; {self.stray_problem()}" if self._stray else ""
            raise UsageError(f"no node called {name!r}; known nodes: {known}{stray}"
                             ) from None

    def add(self, node: NodeRecord, *, replace_existing: bool = False) -> None:
        """Add ``node`` (or replace it when ``replace_existing``) and save."""
        node.validated()
        self._fresh()
        if node.name in self and not replace_existing:
            raise UsageError(f"a node called {node.name!r} exists; use node edit")
        known = self._known_as(node.name)
        if known != node.name:
            raise UsageError(f"a node called {known!r} exists, and names that differ only "
                             f"in case would be taken for one another; use node edit "
                             f"{known}, or another name")
        if node.name in self._stray:
            raise UsageError(f"{self.stray_problem()}; a node called {node.name!r} would "
                             "replace its entry")
        self._invalid.pop(node.name, None)
        self._nodes[node.name] = node
        self.save()

    def edit(self, name: str, check: Callable[[NodeRecord], object] | None = None,
             timeout: float | None = None, **changes: Any) -> NodeRecord:
        """Change some fields of node ``name`` and save; return the new record.

        An invalid node (:attr:`invalid`) is edited from its table as read, so that
        ``--address`` can put right a port the file got wrong. ``timeout`` sets every
        timeout not set on its own (:meth:`NodeRecord.with_timeout`). ``check``, if
        given, is called with the new record before anything is saved (it raises to
        refuse it).
        """
        self._fresh()
        name = self._known_as(name)
        bad = self._invalid.get(name)
        if bad is None:
            node = replace(self.get(name), **changes)
        else:
            try:
                # The table's own "calling-aet" is the changed "calling_aet", not a twin.
                table = {key.replace("-", "_"): v for key, v in bad.table.items()}
                node = NodeRecord.from_mapping(name, {**table, **changes})
            except UsageError as exc:
                raise UsageError(f"{self.path}: {exc}") from None
        if timeout is not None:
            node = node.with_timeout(timeout)
        node = node.validated()
        if check is not None:
            check(node)
        self._invalid.pop(name, None)
        self._nodes[name] = node
        self.save()
        return node

    def remove(self, name: str) -> None:
        """Remove node ``name``, valid or not, and save."""
        self._fresh()
        name = self._known_as(name)
        if self._invalid.pop(name, None) is None:
            self.get(name)
            del self._nodes[name]
        self.save()

    def save(self) -> None:
        """Write ``nodes.toml`` atomically, readable by its owner only.

        Invalid tables and :attr:`stray` entries are written back as they were read:
        saving another node must not drop what the user has yet to correct.
        """
        tables: dict[str, Any] = {n.name: n.to_mapping() for n in self}
        tables.update((n.name, n.table) for n in self.invalid)
        tables.update(self._stray)  # no table shares a name with one: TOML keys are unique
        text = tomli_w.dumps(dict(sorted(tables.items(), key=lambda t: t[0].lower())))
        if self.unreadable is not None:
            raise UsageError(self.unreadable)
        try:
            write_private(self.path, text.encode("utf-8"))
        except OSError as exc:
            # A read-only home or file, a full disk: said where the change is asked for.
            raise UsageError(f"{self.path}: cannot be written ({exc.strerror or exc}); "
                             "the node list is unchanged") from None
