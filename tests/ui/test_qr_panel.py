"""The query/retrieve panel against real peers on loopback: Orthanc, and a pynetdicom SCP
that can be slowed down to watch streaming and to cancel a retrieve mid-way.

The widgets are driven with pytest-qt; the network layer is the real one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox

from tests.support.peers import PeerProcess, free_port, start_orthanc, store_files
from tests.support.series import write_ct_series, write_study_set
from tests.ui.qr_peer import QRPeer
from viewer.core.settings import NetworkSettings, load_network_settings, save_network_settings
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.store import StudyStore
from viewer.ui.qr import QueryRetrieveWidget, build_qr_widget
from viewer.ui.qr.query_form import date_range
from viewer.ui.qr.results_model import person_name_text

pytestmark = [pytest.mark.gui, pytest.mark.peer]

WAIT_MS = 30000


@dataclass
class StudySet:
    """Files of the generated studies and, per study, its SOP Instance UIDs."""

    files: list[Path]
    instances: dict[str, set[str]]  # Study Instance UID -> SOP Instance UIDs
    series: dict[str, set[str]]  # Series Instance UID -> SOP Instance UIDs
    patient_study: dict[str, str]  # Patient ID -> Study Instance UID


def _index(files: list[Path]) -> StudySet:
    instances: dict[str, set[str]] = {}
    series: dict[str, set[str]] = {}
    patients: dict[str, str] = {}
    for path in files:
        ds = dcmread(path, stop_before_pixels=True)
        instances.setdefault(str(ds.StudyInstanceUID), set()).add(str(ds.SOPInstanceUID))
        series.setdefault(str(ds.SeriesInstanceUID), set()).add(str(ds.SOPInstanceUID))
        patients[str(ds.PatientID)] = str(ds.StudyInstanceUID)
    return StudySet(files, instances, series, patients)


@pytest.fixture(scope="module")
def study_set(tmp_path_factory: pytest.TempPathFactory) -> StudySet:
    """Five patients (ASCII, Latin-1, UTF-8 Japanese, Cyrillic, Greek names), one study of
    two series of two slices each, plus a study of today and one of ten days ago."""
    folder = tmp_path_factory.mktemp("qr-set")
    written = write_study_set(folder / "set", series_per_study=2, slices=2, rows=16, cols=16,
                              compressed=False)
    files = [p for s in written for p in s.paths]
    today = date.today()
    for key, day in (("TODAY", today), ("TENDAYS", today - timedelta(days=10))):
        files += write_ct_series(folder / key, slices=2, rows=16, cols=16,
                                 patient_name=f"{key}^PATIENT", patient_id=f"LB-{key}",
                                 study_date=day.strftime("%Y%m%d"),
                                 accession_number=f"ACC{key}")
    return _index(files)


@pytest.fixture(scope="module")
def move_port() -> int:
    """Our storage SCP's port, which Orthanc knows as C-MOVE destination LIGHTBOX."""
    return free_port()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory, study_set: StudySet, move_port: int
            ) -> Iterator[PeerProcess]:
    peer = start_orthanc(tmp_path_factory.mktemp("qr-orthanc"), aet="ORTHANC",
                         destinations={"LIGHTBOX": ("127.0.0.1", move_port)})
    try:
        store_files(peer, study_set.files)
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="module")
def slow_set(tmp_path_factory: pytest.TempPathFactory) -> StudySet:
    """Four one-image studies and one study of twelve images, for the pynetdicom peer."""
    folder = tmp_path_factory.mktemp("qr-slow")
    files: list[Path] = []
    for n in range(4):
        files += write_ct_series(folder / f"S{n}", slices=1, rows=16, cols=16,
                                 patient_name=f"SLOW^{n}", patient_id=f"LB-SLOW-{n}")
    files += write_ct_series(folder / "BIG", slices=12, rows=16, cols=16,
                             patient_name="BIG^STUDY", patient_id="LB-BIG")
    return _index(files)


