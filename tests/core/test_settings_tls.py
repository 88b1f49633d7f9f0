"""Our storage SCP's DICOM TLS settings (PS3.15 B.9): set together, files named when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.errors import UsageError
from viewer.core.settings import (
    DICOM_TLS_PORT,
    NetworkSettings,
    load_network_settings,
    save_network_settings,
)


def _pairs(tls: dict[str, Path], cert: str = "server", key: str = "server-key",
           ca: str = "ca") -> list[tuple[str, str]]:
    return [("tls-cert", str(tls[cert])), ("tls-key", str(tls[key])), ("tls-ca", str(tls[ca]))]


def test_defaults_are_off_on_the_registered_port() -> None:
    s = NetworkSettings()
    assert s.tls_port == DICOM_TLS_PORT == 2762 and not s.tls_configured


def test_all_three_files_set_together_turn_it_on(tls: dict[str, Path], tmp_path: Path) -> None:
    s = NetworkSettings().with_values(_pairs(tls))
    assert s.tls_configured and s.tls_cert == str(tls["server"].resolve())
    save_network_settings(tmp_path, s)
    assert load_network_settings(tmp_path) == s
    assert not s.with_values([("tls-port", "0")]).tls_configured  # 0 = off
    cleared = s.with_values([("tls-cert", ""), ("tls-key", ""), ("tls-ca", "")])
    assert not cleared.tls_configured


@pytest.mark.parametrize(("pairs", "message"), [
    ([("tls-cert", "server")], "needs its key: set tls-key"),
    ([("tls-key", "server-key")], "needs its key: set tls-cert"),
    ([("tls-cert", "server"), ("tls-key", "server-key")], "needs tls-ca"),
])
def test_a_partial_set_is_refused(tls: dict[str, Path], pairs: list[tuple[str, str]],
                                  message: str) -> None:
    with pytest.raises(UsageError, match=message):
        NetworkSettings().with_values([(k, str(tls[v])) for k, v in pairs])


def test_each_bad_file_is_named(tls: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"nope\.pem: no such file \(tls-cert\)"):
        NetworkSettings().with_values([("tls-cert", str(tmp_path / "nope.pem")),
                                       *_pairs(tls)[1:]])
    with pytest.raises(UsageError, match=r"server\.key: not a PEM certificate \(tls-cert\)"):
        NetworkSettings().with_values(_pairs(tls, cert="server-key"))
    with pytest.raises(UsageError, match=r"rogue\.key: not the private key of .*server\.pem"):
        NetworkSettings().with_values(_pairs(tls, key="rogue-key"))
    with pytest.raises(UsageError, match=r"server\.key: not a PEM CA certificate \(tls-ca\)"):
        NetworkSettings().with_values(_pairs(tls, ca="server-key"))


def test_a_moved_file_still_loads_the_settings(tls: dict[str, Path], tmp_path: Path) -> None:
    # Settings naming a file that has gone must still load, so that it can be changed.
    gone = NetworkSettings(tls_cert=str(tmp_path / "gone.pem"), tls_key=str(tls["server-key"]),
                           tls_ca=str(tls["ca"]))
    save_network_settings(tmp_path, gone)
    assert load_network_settings(tmp_path) == gone
    with pytest.raises(UsageError, match=r"gone\.pem: no such file"):
        gone.checked_tls_files()


def test_the_tls_port_is_a_port_and_not_the_plain_one(tls: dict[str, Path]) -> None:
    s = NetworkSettings().with_values(_pairs(tls))
    with pytest.raises(UsageError, match="not a TCP port"):
        s.with_values([("tls-port", "70000")])
    with pytest.raises(UsageError, match="one port serves either"):
        s.with_values([("tls-port", str(s.port))])
