"""A hand-edited nodes.toml: wrong types and invalid values, one bad node among good ones;
and addresses written so that they can be read back (IPv6 in brackets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.core.errors import UsageError
from viewer.net.nodes import NodeBook, NodeRecord, format_address, host_port, parse_address

GOOD = '[good]\ncalled_aet = "ORTHANC"\nhost = "127.0.0.1"\nport = 4242\n'


def _book(home: Path, bad: str) -> NodeBook:
    home.mkdir(parents=True, exist_ok=True)
    (home / "nodes.toml").write_text(GOOD + "\n[bad]\n" + bad)
    return NodeBook(home)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('called_aet = "X"\nhost = "h"\nport = "abc"\n',
         "node 'bad': port 'abc' is not a TCP port (1-65535)"),
        ('called_aet = "X"\nhost = "h"\n', "node 'bad': port is missing"),
        ('called_aet = 5\nhost = "h"\nport = 104\n', "node 'bad': called_aet 5 must be text"),
        ('called_aet = "X"\nhost = "h"\nport = 104\ndimse_timeout = "x"\n',
         "node 'bad': dimse_timeout 'x' is not a number of seconds"),
        ('called_aet = "X"\nhost = "h"\nport = true\n',
         "node 'bad': port True is not a TCP port"),
        ('called_aet = "X"\nhost = "h"\nport = 104\ntls_check_hostname = "no"\n',
         "node 'bad': tls_check_hostname 'no' must be true or false"),
        # Valid types, invalid values: refused by validated(), named the same way.
        ('called_aet = "X"\nhost = "h"\nport = 0\n',
         "node 'bad': port 0 is not a TCP port (1-65535)"),
        ('called_aet = "A\\\\B"\nhost = "h"\nport = 104\n',
         "node 'bad': called_aet: AE title"),
        ('called_aet = "X"\nhost = "h"\nport = 104\nmethod = "push"\n',
         "node 'bad': method 'push' must be get, move or auto"),
    ],
)
def test_a_bad_table_is_set_aside_and_named_with_its_file_and_key(
        tmp_path: Path, bad: str, reason: str) -> None:
    book = _book(tmp_path, bad)
    # The others are usable: one bad table used to make every command fail.
    assert [n.name for n in book] == ["good"]
    assert book.get("good").port == 4242
    assert "bad" in book
    (invalid,) = book.invalid
    assert invalid.name == "bad" and reason in invalid.reason
    with pytest.raises(UsageError) as caught:
        book.get("bad")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'nodes.toml'}: {reason}")
    assert "lightbox node remove bad" in message


def test_a_bad_node_is_kept_when_another_is_saved_and_can_be_removed(tmp_path: Path
                                                                     ) -> None:
    book = _book(tmp_path, 'called_aet = "X"\nhost = "h"\nport = 0\n')
    book.add(NodeRecord("new", "NEW", "10.0.0.1", 104))
    again = NodeBook(tmp_path)
    assert [n.name for n in again] == ["good", "new"]
    assert [n.name for n in again.invalid] == ["bad"]  # not dropped behind the user's back
    with pytest.raises(UsageError, match="exists; use node edit"):
        again.add(NodeRecord("bad", "X", "h", 104))
    again.remove("bad")
    final = NodeBook(tmp_path)
    assert final.invalid == [] and [n.name for n in final] == ["good", "new"]


def test_a_bad_node_is_put_right_by_edit(tmp_path: Path) -> None:
    book = _book(tmp_path, 'called_aet = "X"\nhost = "h"\nport = "abc"\nmethod = "get"\n')
    seen: list[NodeRecord] = []
    node = book.edit("bad", check=seen.append, called_aet="PACS", host="10.0.0.9", port=104)
    assert seen == [node]
    assert node == NodeRecord("bad", "PACS", "10.0.0.9", 104, method="get")  # kept the rest
    assert NodeBook(tmp_path).get("bad") == node
    # An edit that leaves it wrong is refused, naming the file and what is still wrong.
    book = _book(tmp_path / "other", 'called_aet = "X"\nhost = "h"\nport = "abc"\n')
    with pytest.raises(UsageError, match=r"nodes\.toml: node 'bad': port 'abc'"):
        book.edit("bad", method="move")
    assert [n.name for n in NodeBook(tmp_path / "other").invalid] == ["bad"]


def test_a_check_that_refuses_saves_nothing(tmp_path: Path) -> None:
    book = _book(tmp_path, 'called_aet = "X"\nhost = "h"\nport = 0\n')

    def refuse(node: NodeRecord) -> None:
        raise UsageError("no")

    with pytest.raises(UsageError, match="no"):
        book.edit("bad", check=refuse, port=104)
    with pytest.raises(UsageError, match="no"):
        book.edit("good", check=refuse, port=104)
    again = NodeBook(tmp_path)
    assert again.get("good").port == 4242 and [n.name for n in again.invalid] == ["bad"]


def test_a_file_that_is_not_toml_is_still_named(tmp_path: Path) -> None:
    (tmp_path / "nodes.toml").write_text("[good\n")
    with pytest.raises(UsageError, match=r"nodes\.toml: not valid TOML"):
        NodeBook(tmp_path)


@pytest.mark.parametrize(
    ("host", "shown"),
    [("::1", "ORTH@[::1]:104"), ("fe80::1%eth0", "ORTH@[fe80::1%eth0]:104"),
     ("10.0.0.1", "ORTH@10.0.0.1:104"), ("pacs.example.org", "ORTH@pacs.example.org:104")],
)
def test_an_address_is_shown_as_node_add_reads_it(host: str, shown: str) -> None:
    # "added g: ORTH@::1:104" could not be given back to node add or edit --address.
    node = NodeRecord("g", "ORTH", host, 104).validated()
    assert node.address == shown
    assert format_address("ORTH", host, 104) == shown
    assert parse_address(node.address) == ("ORTH", host, 104)
    assert host_port(host, 104) == shown.split("@", 1)[1]


def test_an_invalid_ipv6_node_is_listed_in_brackets_too(tmp_path: Path) -> None:
    book = _book(tmp_path, 'called_aet = "ORTH"\nhost = "::1"\nport = 0\n')
    assert book.invalid[0].address == "ORTH@[::1]:0"
    assert _book(tmp_path / "m", 'host = "h"\n').invalid[0].address == "?@h:?"


def test_unknown_keys_and_stray_entries_are_named_and_kept(tmp_path: Path) -> None:
    (tmp_path / "nodes.toml").write_text(
        'port = 104\n' + GOOD + '\n[typo]\ncalled_aet = "X"\nhost = "h"\nport = 104\n'
        'calling_aettt = "WS1"\n\n[hyphen]\ncalled-aet = "H"\nhost = "h"\nport = 104\n'
        'method = " Move"\n')
    book = NodeBook(tmp_path)
    assert [n.name for n in book] == ["good", "hyphen"]
    assert book.get("hyphen").called_aet == "H" and book.get("hyphen").method == "move"
    (typo,) = book.invalid
    assert typo.reason == ("node 'typo': unknown key 'calling_aettt'; did you mean "
                           "calling_aet?")
    assert book.stray == ["port"]
    with pytest.raises(UsageError, match=r"no node called 'x'.*nodes\.toml: port is outside"):
        book.get("x")
    with pytest.raises(UsageError, match="would replace its entry"):
        book.add(NodeRecord("port", "P", "h", 104))
    book.add(NodeRecord("new", "NEW", "10.0.0.1", 104))
    again = NodeBook(tmp_path)
    assert again.stray == ["port"] and [n.name for n in again.invalid] == ["typo"]
    assert again.invalid[0].table["calling_aettt"] == "WS1"


def test_timeout_sets_each_timeout_not_set_on_its_own() -> None:
    node = NodeRecord("p", "P", "h", 104).with_timeout(3)
    assert (node.connect_timeout, node.acse_timeout, node.dimse_timeout) == (3, 3, 3)
    table = {**node.to_mapping(), "acse_timeout": 40.0}
    hand = NodeRecord.from_mapping("p", table)
    assert hand.separate_timeouts() == ("acse_timeout",)
    again = hand.with_timeout(6)
    assert (again.connect_timeout, again.acse_timeout, again.dimse_timeout) == (6, 40, 6)
    # A file written before "timeout" held every timeout: --timeout sets them all.
    old = NodeRecord("p", "P", "h", 104, dimse_timeout=5.0).with_timeout(7)
    assert (old.connect_timeout, old.acse_timeout, old.dimse_timeout) == (7, 7, 7)
    assert NodeRecord.from_mapping("p", {"called_aet": "P", "host": "h", "port": 104,
                                         "timeout": 2}).acse_timeout == 2
    assert "timeout" not in NodeRecord("p", "P", "h", 104).to_mapping()
