"""User settings kept in ``settings.toml`` in the Lightbox home (plain records, no DICOM).

The file holds one table per area (``[network]`` ...). Each area is a frozen dataclass
with ``from_mapping``/``to_mapping`` so unknown keys from a newer release are kept and a
missing file means defaults.
"""

from __future__ import annotations

import difflib
import ipaddress
import logging
import re
import ssl
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from viewer.core.errors import UsageError
from viewer.core.paths import keep_private, write_private
from viewer.core.tls_files import load_ca_file, load_key_pair, tls_file_warnings

LOGGER = logging.getLogger(__name__)

_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")

SETTINGS_FILE = "settings.toml"
#: PS3.15 B.9 / IANA: the registered port of DICOM over TLS ("dicom-tls").
DICOM_TLS_PORT = 2762
_TLS_FILES = ("tls_cert", "tls_key", "tls_ca")
#: The bounds of ``max-pdu`` other than 0 (no maximum, PS3.8 D.1). A P-DATA-TF PDU carries
#: PDV items of a 4-byte length, a context ID and a control header each (PS3.8 9.3.5.1),
#: so a maximum must at least leave room for one of them and some data; below 4096 bytes
#: (what dcmtk takes as its smallest) every data set is cut into pieces that cost more
#: than they carry. 16 MiB is the longest PDU Lightbox's reader takes from any peer
#: (``viewer.net.fastpath.CONTROL_PDU_LIMIT``); above it, a peer could make an
#: association hold that much memory per PDU, for no speed: 4 MiB (the default) already
#: makes the per-PDU cost negligible (docs/networking.md).
SMALLEST_MAX_PDU = 4096
LARGEST_MAX_PDU = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """Lightbox's own DICOM application entity.

    Attributes
    ----------
    ae_title : str
        The calling AE title of our associations and the called AE title of our storage
        SCP (PS3.8 7.1.1.4: at most 16 characters of the default repertoire, no backslash).
    port : int
        TCP port of the storage SCP that receives C-MOVE sub-operations.
    bind_address : str
        Interface the storage SCP listens on; the PACS must reach it.
    always_listen : bool
        Keep the storage SCP running while Lightbox runs, not only during a C-MOVE.
    max_pdu : int
        Maximum PDU length we receive (PS3.8 D.1); large PDUs cut per-PDU overhead.
    tls_cert, tls_key : str
        Our storage SCP's server certificate and its key (PEM), for DICOM TLS
        (PS3.15 B.9); both or neither.
    tls_ca : str
        CA bundle (PEM) that signs the client certificates of the nodes that send to us
        over TLS; a peer without such a certificate is refused at the handshake.
    tls_port : int
        Port of the TLS storage SCP (PS3.15 registers 2762 for DICOM over TLS); 0 is off.
    """

    ae_title: str = "LIGHTBOX"
    port: int = 11113
    bind_address: str = "0.0.0.0"
    always_listen: bool = False
    max_pdu: int = 4 * 1024 * 1024
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""
    tls_port: int = DICOM_TLS_PORT

    @property
    def tls_configured(self) -> bool:
        """True when our storage SCP can serve TLS: certificate, key, CA and a port."""
        return bool(self.tls_cert and self.tls_key and self.tls_ca and self.tls_port)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, check: bool = True) -> NetworkSettings:
        """Build from a TOML table, ignoring keys this release does not know.

        Raises
        ------
        UsageError
            A value of the wrong type (``port = "abc"``: TOML keeps types) or an invalid
            one (:meth:`validated`, unless ``check`` is false), naming the key;
            :func:`load_network_settings` adds the file and the table.
        """
        defaults = {f.name: f.default for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name in defaults:
                values[name] = _typed(key, defaults[name], value)
        settings = cls(**values)
        return settings.validated() if check else settings

    def to_mapping(self) -> dict[str, Any]:
        """Return the TOML table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validated(self) -> NetworkSettings:
        """Return self after checking the values, or raise :class:`UsageError`."""
        try:
            check_ae_title(self.ae_title)
        except UsageError as exc:
            raise UsageError(f"ae-title: {exc}") from None
        if not 1 <= int(self.port) <= 65535:
            raise UsageError(f"port {self.port} is not a TCP port (1-65535)")
        if self.bind_address and not is_host(self.bind_address):  # empty: every interface
            # Taken as it was, it failed only when the SCP started, blamed on the port.
            raise UsageError(f"bind-address {self.bind_address!r} is not an IP address or "
                             "host name (0.0.0.0 listens on every interface)")
        if int(self.max_pdu) and not SMALLEST_MAX_PDU <= int(self.max_pdu) <= LARGEST_MAX_PDU:
            # Taken, max-pdu 1 made every association fail after half a minute, blamed
            # on a silent peer (Orthanc refuses a maximum below 13 at once).
            raise UsageError(f"max-pdu {self.max_pdu}: must be 0 (unlimited) or "
                             f"{SMALLEST_MAX_PDU} to {LARGEST_MAX_PDU} bytes")
        if not 0 <= int(self.tls_port) <= 65535:
            raise UsageError(f"tls-port {self.tls_port} is not a TCP port (1-65535, 0 = off)")
        if self.tls_cert and self.tls_port and int(self.tls_port) == int(self.port):
            raise UsageError(f"tls-port and port are both {self.port}: one port serves "
                             "either plain DICOM or DICOM TLS")
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "tls-key" if self.tls_cert else "tls-cert"
            raise UsageError(f"a TLS server certificate needs its key: set {missing} too "
                             "(lightbox config set tls-cert F tls-key F tls-ca F)")
        if self.tls_cert and not self.tls_ca:
            # PS3.15 B.9: the peer is authenticated too; without a CA nobody could be.
            raise UsageError("a TLS server certificate needs tls-ca, the CA that signs the "
                             "PACS client certificates (lightbox config set tls-ca F)")
        return self

    def checked_tls_files(self, ctx: ssl.SSLContext | None = None) -> NetworkSettings:
        """Return self after loading the TLS files, or raise :class:`UsageError` naming one.

        Kept apart from :meth:`validated` so that settings naming a file that has since
        moved still load (and can be changed); the files are checked when set and used.
        They are loaded into ``ctx`` when given (the SCP's own context), else into one
        made for the check.
        """
        for name in _TLS_FILES:
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise UsageError(f"{path}: no such file ({name.replace('_', '-')})")
        ctx = ctx or ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.tls_ca:
            # Loaded even before a certificate is set: "config set tls-ca /etc/hostname"
            # was taken, and failed only once tls-cert came.
            load_ca_file(ctx, self.tls_ca, "tls-ca")
        if self.tls_cert:
            load_key_pair(ctx, self.tls_cert, self.tls_key, "tls-cert", "tls-key")
        return self

    def warn_about_tls_files(self) -> None:
        """Log a WARNING for each TLS file that loads but is unwise (:func:`tls_file_warnings`)."""
        for text in tls_file_warnings(self.tls_cert, self.tls_key, self.tls_ca,
                                      ("tls-cert", "tls-key", "tls-ca")):
            LOGGER.warning("%s", text)

    def with_value(self, key: str, text: str) -> NetworkSettings:
        """Return a copy with ``key`` (``ae-title``, ``port`` ...) set from command-line text."""
        return self.with_values([(key, text)])

    def with_values(self, pairs: Sequence[tuple[str, str]]) -> NetworkSettings:
        """Return a copy with each ``(key, text)`` set, checked together at the end.

        TLS file names are made absolute; when any TLS file changes, the files are
        loaded (:meth:`checked_tls_files`), so a wrong file is named at once.
        """
        current = {f.name: f for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, text in pairs:
            name = key.replace("-", "_")
            if name not in current:
                raise UsageError(
                    f"unknown setting {key!r}; known: "
                    + ", ".join(n.replace("_", "-") for n in current)
                )
            changes[name] = _parse(key, getattr(self, name), text)
            if name in _TLS_FILES and text:
                changes[name] = str(Path(text).expanduser().resolve())
            elif name == "ae_title":
                # PS3.5 6.2: leading and trailing spaces of an AE are not significant;
                # kept, they showed in every message and log line.
                changes[name] = text.strip()
        result = replace(self, **changes).validated()
        if any(name in _TLS_FILES for name in changes):
            result.checked_tls_files()
        return result


def _typed(key: str, default: Any, value: Any) -> Any:
    """``value`` of ``key`` as read from TOML, if it has the type of the setting.

    A wrong type used to surface as a ValueError or AttributeError in :meth:`validated`,
    a traceback for every command. bool is refused where a number is due: Python counts
    it as an int.
    """
    # The key as the file spells it (max_pdu or max-pdu: both are read).
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"{key} {value!r} must be true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            what = ("a TCP port (1-65535)" if key.replace("-", "_") in ("port", "tls_port")
                    else "a number of bytes")
            raise UsageError(f"{key} {value!r} is not {what}")
    elif not isinstance(value, str):
        raise UsageError(f"{key} {value!r} must be text, in quotes")
    return value


def _parse(key: str, old: Any, text: str) -> Any:
    if isinstance(old, bool):
        if text.lower() not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
            raise UsageError(f"{key} takes true or false, not {text!r}")
        return text.lower() in {"true", "yes", "1", "on"}
    if isinstance(old, int):
        # ASCII digits only: int() takes fullwidth and other scripts' digits too.
        if not text.strip().isascii():
            raise UsageError(f"{key} takes a number, not {text!r}")
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{key} takes a number, not {text!r}") from None
    return text


def check_ae_title(title: str) -> str:
    """Return ``title`` if it is a valid AE title (PS3.5 6.2 AE), else raise UsageError."""
    # Quoted as typed: repr() doubled the backslash this refuses.
    if not title.strip() or len(title) > 16 or "\\" in title:
        raise UsageError(f"AE title '{title}' must be 1-16 characters without backslash")
    if not title.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in title):
        raise UsageError(f"AE title {title!r} must use printable ASCII only")
    return title


def read_settings(home: Path) -> dict[str, Any]:
    """Return the whole settings file as a mapping (empty when there is none).

    Raises
    ------
    UsageError
        The file cannot be read or is not TOML (the message names it).
    """
    path = home / SETTINGS_FILE
    if not path.exists():
        return {}
    return read_toml(path)


_BOM = b"\xef\xbb\xbf"


def read_toml(path: Path) -> dict[str, Any]:
    """Read a hand-editable TOML file of the home, made private to the user first.

    TOML is UTF-8 (TOML 1.0 "Spec"), but these files are edited by hand, on Windows too:
    Notepad's "UTF-8 with BOM" is read as the same text (the mark is no content), and a
    file saved in a legacy code page ("ANSI") is named with where it stops being UTF-8
    instead of ending the command with a traceback.

    Raises
    ------
    UsageError
        The file cannot be read, is not UTF-8 or is not TOML (the message names it).
    """
    try:
        keep_private(path)
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    data = data.removeprefix(_BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UsageError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}), as TOML "
            "must be; save it as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def write_settings(home: Path, data: Mapping[str, Any]) -> None:
    """Write the settings file atomically, readable only by its owner."""
    write_private(home / SETTINGS_FILE, tomli_w.dumps(dict(data)).encode("utf-8"))


def load_network_settings(home: Path) -> NetworkSettings:
    """Return the ``[network]`` settings (defaults where unset).

    Raises
    ------
    UsageError
        A hand-edited value is of the wrong type or invalid: the message names the file,
        the table and the key (``.../settings.toml: [network] port 'abc' is not a TCP
        port (1-65535)``).
    """
    path = home / SETTINGS_FILE
    table = _network_table(home)
    _warn_about_unknown(path, table)
    try:
        return NetworkSettings.from_mapping(table)
    except UsageError as exc:
        raise UsageError(f"{path}: [network] {exc}; {_REPAIR}") from None


# How to put right a bad value of the file; config set takes the value it replaces.
_REPAIR = "correct it with lightbox config set KEY VALUE, or edit the file"


def _network_table(home: Path) -> dict[str, Any]:
    table = read_settings(home).get("network", {})
    if not isinstance(table, dict):
        raise UsageError(f"{home / SETTINGS_FILE}: network = {table!r}: must be the table "
                         "[network]; edit the file")
    return table


def network_settings_with(home: Path, pairs: Sequence[tuple[str, str]]) -> NetworkSettings:
    """The ``[network]`` settings of ``home`` with ``pairs`` set, checked once they are set.

    ``config set port 11112`` must be able to put right ``port = 70000`` in the file:
    checked first, the file refused the very command that repairs it. A value of the file
    that is still invalid afterwards is named, with the file.

    Raises
    ------
    UsageError
        A pair is invalid, or a value the pairs leave alone is.
    """
    path = home / SETTINGS_FILE
    table = _network_table(home)
    _warn_about_unknown(path, table)
    setting = {key.replace("-", "_") for key, _ in pairs}
    kept = {key: value for key, value in table.items()
            if key.replace("-", "_") not in setting}
    try:
        base = NetworkSettings.from_mapping(kept, check=False)
    except UsageError as exc:  # a wrong type in a key the pairs leave alone
        raise UsageError(f"{path}: [network] {exc}; {_REPAIR} (in the same command)"
                         ) from None
    try:
        return base.with_values(pairs)
    except UsageError as exc:
        if _valid(lambda: NetworkSettings.from_mapping(table)) or not _valid(
                lambda: NetworkSettings().with_values(pairs)):
            raise  # the pairs themselves are wrong: the file was fine, or they fail alone
        raise UsageError(f"{path}: [network] {exc}; still wrong after this change: "
                         f"{_REPAIR} (in the same command)") from None


def _valid(build: Callable[[], object]) -> bool:
    try:
        build()
    except UsageError:
        return False
    return True


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``; did you mean calling_aet?`` when a known key is close to ``key``, else ``""``."""
    spelt = key.strip().lower().replace("-", "_")
    close = difflib.get_close_matches(spelt, sorted(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def _unknown_network_keys(table: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of a ``[network]`` table that no setting of this release reads."""
    known = {f.name for f in fields(NetworkSettings)}
    return {key: value for key, value in table.items()
            if key.replace("-", "_") not in known}


_WARNED_KEYS: set[tuple[Path, str]] = set()


def _warn_about_unknown(path: Path, table: Mapping[str, Any]) -> None:
    """Name each key no setting reads (a typing mistake, or a newer release's key)."""
    known = {f.name for f in fields(NetworkSettings)}
    for key in _unknown_network_keys(table):
        if (path, key) in _WARNED_KEYS:
            continue  # the file is read by every command and the GUI: once is enough
        _WARNED_KEYS.add((path, key))
        LOGGER.warning("%s: [network] unknown key %r%s; ignored (kept in the file)", path,
                       key, did_you_mean(key, known))


def save_network_settings(home: Path, settings: NetworkSettings) -> None:
    """Store the ``[network]`` settings, keeping every other table of the file.

    Keys of ``[network]`` that no setting reads are written back as they were: a
    misspelt one stays for the user to see and correct, not silently dropped.
    """
    data = read_settings(home)
    old = data.get("network")
    unknown = _unknown_network_keys(old) if isinstance(old, dict) else {}
    data["network"] = {**settings.to_mapping(), **unknown}
    write_settings(home, data)


def is_host(text: str) -> bool:
    """Whether ``text`` can name a host: an IP address (IPv6 with a zone too) or a host
    name (RFC 1123 letters, digits, dots and hyphens, and the underscores of Windows
    names)."""
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return bool(_HOST_NAME.match(text))
    return True
