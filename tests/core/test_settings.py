"""The network settings record and settings.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.errors import UsageError
from viewer.core.settings import (
    NetworkSettings,
    load_network_settings,
    network_settings_with,
    read_settings,
    save_network_settings,
    write_settings,
)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert load_network_settings(tmp_path) == NetworkSettings()


def test_round_trip_keeps_other_tables(tmp_path: Path) -> None:
    write_settings(tmp_path, {"display": {"gsdf": True}})
    save_network_settings(tmp_path, NetworkSettings(ae_title="WS1", port=4006))
    assert load_network_settings(tmp_path) == NetworkSettings(ae_title="WS1", port=4006)
    assert read_settings(tmp_path)["display"] == {"gsdf": True}
    assert (tmp_path / "settings.toml").stat().st_mode & 0o077 == 0


def test_with_value_parses_command_line_text() -> None:
    s = NetworkSettings()
    assert s.with_value("ae-title", "WS2").ae_title == "WS2"
    assert s.with_value("port", "4100").port == 4100
    assert s.with_value("always-listen", "yes").always_listen is True


@pytest.mark.parametrize(
    ("key", "value"),
    [("port", "0"), ("port", "x"), ("ae-title", "A" * 17), ("ae-title", " "),
     ("always-listen", "maybe"), ("colour", "red"), ("ae-title", "Bäcker"),
     # PS3.8 D.1: the maximum length is a 4-byte field; a larger one failed to encode
     # in pynetdicom's thread and each association waited out the ACSE timeout.
     ("max-pdu", "4294967296"), ("max-pdu", "-1"),
     # Taken, it failed only when the SCP started, and was blamed on the port.
     ("bind-address", "not an address"), ("bind-address", "10.0.0.1:104")],
)
def test_bad_values_are_refused(key: str, value: str) -> None:
    with pytest.raises(UsageError):
        NetworkSettings().with_value(key, value)


def test_unknown_keys_from_a_newer_release_are_ignored() -> None:
    s = NetworkSettings.from_mapping({"ae_title": "WS3", "future_option": 1})
    assert s.ae_title == "WS3"


@pytest.mark.parametrize("address", ["0.0.0.0", "127.0.0.1", "::", "fe80::1%eth0",
                                     "pacs-gateway.example.org", "localhost", ""])
def test_bind_addresses_are_taken(address: str) -> None:
    assert NetworkSettings().with_value("bind-address", address).bind_address == address


def test_setting_a_value_repairs_it_and_names_what_stays_wrong(tmp_path: Path) -> None:
    write_settings(tmp_path, {"network": {"port": 70000, "max-pdu": 1}})
    with pytest.raises(UsageError, match="lightbox config set KEY VALUE, or edit the file"):
        load_network_settings(tmp_path)
    both = network_settings_with(tmp_path, [("port", "11112"), ("max_pdu", "0")])
    assert (both.port, both.max_pdu) == (11112, 0)
    with pytest.raises(UsageError, match=r"settings\.toml: \[network\] max-pdu 1: .*still "
                                         "wrong after this change"):
        network_settings_with(tmp_path, [("port", "11112")])