@pytest.fixture
def qr_peer(slow_set: StudySet) -> Iterator[QRPeer]:
    peer = QRPeer(slow_set.files)
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def home(tmp_path: Path, move_port: int) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    # Our AE on loopback: nothing listens on this port unless a C-MOVE runs.
    save_network_settings(home, NetworkSettings(ae_title="LIGHTBOX", port=move_port,
                                                bind_address="127.0.0.1"))
    return home


@pytest.fixture
def store(home: Path) -> Iterator[StudyStore]:
    with StudyStore.open(home) as opened:
        yield opened


def _node(name: str, aet: str, port: int) -> NodeRecord:
    return NodeRecord(name=name, called_aet=aet, host="127.0.0.1", port=port, method="get",
                      connect_timeout=5.0, acse_timeout=10.0, dimse_timeout=30.0)


def _panel(qtbot: object, home: Path, store: StudyStore) -> QueryRetrieveWidget:
    panel = build_qr_widget(home, store)
    qtbot.addWidget(panel)  # type: ignore[attr-defined]
    panel.resize(1200, 700)
    panel.show()
    return panel


@pytest.fixture
def panel(qtbot: object, home: Path, store: StudyStore, orthanc: PeerProcess
          ) -> Iterator[QueryRetrieveWidget]:
    """The panel as the application builds it, with one node: the Orthanc peer."""
    NodeBook(home).add(_node("orthanc", orthanc.aet, orthanc.port))
    widget = _panel(qtbot, home, store)
    yield widget
    assert widget.shutdown()


@pytest.fixture
def slow_panel(qtbot: object, home: Path, store: StudyStore, qr_peer: QRPeer
               ) -> Iterator[QueryRetrieveWidget]:
    NodeBook(home).add(_node("slow", qr_peer.aet, qr_peer.port))
    widget = _panel(qtbot, home, store)
    yield widget
    assert widget.shutdown()


def _search(qtbot: object, panel: QueryRetrieveWidget) -> None:
    panel.search_button.click()
    qtbot.waitUntil(lambda: not panel.querying, timeout=WAIT_MS)  # type: ignore[attr-defined]


def _row_of(panel: QueryRetrieveWidget, patient_id: str) -> int:
    model = panel.results_model
    rows = [r for r in range(model.study_count())
            if model.study_values(r).get("PatientID") == patient_id]
    assert len(rows) == 1, f"{patient_id} listed {len(rows)} times"
    return rows[0]


def _shown(panel: QueryRetrieveWidget, row: int, column: int) -> str:
    model = panel.results_model
    return str(model.data(model.index(row, column)))


# --------------------------------------------------------------------------- nodes


def test_node_dialog_adds_a_node_and_tests_it(qtbot, home, store, orthanc):
    panel = _panel(qtbot, home, store)
    assert panel.current_node() is None
    assert not panel.search_button.isEnabled()
    panel.add_node_button.click()
    dialog = panel.node_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.name_edit.setText("orthanc")
    dialog.called_aet_edit.setText(orthanc.aet)
    dialog.host_edit.setText("127.0.0.1")
    dialog.port_spin.setValue(orthanc.port)
    dialog.method_combo.setCurrentIndex(dialog.method_combo.findData("get"))

    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.testing, timeout=WAIT_MS)
    assert dialog.echo_label.text().startswith("C-ECHO ok"), dialog.echo_label.text()
    assert "round trip" in dialog.echo_label.text()

    closed = free_port()
    dialog.port_spin.setValue(closed)
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.testing, timeout=WAIT_MS)
    text = dialog.echo_label.text()
    assert "nothing accepts connections" in text and f"127.0.0.1:{closed}" in text, text

    dialog.port_spin.setValue(orthanc.port)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: panel.node_dialog is None or not dialog.isVisible())
    saved = NodeBook(home).get("orthanc")
    assert (saved.called_aet, saved.port, saved.method) == (orthanc.aet, orthanc.port, "get")
    assert panel.current_node() == saved
    assert panel.search_button.isEnabled()

    panel.echo_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    assert "C-ECHO ok" in panel.status_label.text()
    assert panel.shutdown()


