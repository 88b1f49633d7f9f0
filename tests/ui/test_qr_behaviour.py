"""The query/retrieve panel as clinicians drive it, against real peers on loopback.

- a name or description typed without wildcard finds what begins with it (Orthanc);
- a retrieve uses the node as configured now, not as it was when the search ran;
- Stop ends a search at once on a PACS that accepts TCP and never answers;
- a second application on the same home says C-MOVE goes through the first one's
  listener instead of advising another port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from PySide6.QtWidgets import QDialogButtonBox

from tests.support.peers import PeerProcess, SilentPeer, free_port, start_orthanc, store_files
from tests.support.series import write_ct_series
from viewer.core.settings import NetworkSettings, save_network_settings
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.store import StudyStore
from viewer.ui.qr import QueryRetrieveWidget, build_qr_widget
from viewer.ui.qr.query_form import (
    DESCRIPTION_TIP,
    NAME_TIP,
    QueryFormWidget,
    name_matching_value,
    text_matching_value,
)
from viewer.ui.qr.results_model import COLUMNS

pytestmark = [pytest.mark.gui]

WAIT_MS = 30000
#: Patient ID -> (Patient Name, Specific Character Set, Study Description)
PATIENTS = {
    "LB-QB-1": ("SMITH^JOHN", None, "CHEST CT"),
    "LB-QB-2": ("SMITHSON^ANNA", None, "ABDOMEN"),
    "LB-QB-3": ("Müller^Jürgen", "ISO_IR 100", "Chest PA"),
    "LB-QB-4": ("DOE^JANE", None, "HEAD"),
    "LB-QB-5": ("MULLER^ANNA", None, "CT CHEST"),
}


# ------------------------------------------------------------------ the form alone


@pytest.mark.parametrize(("typed", "sent"), [
    ("", ""),
    ("   ", ""),
    ("smith", "smith*"),
    ("  muller ", "muller*"),
    ("Smith, John", "Smith^John*"),
    ("Smith,John", "Smith^John*"),
    ("Smith John", "Smith^John*"),
    ("Smith  John", "Smith^John*"),
    ("van der Berg, Jan", "van der Berg^Jan*"),
    ("Smith,", "Smith*"),
    (", John", "*^John*"),
    ("SMITH^JOHN", "SMITH^JOHN*"),
    ("DOE*", "DOE*"),
    ("*son*", "*son*"),
    ("SM?TH", "SM?TH"),
    ("Sm?th, John", "Sm?th, John"),  # a wildcard: the user's own pattern, as typed
    # PS3.5 6.2.1.2: ideographic and phonetic names follow "=" in the value.
    ("山田", "*山田*"),
    ("やまだ たろう", "*やまだ^たろう*"),
    ("홍, 길동", "*홍^길동*"),
    ("山田*", "山田*"),
    ("Иванов", "Иванов*"),
])
def test_a_name_without_wildcard_is_searched_by_its_beginning(typed: str, sent: str) -> None:
    assert name_matching_value(typed) == sent


@pytest.mark.parametrize(("typed", "sent"), [
    ("", ""), ("chest", "chest*"), (" Chest PA ", "Chest PA*"), ("*chest*", "*chest*"),
    ("CT?", "CT?"),
])
def test_a_description_without_wildcard_is_searched_by_its_beginning(typed: str,
                                                                     sent: str) -> None:
    assert text_matching_value(typed) == sent


def test_the_form_sends_the_patterns_and_says_so(qtbot) -> None:
    form = QueryFormWidget()
    qtbot.addWidget(form)
    form.patient_name_edit.setText("Smith, John")
    form.description_edit.setText("chest")
    form.patient_id_edit.setText("LB-QB-1")  # an identifier: as typed
    form.accession_edit.setText("ACC1")
    spec = form.spec()
    assert (spec.patient_name, spec.study_description) == ("Smith^John*", "chest*")
    assert (spec.patient_id, spec.accession_number) == ("LB-QB-1", "ACC1")
    assert form.patient_name_edit.toolTip() == NAME_TIP
    assert "smith is sent as smith*" in NAME_TIP and "Smith^John*" in NAME_TIP
    assert "begin" in form.patient_name_edit.placeholderText()
    assert form.description_edit.toolTip() == DESCRIPTION_TIP
    assert "CHEST*" in DESCRIPTION_TIP and "case" in DESCRIPTION_TIP


# ------------------------------------------------------------------- peers and panel


@pytest.fixture(scope="module")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Patient ID -> the files of its one study (one series of two slices)."""
    folder = tmp_path_factory.mktemp("qb-set")
    return {pid: write_ct_series(folder / pid, slices=2, rows=16, cols=16,
                                 patient_name=name, patient_id=pid, character_set=charset,
                                 study_description=description,
                                 accession_number=f"ACC{pid[-1]}")
            for pid, (name, charset, description) in PATIENTS.items()}


