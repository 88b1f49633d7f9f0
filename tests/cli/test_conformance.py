"""The Conformance Statement: committed copy current, PS3.2 outline complete, claims true.

The claims are checked against behaviour on loopback: every transfer syntax the statement
lists for the storage SCP is offered to the real :class:`viewer.net.scp.StorageSCP` by a
pynetdicom requestor and must be accepted, and every query key it lists must arrive in the
identifier that :func:`viewer.net.query.find` sends to a C-FIND SCP.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.presentation import build_context

from tests.support import testdata
from tests.support.peers import free_port
from viewer.cli import main as cli_main
from viewer.cli.conformance_cmd import statement
from viewer.core.identity import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from viewer.core.settings import NetworkSettings
from viewer.net import retrieve
from viewer.net.nodes import NodeRecord
from viewer.net.query import QuerySpec, find
from viewer.net.scp import StorageSCP
from viewer.net.sinks import ReceivedInstance

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "conformance-statement.md"
PEER_AET = "CONFTEST"

# PS3.2 Annex A: the sections a Conformance Statement must have, in order.
OUTLINE = (
    "Overview",
    "Table of Contents",
    "Introduction",
    "Revision History",
    "Audience",
    "Remarks",
    "Terms and Definitions",
    "Basics of DICOM Communication",
    "Abbreviations",
    "References",
    "Networking",
    "Implementation Model",
    "Application Data Flow",
    "Functional Definition of AEs",
    "Sequencing of Real-World Activities",
    "AE Specifications",
    "SOP Classes",
    "Association Policies",
    "Association Initiation Policy",
    "Association Acceptance Policy",
    "Network Interfaces",
    "Configuration",
    "AE Title/Presentation Address Mapping",
    "Parameters",
    "Media Interchange",
    "Augmented and Private Application Profiles",
    "Media Configuration",
    "Support of Character Sets",
    "Security",
    "Security Profiles",
    "Annexes",
    "IOD Contents",
    "Created SOP Instances",
    "Usage of Attributes from Received IODs",
    "Coerced/Modified Fields",
    "Data Dictionary of Private Attributes",
    "Coded Terminology and Templates",
    "Grayscale Image Consistency",
    "Standard Extended, Specialized and Private SOP Classes",
    "Private Transfer Syntaxes",
)


@pytest.fixture(scope="module")
def text() -> str:
    return statement()


def _headings(text: str) -> list[str]:
    return [re.sub(r"^[\d.]+ ", "", line.lstrip("#").strip())
            for line in text.splitlines() if line.startswith("#")]


def _table_after(text: str, marker: str) -> list[list[str]]:
    """Rows (cells) of the first Markdown table after the line containing ``marker``."""
    lines = text[text.index(marker):].splitlines()[1:]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split(" | ")])
    return rows


def test_committed_statement_is_what_the_code_generates(text: str) -> None:
    committed = COMMITTED.read_text(encoding="utf-8")
    assert committed == text, (
        "docs/conformance-statement.md is out of date: run "
        "`.venv/bin/lightbox conformance -o docs/conformance-statement.md`"
    )


def test_statement_follows_the_ps32_outline_in_order(text: str) -> None:
    headings = _headings(text)
    positions = []
    for title in OUTLINE:
        assert title in headings, f"section {title!r} missing"
        positions.append(headings.index(title))
    assert positions == sorted(positions)


def test_table_of_contents_links_resolve(text: str) -> None:
    anchors = set(re.findall(r"\]\(#([^)]+)\)", text))
    from viewer.cli.conformance_text import anchor

    targets = {anchor(line.lstrip("#").strip()) for line in text.splitlines()
               if line.startswith("## ") or line.startswith("### ") or line.startswith("#### ")}
    assert anchors and anchors <= targets


def test_identity_is_ours_not_a_toolkit_default(text: str) -> None:
    assert IMPLEMENTATION_CLASS_UID in text and IMPLEMENTATION_VERSION_NAME in text
    assert IMPLEMENTATION_CLASS_UID.startswith("2.25.")
    assert "1.2.826.0.1.3680043.9.3811" not in IMPLEMENTATION_CLASS_UID  # pynetdicom's root
    assert "1.2.826.0.1.3680043.8.498" not in IMPLEMENTATION_CLASS_UID  # pydicom's root


def test_check_option_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cs.md"
    assert cli_main(["conformance", "-o", str(out)]) == 0
    assert cli_main(["conformance", "-o", str(out), "--check"]) == 0
    out.write_text(out.read_text(encoding="utf-8") + "edited\n", encoding="utf-8")
    assert cli_main(["conformance", "-o", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err


# --- claims against behaviour --------------------------------------------------------------


@pytest.fixture
def received() -> list[ReceivedInstance]:
    return []


@pytest.fixture
def storage_scp(tmp_path: Path, received: list[ReceivedInstance]) -> Iterator[StorageSCP]:
    local = NetworkSettings(ae_title="LIGHTBOX", port=free_port(), bind_address="127.0.0.1")
    allowed = [NodeRecord(name="peer", called_aet=PEER_AET, host="127.0.0.1", port=104)]
    scp = StorageSCP(local, allowed, tmp_path / "incoming", received.append).start()
    try:
        yield scp
    finally:
        scp.stop()


def test_every_listed_storage_transfer_syntax_is_accepted(text: str,
                                                          storage_scp: StorageSCP) -> None:
    rows = _table_after(text, "Storage transfer syntaxes (every Storage SOP Class)")
    listed = [row[1] for row in rows]
    assert "1.2.840.10008.1.2" in listed and len(listed) >= 4
    classes = [row[1] for row in _table_after(text, "provides Standard Conformance to the "
                                               "following SOP Classes.\n\n| SOP Class Name")
               if row[3] == "Yes" and row[1].startswith("1.2.840.10008.5.1.4.1.1.")]
    ae = AE(ae_title=PEER_AET)
    ct = "1.2.840.10008.5.1.4.1.1.2"
    contexts = [build_context(ct, syntax) for syntax in listed]
    # One more class from the far end of the list, in the first listed syntax.
    contexts.append(build_context(classes[-1], listed[0]))
    assoc = ae.associate("127.0.0.1", storage_scp.port, contexts=contexts, ae_title="LIGHTBOX")
    try:
        assert assoc.is_established
        accepted = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                    for cx in assoc.accepted_contexts}
        for syntax in listed:
            assert (ct, syntax) in accepted, f"{syntax} listed but refused"
        assert (classes[-1], listed[0]) in accepted
        assert assoc.acceptor.implementation_class_uid == IMPLEMENTATION_CLASS_UID
    finally:
        assoc.release()
    # PS3.2 chapter 7: whoever accepts associations must answer Verification.
    echo = ae.associate("127.0.0.1", storage_scp.port, ae_title="LIGHTBOX",
                        contexts=[build_context("1.2.840.10008.1.1")])
    try:
        assert echo.is_established
        assert echo.send_c_echo().Status == 0x0000
    finally:
        echo.release()


def test_stored_files_are_level_2_with_our_file_meta(
        text: str, storage_scp: StorageSCP, received: list[ReceivedInstance]) -> None:
    # 3.2.2.4 claims Level 2 storage (the data set kept as sent) and 3.2.1.2 that every
    # file Lightbox writes carries its implementation identity.
    assert "Level of Support: 2 (Full)" in text
    source = dcmread(testdata.test_file("CT_small.dcm"))
    ae = AE(ae_title=PEER_AET)
    ae.add_requested_context(source.SOPClassUID, source.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", storage_scp.port, ae_title="LIGHTBOX")
    try:
        assert assoc.is_established
        assert assoc.send_c_store(source).Status == 0x0000
    finally:
        assoc.release()
    storage_scp.receiver.drain()
    (item,) = received
    assert item.sop_instance_uid == source.SOPInstanceUID
    stored = dcmread(item.path)
    assert stored.file_meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert stored.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert stored.file_meta.SourceApplicationEntityTitle == PEER_AET
    assert stored.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert stored == source  # every element of the data set, private ones too
    assert stored.PixelData == source.PixelData


def test_c_get_stays_within_the_stated_context_limit(text: str) -> None:
    stated = int(re.search(r"At most (\d+) storage contexts are proposed", text).group(1))
    assert stated < 128  # PS3.8 9.3.2.2: odd context IDs 1-255, one taken by the GET model
    every_class = [row[1] for row in _table_after(
        text, "Storage SCP AE provides Standard Conformance to the following SOP Classes.")
        if row[1].startswith("1.2.840.10008.5.1.4.1.1.")]
    assert len(every_class) > stated  # the worst case: a study of every storage class
    assert len(retrieve.storage_contexts(every_class)) <= stated
    assert len(retrieve.storage_contexts(every_class[:3])) >= 3


def test_storage_scp_refuses_an_unknown_calling_ae(storage_scp: StorageSCP) -> None:
    ae = AE(ae_title="STRANGER")
    assoc = ae.associate("127.0.0.1", storage_scp.port, ae_title="LIGHTBOX",
                         contexts=[build_context("1.2.840.10008.1.1")])
    # PS3.8 9.3.4, as 3.2.2.4 of the statement says: rejected-permanent, service-user,
    # calling AE title not recognised.
    assert assoc.is_rejected
    assert (assoc.acceptor.primitive.result, assoc.acceptor.primitive.result_source,
            assoc.acceptor.primitive.diagnostic) == (1, 1, 3)


@pytest.fixture
def find_scp() -> Iterator[tuple[int, list[Any]]]:
    received: list[Any] = []
    lock = threading.Lock()

    def on_find(event: Any) -> Iterator[tuple[int, Any]]:
        with lock:
            received.append(event.identifier)
        yield from ()

    ae = AE(ae_title="QRSCP")
    for uid in ("1.2.840.10008.5.1.4.1.2.1.1", "1.2.840.10008.5.1.4.1.2.2.1"):
        ae.add_supported_context(uid)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, on_find)])
    try:
        yield port, received
    finally:
        server.shutdown()


def test_every_listed_query_key_is_sent(text: str, find_scp: tuple[int, list[Any]]) -> None:
    port, received = find_scp
    rows = _table_after(text, "**SOP Specific Conformance for the FIND SOP Classes.**")
    by_level: dict[str, set[str]] = {}
    matching: dict[str, str] = {}
    for level, _name, keyword, _tag, _vr, kinds in rows:
        by_level.setdefault(level, set()).add(keyword)
        matching[keyword] = kinds
    assert set(by_level) == {"PATIENT", "STUDY", "SERIES", "IMAGE"}
    node = NodeRecord(name="qr", called_aet="QRSCP", host="127.0.0.1", port=port)
    local = NetworkSettings(ae_title="LIGHTBOX")
    specs = {
        "PATIENT": QuerySpec(level="patient", model="patient"),
        "STUDY": QuerySpec(level="study"),
        "SERIES": QuerySpec(level="series", study_uids=("1.2.3",)),
        "IMAGE": QuerySpec(level="image", study_uids=("1.2.3",), series_uids=("1.2.3.4",)),
    }
    for level, spec in specs.items():
        list(find(node, local, spec))
        identifier = received[-1]
        sent = {elem.keyword for elem in identifier}
        assert identifier.QueryRetrieveLevel == level
        missing = by_level[level] - sent
        assert not missing, f"{level}: listed but not sent: {sorted(missing)}"
        assert identifier.SpecificCharacterSet == "ISO_IR 192"

    # The matching types the statement names arrive as PS3.4 C.2.2.2 writes them.
    assert "Wild Card" in matching["PatientName"] and "Range" in matching["StudyDate"]
    assert "List of UID" in matching["StudyInstanceUID"]
    spec = QuerySpec(level="study", patient_name="DOE*^J?HN", study_date="20240101-",
                     study_uids=("1.2.3", "1.2.4"))
    list(find(node, local, spec))
    identifier = received[-1]
    assert str(identifier.PatientName) == "DOE*^J?HN"
    assert identifier.StudyDate == "20240101-"
    assert list(identifier.StudyInstanceUID) == ["1.2.3", "1.2.4"]