def test_node_dialog_refuses_a_taken_name_and_a_bad_ae_title(qtbot, panel):
    dialog = panel.add_node()
    dialog.name_edit.setText("orthanc")
    dialog.called_aet_edit.setText("PACS")
    dialog.host_edit.setText("127.0.0.1")
    dialog.buttons.accepted.emit()
    assert dialog.isVisible() and "exists" in dialog.error_label.text()
    dialog.name_edit.setText("second")
    dialog.called_aet_edit.setText("BAD\\AET")
    dialog.buttons.accepted.emit()
    assert dialog.isVisible() and "AE title" in dialog.error_label.text()
    assert "second" not in NodeBook(panel.nodes.path.parent)


def test_edit_renames_a_node_and_remove_forgets_it(qtbot, panel, home, orthanc):
    dialog = panel.edit_node()
    assert dialog is not None and dialog.name_edit.text() == "orthanc"
    assert dialog.port_spin.value() == orthanc.port
    dialog.name_edit.setText("main")
    dialog.dimse_timeout_spin.setValue(90.0)
    dialog.buttons.accepted.emit()
    book = NodeBook(home)
    assert "orthanc" not in book and book.get("main").dimse_timeout == 90.0
    assert panel.current_node() == book.get("main")
    panel.remove_node(confirm=False)
    assert len(NodeBook(home)) == 0 and panel.current_node() is None
    assert not panel.search_button.isEnabled() and not panel.echo_button.isEnabled()


def test_our_ae_dialog_saves_the_settings(qtbot, panel, home, move_port):
    assert panel.local_label.text() == f"we are AE LIGHTBOX, C-MOVE port {move_port}"
    panel.local_button.click()
    dialog = panel.local_dialog
    assert dialog is not None
    dialog.ae_title_edit.setText("READING1")
    dialog.port_spin.setValue(11999)
    dialog.buttons.accepted.emit()
    saved = load_network_settings(home)
    assert (saved.ae_title, saved.port, saved.bind_address) == ("READING1", 11999, "127.0.0.1")
    assert panel.local_label.text() == "we are AE READING1, C-MOVE port 11999"


def test_unreachable_node_shows_the_explanation(qtbot, home, store):
    closed = free_port()
    NodeBook(home).add(_node("gone", "GONE", closed))
    panel = _panel(qtbot, home, store)
    _search(qtbot, panel)
    text = panel.status_label.text()
    assert panel.status_label.property("error") is True
    assert "nothing accepts connections" in text and str(closed) in text, text
    assert panel.results_model.study_count() == 0
    # The failed search leaves the buttons ready for another one.
    assert panel.search_button.isEnabled() and not panel.stop_button.isEnabled()
    assert panel.shutdown()


# --------------------------------------------------------------------------- query


def test_query_lists_every_study_with_non_latin_names(qtbot, panel, study_set):
    _search(qtbot, panel)
    model = panel.results_model
    assert model.study_count() == len(study_set.instances)
    assert {model.study_values(r)["StudyInstanceUID"] for r in range(model.study_count())} \
        == set(study_set.instances)
    assert "found on orthanc" in panel.status_label.text()
    japanese = _shown(panel, _row_of(panel, "LB-TEST-0103"), 0)
    assert "Yamada" in japanese and "山田" in japanese and "やまだ" in japanese, japanese
    assert "Müller" in _shown(panel, _row_of(panel, "LB-TEST-0102"), 0)
    assert "Иванов" in _shown(panel, _row_of(panel, "LB-TEST-0104"), 0)
    assert "Παπαδόπουλος" in _shown(panel, _row_of(panel, "LB-TEST-0105"), 0)

    panel.form.patient_name_edit.setText("Yam*")
    _search(qtbot, panel)
    assert model.study_count() == 1
    assert model.study_values(0)["PatientID"] == "LB-TEST-0103"

    # The same patient by the ideographic and the phonetic group of the name.
    for typed in ("山田", "やまだ", "山田 太郎"):
        panel.form.patient_name_edit.setText(typed)
        _search(qtbot, panel)
        assert [model.study_values(r)["PatientID"] for r in range(model.study_count())] == [
            "LB-TEST-0103"], typed