@pytest.fixture(scope="module")
def move_port() -> int:
    """Our storage SCP's port, which Orthanc knows as C-MOVE destination LIGHTBOX."""
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, study_files: dict[str, list[Path]],
            move_port: int) -> Iterator[PeerProcess]:
    peer = start_orthanc(tmp_path_factory.mktemp("qb-orthanc"), aet="ORTHANC",
                         destinations={"LIGHTBOX": ("127.0.0.1", move_port)})
    try:
        store_files(peer, [p for files in study_files.values() for p in files])
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def home(tmp_path: Path, move_port: int) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    save_network_settings(home, NetworkSettings(ae_title="LIGHTBOX", port=move_port,
                                                bind_address="127.0.0.1"))
    return home


@pytest.fixture
def store(home: Path) -> Iterator[StudyStore]:
    with StudyStore.open(home) as opened:
        yield opened


def _node(name: str, aet: str, port: int, **changes: object) -> NodeRecord:
    fields: dict[str, object] = {"name": name, "called_aet": aet, "host": "127.0.0.1",
                                 "port": port, "method": "get", "connect_timeout": 5.0,
                                 "acse_timeout": 10.0, "dimse_timeout": 30.0}
    fields.update(changes)
    return NodeRecord(**fields)  # type: ignore[arg-type]


def _panel(qtbot: object, home: Path, store: StudyStore) -> QueryRetrieveWidget:
    panel = build_qr_widget(home, store)
    qtbot.addWidget(panel)  # type: ignore[attr-defined]
    panel.resize(1200, 700)
    panel.show()
    return panel


@pytest.fixture
def panel(qtbot: object, home: Path, store: StudyStore, orthanc: PeerProcess
          ) -> Iterator[QueryRetrieveWidget]:
    NodeBook(home).add(_node("orthanc", orthanc.aet, orthanc.port))
    widget = _panel(qtbot, home, store)
    yield widget
    assert widget.shutdown()


def _search(qtbot: object, panel: QueryRetrieveWidget, name: str = "",
            description: str = "") -> set[str]:
    panel.form.patient_name_edit.setText(name)
    panel.form.description_edit.setText(description)
    panel.search_button.click()
    qtbot.waitUntil(lambda: not panel.querying, timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert panel.status_label.property("error") is not True, panel.status_label.text()
    model = panel.results_model
    return {model.study_values(r)["PatientID"] for r in range(model.study_count())}


def _select_all(panel: QueryRetrieveWidget) -> None:
    selection = panel.results_view.selectionModel()
    for row in range(panel.results_model.study_count()):
        selection.select(panel.results_model.index(row, 0),
                         selection.SelectionFlag.Select | selection.SelectionFlag.Rows)


def _uids(files: list[Path]) -> set[str]:
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files}


# ---------------------------------------------------------------- 1. name search


