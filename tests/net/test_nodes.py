"""PACS nodes in nodes.toml: add, edit, list, remove, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.errors import UsageError
from viewer.net.nodes import NodeBook, NodeRecord, parse_address


def test_parse_address() -> None:
    assert parse_address("ORTHANC@pacs.example.org:4242") == ("ORTHANC", "pacs.example.org", 4242)
    assert parse_address("PACS@[::1]:104") == ("PACS", "::1", 104)
    with pytest.raises(UsageError):
        parse_address("pacs.example.org:4242")
    with pytest.raises(UsageError):
        parse_address("A_TITLE_LONGER_THAN_16@h:1")


@pytest.mark.parametrize(("text", "hint"), [
    ("ABCDEFGHIJKLMNOPQ@127.0.0.1:104",
     ": the AE title 'ABCDEFGHIJKLMNOPQ' is longer than 16 characters (PS3.5 6.2)"),
    ("ORTH@::1:104", ": write an IPv6 address in brackets, ORTH@[::1]:104"),
    ("ORTH@fe80::1:104", ": write an IPv6 address in brackets, ORTH@[fe80::1]:104"),
    ("ORTH@127.0.0.1:-1", ": the port '-1' is not a TCP port (1-65535)"),
    ("ORTH@127.0.0.1:x", ": the port 'x' is not a TCP port (1-65535)"),
    ("ORTH@host", ""), ("nonsense", "")])
def test_an_address_refused_says_which_part_is_wrong(text: str, hint: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_address(text)
    assert str(err.value) == (
        f"{text!r} is not AET@HOST:PORT (e.g. ORTHANC@pacs.example.org:4242){hint}")


@pytest.mark.parametrize("seconds", [0, -5, float("nan"), 1e9])
def test_a_bad_timeout_is_named_as_given(seconds: float) -> None:
    # 0 is "unset" in the record: --timeout 0 was reported as connect_timeout.
    with pytest.raises(UsageError) as err:
        NodeRecord("pacs", "PACS", "10.0.0.1", 104).with_timeout(seconds)
    assert str(err.value).startswith("node 'pacs': timeout: timeouts must be seconds above 0")


def test_nodes_round_trip_through_the_file(tmp_path: Path) -> None:
    book = NodeBook(tmp_path)
    book.add(NodeRecord("main", "PACS", "10.0.0.1", 104, method="move", calling_aet="WS1"))
    book.add(NodeRecord("backup", "ARCH", "10.0.0.2", 11112, tls_ca="/etc/ca.pem"))
    again = NodeBook(tmp_path)
    assert [n.name for n in again] == ["backup", "main"]
    assert again.get("main") == NodeRecord("main", "PACS", "10.0.0.1", 104, method="move",
                                           calling_aet="WS1")
    assert again.get("backup").uses_tls
    assert (tmp_path / "nodes.toml").stat().st_mode & 0o077 == 0


def test_edit_and_remove(tmp_path: Path) -> None:
    book = NodeBook(tmp_path)
    book.add(NodeRecord("main", "PACS", "10.0.0.1", 104))
    book.edit("main", port=4242, method="get")
    assert NodeBook(tmp_path).get("main").port == 4242
    book.remove("main")
    assert "main" not in NodeBook(tmp_path)
    with pytest.raises(UsageError, match="no node called 'main'"):
        book.get("main")


def test_a_node_is_found_in_any_case_and_not_added_twice_in_another(tmp_path: Path) -> None:
    # "--node pacs" said there was no such node beside one called PACS, and "node add
    # pacs" made a second node that a reader could not tell from the first.
    book = NodeBook(tmp_path)
    book.add(NodeRecord("PACS", "ARCHIVE", "127.0.0.1", 104))
    assert book.get("pacs").called_aet == "ARCHIVE"
    assert book.edit("Pacs", port=11112).port == 11112
    with pytest.raises(UsageError, match="a node called 'PACS' exists, and names that differ"):
        book.add(NodeRecord("pacs", "OTHER", "127.0.0.1", 105))
    assert [n.name for n in NodeBook(tmp_path)] == ["PACS"]
    book.remove("pacs")
    assert len(NodeBook(tmp_path)) == 0


def test_duplicates_need_replace(tmp_path: Path) -> None:
    book = NodeBook(tmp_path)
    book.add(NodeRecord("main", "PACS", "10.0.0.1", 104))
    with pytest.raises(UsageError, match="exists"):
        book.add(NodeRecord("main", "PACS", "10.0.0.9", 104))
    book.add(NodeRecord("main", "PACS", "10.0.0.9", 104), replace_existing=True)
    assert book.get("main").host == "10.0.0.9"


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "bad name"},
        {"called_aet": ""},
        {"called_aet": "A\\B"},
        {"port": 70000},
        {"method": "push"},
        {"tls_cert": "c.pem"},
        {"tls_cert": "c.pem", "tls_key": "k.pem"},
        {"dimse_timeout": 0},
        # A timeout of inf overflowed pynetdicom's timers (a traceback at the first
        # message); NaN was taken and silently replaced by pynetdicom's 30 s.
        {"dimse_timeout": float("inf")},
        {"acse_timeout": float("nan")},
        {"connect_timeout": 1e12},
        # A host with an AE title or a typo in it, which no resolver takes.
        {"host": "b@127.0.0.1"},
        {"host": "bad_host!!"},
        {"host": "pacs example.org"},
    ],
)
def test_invalid_nodes_are_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"name": "n", "called_aet": "PACS", "host": "h", "port": 104}
    base.update(fields)
    with pytest.raises(UsageError):
        NodeRecord(**base).validated()  # type: ignore[arg-type]


@pytest.mark.parametrize("host", ["pacs.example.org", "10.0.0.9", "::1", "fe80::1%eth0",
                                  "PACS_01", "xn--bcher-kva.example"])
def test_host_names_and_addresses_are_taken(host: str) -> None:
    assert NodeRecord("n", "PACS", host, 104).validated().host == host