def test_results_sort_and_keep_selection_and_series(qtbot, panel, study_set):
    _search(qtbot, panel)
    model, view = panel.results_model, panel.results_view
    dates = [model.study_values(r)["StudyDate"] for r in range(model.study_count())]
    assert dates == sorted(dates, reverse=True)  # newest first by default

    muller = study_set.patient_study["LB-TEST-0102"]
    index = model.index(model.study_row(muller), 0)
    view.expand(index)
    qtbot.waitUntil(lambda: model.rowCount(index) == 2, timeout=WAIT_MS)
    selection = view.selectionModel()
    selection.select(index, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)

    view.sortByColumn(1, Qt.SortOrder.AscendingOrder)  # a click on "Patient ID"
    ids = [model.study_values(r)["PatientID"] for r in range(model.study_count())]
    assert ids == sorted(ids)
    moved = model.index(model.study_row(muller), 0)
    assert [r.study_uid for r in panel.selected_requests()] == [muller]
    assert view.isExpanded(moved) and model.rowCount(moved) == 2
    series = {model.series_of(model.index(r, 0, moved))["SeriesInstanceUID"] for r in range(2)}
    assert series == {s["SeriesInstanceUID"] for s in model.series_values(muller)}
    assert all(study_set.series[uid] <= study_set.instances[muller] for uid in series)


@pytest.mark.parametrize(("choice", "patients"), [
    ("today", {"LB-TODAY"}),
    ("yesterday", set()),
    ("last7", {"LB-TODAY"}),
    ("last30", {"LB-TODAY", "LB-TENDAYS"}),
])
def test_date_quick_choices_filter_the_query(qtbot, panel, choice, patients):
    panel.form.set_date_choice(choice)
    _search(qtbot, panel)
    model = panel.results_model
    found = {model.study_values(r)["PatientID"] for r in range(model.study_count())}
    assert found == patients


def test_date_range_values():
    today = date(2024, 3, 10)
    assert date_range("any", today) == ""
    assert date_range("today", today) == "20240310"
    assert date_range("yesterday", today) == "20240309"
    assert date_range("last7", today) == "20240304-20240310"
    assert date_range("last30", today) == "20240210-20240310"
    assert date_range("range", today, date(2024, 1, 5), date(2024, 1, 1)) == "20240101-20240105"
    assert date_range("range", today, None, date(2024, 1, 1)) == "-20240101"


def test_person_name_display():
    assert person_name_text("Yamada^Tarou=山田^太郎") == "Yamada, Tarou = 山田, 太郎"
    assert person_name_text("DOE") == "DOE"
    assert person_name_text("") == ""


def test_drill_down_lists_the_series(qtbot, panel, study_set):
    panel.form.patient_id_edit.setText("LB-TEST-0102")
    _search(qtbot, panel)
    model = panel.results_model
    assert model.study_count() == 1
    study_uid = model.study_values(0)["StudyInstanceUID"]
    index = model.index(0, 0)
    assert model.hasChildren(index) and model.rowCount(index) == 0
    view = panel.results_view
    where = view.visualRect(index).center()
    # A double-click as the window system delivers it: press, release, double-click.
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: model.rowCount(index) == 2, timeout=WAIT_MS)
    series = model.series_values(study_uid)
    wanted = {uid for uid, sops in study_set.series.items()
              if sops <= study_set.instances[study_uid]}
    assert {s["SeriesInstanceUID"] for s in series} == wanted
    assert [_shown_child(panel, index, r, 0) for r in range(2)] == ["Series 1", "Series 2"]
    assert {_shown_child(panel, index, r, 3) for r in range(2)} == {"CT"}


