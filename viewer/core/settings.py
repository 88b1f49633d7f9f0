"""User settings kept in ``settings.toml`` in the Lightbox home (plain records, no DICOM).

The file holds one table per area (``[network]`` ...). Each area is a frozen dataclass
with ``from_mapping``/``to_mapping`` so unknown keys from a newer release are kept and a
missing file means defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from viewer.core.errors import UsageError

SETTINGS_FILE = "settings.toml"


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
    """

    ae_title: str = "LIGHTBOX"
    port: int = 11113
    bind_address: str = "0.0.0.0"
    always_listen: bool = False
    max_pdu: int = 4 * 1024 * 1024

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> NetworkSettings:
        """Build from a TOML table, ignoring keys this release does not know."""
        known = {f.name for f in fields(cls)}
        values = {k.replace("-", "_"): v for k, v in data.items()}
        return cls(**{k: v for k, v in values.items() if k in known}).validated()

    def to_mapping(self) -> dict[str, Any]:
        """Return the TOML table."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def validated(self) -> NetworkSettings:
        """Return self after checking the values, or raise :class:`UsageError`."""
        check_ae_title(self.ae_title)
        if not 1 <= int(self.port) <= 65535:
            raise UsageError(f"port {self.port} is not a TCP port (1-65535)")
        if int(self.max_pdu) < 0:
            raise UsageError("max-pdu must be 0 (unlimited) or a positive number of bytes")
        return self

    def with_value(self, key: str, text: str) -> NetworkSettings:
        """Return a copy with ``key`` (``ae-title``, ``port`` ...) set from command-line text."""
        name = key.replace("-", "_")
        current = {f.name: f for f in fields(self)}
        if name not in current:
            raise UsageError(
                f"unknown setting {key!r}; known: "
                + ", ".join(n.replace("_", "-") for n in current)
            )
        old = getattr(self, name)
        value: Any
        if isinstance(old, bool):
            if text.lower() not in {"true", "false", "yes", "no", "1", "0", "on", "off"}:
                raise UsageError(f"{key} takes true or false, not {text!r}")
            value = text.lower() in {"true", "yes", "1", "on"}
        elif isinstance(old, int):
            try:
                value = int(text)
            except ValueError:
                raise UsageError(f"{key} takes a number, not {text!r}") from None
        else:
            value = text
        return replace(self, **{name: value}).validated()


def check_ae_title(title: str) -> str:
    """Return ``title`` if it is a valid AE title (PS3.5 6.2 AE), else raise UsageError."""
    if not title.strip() or len(title) > 16 or "\\" in title:
        raise UsageError(f"AE title {title!r} must be 1-16 characters without backslash")
    if not title.isascii() or any(ord(c) < 0x20 for c in title):
        raise UsageError(f"AE title {title!r} must use printable ASCII only")
    return title


def read_settings(home: Path) -> dict[str, Any]:
    """Return the whole settings file as a mapping (empty when there is none)."""
    path = home / SETTINGS_FILE
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None


def write_settings(home: Path, data: Mapping[str, Any]) -> None:
    """Write the settings file atomically, readable only by its owner."""
    path = home / SETTINGS_FILE
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as f:
        tomli_w.dump(dict(data), f)
    if os.name == "posix":
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_network_settings(home: Path) -> NetworkSettings:
    """Return the ``[network]`` settings (defaults where unset)."""
    return NetworkSettings.from_mapping(read_settings(home).get("network", {}))


def save_network_settings(home: Path, settings: NetworkSettings) -> None:
    """Store the ``[network]`` settings, keeping every other table of the file."""
    data = read_settings(home)
    data["network"] = settings.to_mapping()
    write_settings(home, data)