@pytest.mark.peer
@pytest.mark.parametrize(("name", "description", "found", "maybe"), [
    ("smith", "", {"LB-QB-1", "LB-QB-2"}, set()),
    ("Smith, John", "", {"LB-QB-1"}, set()),
    ("Smith John", "", {"LB-QB-1"}, set()),
    ("SMITH", "", {"LB-QB-1", "LB-QB-2"}, set()),
    ("SMITH^JOHN", "", {"LB-QB-1"}, set()),
    # Case is ignored in names (PS3.4 C.2.2.2.1 allows it for PN, Orthanc does it);
    # accents are up to the PACS: Orthanc 1.10 does not ignore them.
    ("muller", "", {"LB-QB-5"}, {"LB-QB-3"}),
    ("*SON*", "", {"LB-QB-2"}, set()),  # the user's own wildcards, as typed
    ("jones", "", set(), set()),
    ("", "CHEST", {"LB-QB-1"}, set()),
    ("", "Chest", {"LB-QB-3"}, set()),
    ("", "*CHEST*", {"LB-QB-1", "LB-QB-5"}, set()),
])
def test_a_name_search_finds_what_begins_with_it(qtbot, panel, name, description, found,
                                                 maybe) -> None:
    listed = _search(qtbot, panel, name, description)
    assert found <= listed <= found | maybe, listed
    n = len(listed)
    assert f"{n} {'study' if n == 1 else 'studies'} found on orthanc" \
        in panel.status_label.text()


# --------------------------------------------------- 2. the node as configured now


@pytest.mark.peer
def test_a_retrieve_uses_the_node_as_edited_after_the_search(qtbot, panel, store,
                                                             study_files) -> None:
    assert _search(qtbot, panel, "Smith, John") == {"LB-QB-1"}
    dialog = panel.edit_node()
    assert dialog is not None
    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("move"))
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert NodeBook(panel.nodes.path.parent).get("orthanc").method == "move"
    _select_all(panel)
    (study_uid,) = [panel.results_model.study_values(0)["StudyInstanceUID"]]
    with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS):
        panel.retrieve_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    text = panel.transfers.rows[study_uid].state_label.text()
    assert text == "done: 2 images by C-MOVE", text
    wanted = _uids(study_files["LB-QB-1"])
    assert store.has_instances(wanted) == wanted


@pytest.mark.peer
def test_a_node_removed_after_the_search_is_not_retrieved_from(qtbot, panel, store,
                                                               orthanc) -> None:
    assert _search(qtbot, panel, "smith") == {"LB-QB-1", "LB-QB-2"}
    # Another node stays selected: the retrieve must not fall back to it either.
    panel.nodes.add(_node("other", orthanc.aet, orthanc.port))
    panel.reload_nodes(select="orthanc")
    panel.remove_node(confirm=False)
    assert panel.current_node() is not None and panel.current_node().name == "other"
    _select_all(panel)
    panel.retrieve_button.click()
    qtbot.wait(300)
    assert panel.is_idle() and panel.transfers.rows == {}
    text = panel.status_label.text()
    assert panel.status_label.property("error") is True
    assert text.startswith("Node orthanc no longer exists"), text
    assert store.counts()["instances"] == 0
    # A drill-down into the old results is refused alike.
    model = panel.results_model
    panel.load_series(model.study_values(0)["StudyInstanceUID"])
    assert panel.is_idle() and "no longer exists" in panel.status_label.text()


# ------------------------------------------------------- 3. Stop on a silent PACS


def test_stop_ends_a_search_on_a_pacs_that_never_answers(qtbot, home, store) -> None:
    silent = SilentPeer()
    try:
        NodeBook(home).add(_node("hung", "HUNG", silent.port, connect_timeout=30.0,
                                 acse_timeout=30.0))
        panel = _panel(qtbot, home, store)
        panel.search_button.click()
        assert panel.querying and not panel.search_button.isEnabled()
        qtbot.wait(500)  # the association request is waiting for an answer
        assert len(silent.clients) == 1
        start = time.monotonic()
        panel.stop_button.click()
        # A hang bound (the ACSE timeout is 30 s), not a speed requirement.
        qtbot.waitUntil(lambda: not panel.querying, timeout=10000)
        assert time.monotonic() - start < 10
        assert panel.status_label.text() == "Stopped: 0 studies listed from hung"
        assert panel.status_label.property("error") is not True
        assert panel.search_button.isEnabled() and not panel.stop_button.isEnabled()
        assert panel.shutdown()
    finally:
        silent.close()