def _shown_child(panel: QueryRetrieveWidget, parent: object, row: int, column: int) -> str:
    model = panel.results_model
    return str(model.data(model.index(row, column, parent)))


# ------------------------------------------------------------------------ retrieve


def test_retrieve_a_study_fills_the_store(qtbot, panel, store, study_set):
    panel.form.patient_id_edit.setText("LB-TEST-0105")
    _search(qtbot, panel)
    study_uid = study_set.patient_study["LB-TEST-0105"]
    panel.results_view.selectionModel().select(
        panel.results_model.index(0, 0),
        panel.results_view.selectionModel().SelectionFlag.Select
        | panel.results_view.selectionModel().SelectionFlag.Rows)
    with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS) as signal:
        panel.retrieve_button.click()
    assert signal.args == [[study_uid]]
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    row = panel.transfers.rows[study_uid]
    assert row.progress_bar.value() == 100
    assert row.state_label.text().startswith("done"), row.state_label.text()
    assert [s.study_uid for s in store.studies()] == [study_uid]
    assert store.counts()["instances"] == len(study_set.instances[study_uid])
    assert store.has_instances(study_set.instances[study_uid]) == study_set.instances[study_uid]
    assert _shown(panel, 0, 8) == "retrieved"


def test_retrieve_one_series_of_a_study(qtbot, panel, store, study_set):
    panel.form.patient_id_edit.setText("LB-TEST-0101")
    _search(qtbot, panel)
    model = panel.results_model
    study_uid = study_set.patient_study["LB-TEST-0101"]
    index = model.index(0, 0)
    panel.results_view.expand(index)
    qtbot.waitUntil(lambda: model.rowCount(index) == 2, timeout=WAIT_MS)
    child = model.index(1, 0, index)
    series_uid = model.series_of(child)["SeriesInstanceUID"]
    selection = panel.results_view.selectionModel()
    selection.select(child, selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS):
        panel.retrieve_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    assert store.counts()["instances"] == len(study_set.series[series_uid])
    assert [s.series_uid for s in store.series(study_uid)] == [series_uid]


def test_retrieve_by_c_move(qtbot, home, store, orthanc, study_set):
    NodeBook(home).add(replace(_node("orthanc", orthanc.aet, orthanc.port), method="move"))
    panel = _panel(qtbot, home, store)
    panel.form.patient_id_edit.setText("LB-TEST-0104")
    _search(qtbot, panel)
    study_uid = study_set.patient_study["LB-TEST-0104"]
    selection = panel.results_view.selectionModel()
    selection.select(panel.results_model.index(0, 0),
                     selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS) as signal:
        panel.retrieve_button.click()
    assert signal.args == [[study_uid]]
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    text = panel.transfers.rows[study_uid].state_label.text()
    assert text == f"done: {len(study_set.instances[study_uid])} images by C-MOVE", text
    assert store.has_instances(study_set.instances[study_uid]) == study_set.instances[study_uid]
    assert [s.study_uid for s in store.studies()] == [study_uid]
    assert panel.shutdown()


def test_cancel_a_retrieve_midway_keeps_what_arrived(qtbot, slow_panel, qr_peer, store,
                                                     slow_set):
    panel = slow_panel
    qr_peer.gate_after = 5
    panel.form.patient_id_edit.setText("LB-BIG")
    _search(qtbot, panel)
    study_uid = slow_set.patient_study["LB-BIG"]
    wanted = slow_set.instances[study_uid]
    selection = panel.results_view.selectionModel()
    selection.select(panel.results_model.index(0, 0),
                     selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    retrieved: list[list[str]] = []
    panel.studies_retrieved.connect(retrieved.append)
    panel.retrieve_button.click()
    qtbot.waitUntil(lambda: len(store.has_instances(wanted)) == 5, timeout=WAIT_MS)
    row = panel.transfers.rows[study_uid]
    assert 0 < row.progress_bar.value() < 100
    assert not panel.is_idle()
    row.cancel_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    assert qr_peer.cancels == 1
    # What was stored is counted, not the PACS's last counter.
    assert row.state_label.text() == "cancelled after 5 instances; what arrived is kept"
    assert panel.status_label.text() == "Retrieve cancelled after 5 instances; what arrived is kept"
    assert len(store.has_instances(wanted)) == 5  # partial data kept
    assert retrieved == [[study_uid]]
    assert panel.retrieve_button.isEnabled() and not panel.cancel_all_button.isEnabled()
    assert _shown(panel, 0, 8) == "cancelled"

    # Retrieving again fetches only what is missing.
    qr_peer.gate_after = None
    with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS):
        panel.retrieve_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    assert store.has_instances(wanted) == wanted
    text = panel.transfers.rows[study_uid].state_label.text()
    assert text == "done: 7 images by C-GET, 5 were already here", text