# ------------------------------- 4. a second application on the same home


def _listen(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "viewer", "--home", str(home), "listen"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_record(home: Path, proc: subprocess.Popen[str]) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        record = ListenerFile(home).read()
        if record is not None and record.pid == proc.pid:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("lightbox listen wrote no listener.json")


@pytest.fixture
def workstation_factory(qapp: object) -> Iterator[object]:
    from viewer.app import build_workstation

    built: list[object] = []

    def build(home: Path) -> object:
        ws = build_workstation(home, interactive=False)
        ws.window.show()
        built.append(ws)
        return ws

    yield build
    for ws in built:
        if ws.qr_panel is not None:  # type: ignore[attr-defined]
            ws.qr_panel.shutdown()  # type: ignore[attr-defined]
        ws.close()  # type: ignore[attr-defined]


def test_a_second_application_says_c_move_goes_through_the_first(
        qtbot, workstation_factory, tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir(mode=0o700)
    port = free_port()
    save_network_settings(home, NetworkSettings(ae_title="LIGHTBOX", port=port,
                                                bind_address="127.0.0.1",
                                                always_listen=True))
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    first = _listen(home)  # the first process of this home that listens
    try:
        _wait_for_record(home, first)
        ws = workstation_factory(home)
        listening = ws.listening
        assert listening.scp is None
        text = (f"Another Lightbox window of this home is listening on port {port} "
                f"(pid {first.pid}); C-MOVE goes through it")
        assert listening.status == text and not listening.error
        assert listening.label.toolTip() == text and listening.label.isVisible()
        assert "config set port" not in listening.label.text()
        # The first one's record stays: it still listens.
        assert ListenerFile(home).read().pid == first.pid
    finally:
        os.kill(first.pid, signal.SIGINT)
        first.communicate(timeout=30)
    # Once it is gone, this application takes over the port.
    qtbot.waitUntil(lambda: listening.scp is not None, timeout=WAIT_MS)
    assert listening.status == f"Listening as LIGHTBOX on port {port}"
    assert ListenerFile(home).read().pid == os.getpid()


def test_a_port_taken_by_something_else_is_still_an_error(workstation_factory,
                                                          tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir(mode=0o700)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        save_network_settings(home, NetworkSettings(ae_title="LIGHTBOX", port=port,
                                                    bind_address="127.0.0.1",
                                                    always_listen=True))
        NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
        # A record left by a process that is gone does not count.
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        (home / "listener.json").write_text(
            f'{{"pid": {dead.pid}, "ae_title": "LIGHTBOX", "port": {port}, "tls_port": 0}}')
        ws = workstation_factory(home)
    listening = ws.listening
    assert listening.scp is None and listening.error
    assert listening.status.startswith("Not listening for C-MOVE or pushed images: ")
    assert "lightbox config set port N" in listening.status


@pytest.mark.peer
def test_a_c_move_the_pacs_refuses_outright_is_marked_failed(qtbot, home, store, orthanc,
                                                             move_port) -> None:
    # Our AE title unknown to the PACS: nothing arrives, and the results' Status column
    # said "incomplete", as if part of the study had come.
    save_network_settings(home, NetworkSettings(ae_title="UNKNOWNAE", port=move_port,
                                                bind_address="127.0.0.1"))
    NodeBook(home).add(_node("orthanc", orthanc.aet, orthanc.port, method="move"))
    panel = _panel(qtbot, home, store)
    try:
        assert _search(qtbot, panel, "Smith, John") == {"LB-QB-1"}
        _select_all(panel)
        study_uid = panel.results_model.study_values(0)["StudyInstanceUID"]
        panel.retrieve_button.click()
        qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
        model = panel.results_model
        status = model.data(model.index(0, COLUMNS.index("Status")))
        assert status == "failed"
        assert "UNKNOWNAE" in panel.transfers.rows[study_uid].state_label.text()
        assert store.counts()["instances"] == 0
    finally:
        assert panel.shutdown()