def test_cancel_all_stops_the_running_and_the_queued_retrieve(qtbot, slow_panel, qr_peer,
                                                              store, slow_set):
    panel = slow_panel
    qr_peer.gate_after = 2
    _search(qtbot, panel)
    model = panel.results_model
    big = slow_set.patient_study["LB-BIG"]
    small = slow_set.patient_study["LB-SLOW-0"]
    selection = panel.results_view.selectionModel()
    for uid in (big, small):
        selection.select(model.index(model.study_row(uid), 0),
                         selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    panel.retrieve_button.click()
    assert set(panel.transfers.rows) == {big, small}
    qtbot.waitUntil(lambda: len(store.has_instances(slow_set.instances[big])) == 2,
                    timeout=WAIT_MS)
    assert panel.cancel_all_button.isEnabled()
    panel.cancel_all_button.click()
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    for uid in (big, small):
        assert "cancelled" in panel.transfers.rows[uid].state_label.text()
    assert store.counts()["instances"] == 2  # the queued study never started
    panel.clear_button.click()
    assert panel.transfers.rows == {}


def test_results_stream_in_while_the_gui_keeps_running(qtbot, slow_panel, qr_peer, slow_set):
    panel = slow_panel
    qr_peer.study_delay = 0.15
    counts: list[tuple[bool, int]] = []
    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(lambda: counts.append((panel.querying,
                                                 panel.results_model.study_count())))
    timer.start()
    try:
        _search(qtbot, panel)
    finally:
        timer.stop()
    total = len(slow_set.instances)
    assert panel.results_model.study_count() == total
    during = [n for querying, n in counts if querying]
    # The event loop ran while the PACS was still answering, and showed partial results.
    assert any(0 < n < total for n in during), counts
    assert len(set(during)) >= 3


def test_stop_keeps_the_matches_so_far(qtbot, slow_panel, qr_peer, slow_set):
    panel = slow_panel
    qr_peer.study_delay = 0.3
    panel.search_button.click()
    qtbot.waitUntil(lambda: panel.results_model.study_count() >= 1, timeout=WAIT_MS)
    panel.stop_button.click()
    qtbot.waitUntil(lambda: not panel.querying, timeout=WAIT_MS)
    assert qr_peer.cancels == 1
    assert 1 <= panel.results_model.study_count() < len(slow_set.instances)
    assert panel.status_label.text().startswith("Stopped")


# -- nodes.toml shared with the command line and hand edits ---------------------------------
def _fill(dialog: Any, name: str, aet: str, port: int) -> None:
    dialog.name_edit.setText(name)
    dialog.called_aet_edit.setText(aet)
    dialog.host_edit.setText("127.0.0.1")
    dialog.port_spin.setValue(port)


def test_a_node_added_by_another_program_is_listed_and_kept(qtbot, home, store):
    NodeBook(home).add(_node("first", "FIRST", 11112))
    panel = _panel(qtbot, home, store)
    NodeBook(home).add(_node("second", "SECOND", 11113))  # lightbox node add, meanwhile
    panel.reload_nodes()
    names = [panel.node_bar.node_combo.itemData(i)
             for i in range(panel.node_bar.node_combo.count())]
    assert names == ["first", "second"]
    NodeBook(home).add(_node("fourth", "FOURTH", 11115))  # and again, unseen by the panel
    dialog = panel.add_node()
    _fill(dialog, "third", "THIRD", 11114)
    dialog.buttons.accepted.emit()
    assert not dialog.isVisible()
    assert [n.name for n in NodeBook(home)] == ["first", "fourth", "second", "third"]
    panel.remove_node(confirm=False)  # "third", selected after its save
    assert [n.name for n in NodeBook(home)] == ["first", "fourth", "second"]
    assert panel.shutdown()


def test_a_save_the_file_refuses_keeps_the_dialog_and_what_was_typed(qtbot, home, store):
    panel = _panel(qtbot, home, store)
    # where nodes.toml's new version is written, a folder: the write fails as on a
    # read-only home (root writes through permissions)
    blocker = home / f"nodes.toml.{os.getpid()}.tmp"
    blocker.mkdir()
    dialog = panel.add_node()
    _fill(dialog, "pacs", "PACS", 11112)
    dialog.buttons.accepted.emit()
    assert dialog.isVisible() and "cannot be written" in dialog.error_label.text()
    assert dialog.name_edit.text() == "pacs" and len(NodeBook(home)) == 0
    assert panel.node_bar.node_combo.count() == 0
    blocker.rmdir()
    dialog.buttons.accepted.emit()
    assert not dialog.isVisible() and NodeBook(home).get("pacs").called_aet == "PACS"
    assert panel.shutdown()


def test_a_typo_in_nodes_toml_is_said_and_the_file_kept(qtbot, home, store):
    typo = '[pacs]\ncalled_aet = "PACS"\nhost = "127.0.0.1"\nport = 104\n[second\n'
    (home / "nodes.toml").write_text(typo)
    panel = _panel(qtbot, home, store)  # the workstation still starts
    assert panel.status_label.property("error") is True
    assert "nodes.toml" in panel.status_label.text()
    assert "not valid TOML" in panel.status_label.text()
    dialog = panel.add_node()
    _fill(dialog, "other", "OTHER", 11112)
    dialog.buttons.accepted.emit()
    assert dialog.isVisible() and "correct the file" in dialog.error_label.text()
    assert (home / "nodes.toml").read_text() == typo  # nothing the user wrote is lost
    dialog.reject()
    assert panel.shutdown()


def test_a_match_that_changes_is_sorted_by_its_new_value(qtbot):
    # The sort keys are kept between batches: one a PACS reports again with another
    # count must move, not stay where its first count put it.
    from viewer.ui.qr.results_model import COLUMNS, StudyResultsTreeModel

    model = StudyResultsTreeModel()
    model.sort(COLUMNS.index("Images"), Qt.SortOrder.AscendingOrder)
    model.add_studies([{"StudyInstanceUID": uid, "NumberOfStudyRelatedInstances": n}
                       for uid, n in (("1.1", 30), ("1.2", 10), ("1.3", 20))])
    assert [model.study_values(r)["StudyInstanceUID"] for r in range(3)] == ["1.2", "1.3",
                                                                             "1.1"]
    model.add_studies([{"StudyInstanceUID": "1.2", "NumberOfStudyRelatedInstances": 40},
                       {"StudyInstanceUID": "1.4", "NumberOfStudyRelatedInstances": 25}])
    assert [model.study_values(r)["StudyInstanceUID"] for r in range(4)] == [
        "1.3", "1.4", "1.1", "1.2"]


def _synthetic_matches(peer: QRPeer, count: int) -> None:
    for n in range(count):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.PatientName = ["SMITH^JOHN", "Müller^Jürgen", "Иванов^Иван"][n % 3]
        ds.PatientID = f"PID{n:05d}"
        ds.StudyDate = f"20{10 + n % 15:02d}{1 + n % 12:02d}{1 + n % 28:02d}"
        ds.StudyTime = "120000"
        ds.AccessionNumber = f"A{n}"
        ds.StudyDescription = "CT CHEST"
        ds.StudyInstanceUID = f"2.25.555{n}"
        peer.datasets.append(ds)


def test_thousands_of_matches_are_listed_in_few_steps(qtbot, home, store):
    # Each listing re-sorts the list and Qt lays out every row again: listed a batch at
    # a time as they came, 5,000 matches left the window frozen most of the search.
    peer = QRPeer([])
    _synthetic_matches(peer, 1500)
    try:
        NodeBook(home).add(_node("many", peer.aet, peer.port))
        panel = _panel(qtbot, home, store)
        listings: list[int] = []
        panel.results_model.rowsInserted.connect(
            lambda parent, first, last: listings.append(last - first + 1)
            if not parent.isValid() else None)
        panel.search_button.click()
        batches: list[int] = []
        panel._query.signals.matches.connect(lambda tag, batch: batches.append(len(batch)))
        qtbot.waitUntil(lambda: not panel.querying, timeout=WAIT_MS)
        assert panel.results_model.study_count() == 1500 == sum(listings)
        assert panel.status_label.text() == "1500 studies found on many"
        assert len(listings) < len(batches), (listings, batches)
        assert panel.shutdown()
    finally:
        peer.stop()


def test_matches_that_arrive_together_are_listed_once(qtbot, home, store):
    panel = _panel(qtbot, home, store)
    listings: list[int] = []
    panel.results_model.rowsInserted.connect(
        lambda parent, first, last: listings.append(last - first + 1))
    tag = str(panel._generation)  # as the current study query's worker tags its batches
    for start in (0, 50, 100):
        panel._on_matches(tag, [{"StudyInstanceUID": f"2.25.{n}", "PatientID": f"P{n}"}
                                for n in range(start, start + 50)])
    assert panel.results_model.study_count() == 0  # gathered, not yet listed
    qtbot.waitUntil(lambda: panel.results_model.study_count() == 150, timeout=WAIT_MS)
    assert listings == [150]
    assert panel.shutdown()


def test_several_retrieves_are_tallied_and_the_newest_row_is_in_sight(
        qtbot, panel, store, study_set):
    _search(qtbot, panel)
    model = panel.results_model
    selection = panel.results_view.selectionModel()
    for row in range(model.study_count()):
        selection.select(model.index(row, 0),
                         selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    panel.retrieve_button.click()
    # The row just added is the one shown, not the first ones of the list.
    area = panel.transfers
    newest = list(area.rows.values())[-1]

    def newest_in_sight() -> bool:
        top = newest.mapTo(area.widget(), newest.rect().topLeft()).y()
        shown = area.verticalScrollBar().value()
        return shown <= top and top + newest.height() <= shown + area.viewport().height()

    qtbot.waitUntil(lambda: area.widget().height() > 2 * area.viewport().height(),
                    timeout=WAIT_MS)  # the list scrolls
    qtbot.waitUntil(newest_in_sight, timeout=5000)
    qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
    total = sum(len(uids) for uids in study_set.instances.values())
    assert store.counts()["instances"] == total
    # The line counts every retrieve, not only the last one's images.
    assert panel.status_label.text() == (
        f"{len(study_set.instances)} retrieves ended: {total} images retrieved")
