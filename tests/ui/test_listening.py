"""The workstation's always-on storage SCP (``always-listen``): status bar, store, C-MOVE
from the Q/R panel into it, node changes, the listener record, and a taken port."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.support.peers import PEER_ENV, PynetdicomPeer, free_port
from tests.ui.conftest import wait_until
from viewer.core.settings import NetworkSettings, save_network_settings
from viewer.net.listener import ListenerFile
from viewer.net.nodes import NodeBook, NodeRecord
from viewer.net.retrieve import RetrieveRequest

pytestmark = [pytest.mark.gui, pytest.mark.peer]

WAIT_MS = 30000


def _settings(home: Path, port: int, always: bool = True) -> NetworkSettings:
    local = NetworkSettings(ae_title="LIGHTBOX", port=port, bind_address="127.0.0.1",
                            always_listen=always)
    save_network_settings(home, local)
    return local


@pytest.fixture
def workstation_factory(qapp: object) -> Iterator[object]:
    from viewer.app import build_workstation

    built: list[object] = []

    def build(home: Path) -> object:
        ws = build_workstation(home, interactive=False)
        ws.window.resize(1200, 800)
        ws.window.show()
        built.append(ws)
        return ws

    yield build
    for ws in built:
        if ws.qr_panel is not None:  # type: ignore[attr-defined]
            ws.qr_panel.shutdown()  # type: ignore[attr-defined]
        ws.close()  # type: ignore[attr-defined]


def _storescu(aet: str, port: int, files: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["storescu", "-aet", aet, "-aec", "LIGHTBOX", "127.0.0.1", str(port),
                           *map(str, files)], env=PEER_ENV, capture_output=True, text=True)


def test_it_listens_from_start_to_quit_and_fills_the_browser(
        qtbot, workstation_factory, home: Path, phantom) -> None:
    port = free_port()
    _settings(home, port)
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    ws = workstation_factory(home)
    listening = ws.listening
    assert listening.scp is not None and listening.scp.port == port
    assert listening.label.isVisible()
    assert listening.label.text() == f"Listening as LIGHTBOX on port {port}"
    record = ListenerFile(home).read()
    assert record is not None and (record.pid, record.port) == (os.getpid(), port)

    sent = _storescu("CTSCANNER", port, phantom.paths)
    assert sent.returncode == 0, sent.stderr
    wait_until(qtbot, lambda: ws.browser.model.rowCount() == 1, timeout=WAIT_MS)
    assert ws.browser.model.study(0).study_uid == phantom.study_uid
    assert _storescu("STRANGER", port, phantom.paths[:1]).returncode != 0

    # A node added in the panel's node book may send at once; a removed one may not.
    panel = ws.qr_panel
    panel.nodes.add(NodeRecord("late", "LATECOMER", "127.0.0.1", 104))
    panel.node_bar.reload_nodes()
    assert _storescu("LATECOMER", port, phantom.paths[:1]).returncode == 0
    panel.nodes.remove("modality")
    panel.node_bar.reload_nodes()
    assert _storescu("CTSCANNER", port, phantom.paths[:1]).returncode != 0

    ws.close()
    assert listening.scp is None and not (home / "listener.json").exists()
    with socket.socket() as s:
        # The port is free again: nothing listens on it. SO_REUSEADDR, as our SCP binds
        # (pynetdicom's server): connections our side closed first may stay in TIME_WAIT
        # on this port for a minute, and a plain bind failed on them in one run of ten.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(1)


def test_a_taken_port_is_shown_in_the_status_bar(qtbot, workstation_factory,
                                                  home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        _settings(home, port)
        NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
        ws = workstation_factory(home)
    label = ws.listening.label
    assert ws.listening.scp is None and ws.listening.error
    assert label.isVisible()
    assert label.text().startswith("Not listening for C-MOVE or pushed images: ")
    assert "cannot listen for C-MOVE" in label.toolTip()
    assert "Our AE... in the Query/Retrieve tab, or lightbox config set port N" in label.toolTip()
    assert not (home / "listener.json").exists()


def test_without_always_listen_nothing_listens(workstation_factory, home: Path) -> None:
    port = free_port()
    _settings(home, port, always=False)
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    ws = workstation_factory(home)
    assert ws.listening.scp is None and not ws.listening.label.isVisible()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_panel_c_move_goes_into_the_running_scp(qtbot, workstation_factory, home: Path,
                                                phantom) -> None:
    port = free_port()
    _settings(home, port)
    peer = PynetdicomPeer(phantom.paths, offer_get=False,
                          destinations={"LIGHTBOX": ("127.0.0.1", port)})
    try:
        NodeBook(home).add(NodeRecord("pacs", peer.aet, "127.0.0.1", peer.port,
                                      method="move"))
        ws = workstation_factory(home)
        scp = ws.listening.scp
        assert scp is not None and scp.connections == 0
        panel = ws.qr_panel
        with qtbot.waitSignal(panel.studies_retrieved, timeout=WAIT_MS):
            panel.start_retrieve(RetrieveRequest(phantom.study_uid))
        qtbot.waitUntil(lambda: panel.is_idle(), timeout=WAIT_MS)
        text = panel.transfers.rows[phantom.study_uid].state_label.text()
        assert text == f"done: {len(phantom.paths)} images by C-MOVE", text
        # The PACS connected to the always-on SCP, which still runs on its port.
        assert scp.connections >= 1 and scp.running and ws.listening.scp is scp
        uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                for p in phantom.paths}
        assert ws.store.has_instances(uids) == uids
    finally:
        peer.stop()


def test_our_ae_dialog_turns_it_on_and_moves_it(qtbot, workstation_factory,
                                                home: Path) -> None:
    _settings(home, free_port(), always=False)
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    ws = workstation_factory(home)
    assert ws.listening.scp is None
    panel = ws.qr_panel
    for port in (free_port(), free_port()):
        panel.local_button.click()
        dialog = panel.local_dialog
        dialog.always_check.setChecked(True)
        dialog.port_spin.setValue(port)
        dialog.buttons.accepted.emit()
        scp = ws.listening.scp
        assert scp is not None and scp.port == port
        assert ws.listening.label.text() == f"Listening as LIGHTBOX on port {port}"
        assert ListenerFile(home).read().port == port
    panel.local_button.click()
    panel.local_dialog.always_check.setChecked(False)
    panel.local_dialog.buttons.accepted.emit()
    assert ws.listening.scp is None and not ws.listening.label.isVisible()
    assert not (home / "listener.json").exists()


def test_the_panel_names_our_tls_port_for_a_tls_node(workstation_factory, home: Path) -> None:
    _settings(home, 11113, always=False)
    NodeBook(home).add(NodeRecord("secure", "PACS", "127.0.0.1", 2762, tls_ca="/ca.pem"))
    NodeBook(home).add(NodeRecord("plain", "PACS", "127.0.0.1", 104))
    ws = workstation_factory(home)
    panel = ws.qr_panel
    panel.select_node("secure")
    assert panel.local_label.text() == "we are AE LIGHTBOX, C-MOVE port 2762 (DICOM TLS)"
    panel.select_node("plain")
    assert panel.local_label.text() == "we are AE LIGHTBOX, C-MOVE port 11113"


def test_pushes_the_store_refuses_are_said_in_the_status_bar(qtbot, workstation_factory,
                                                             home: Path, phantom,
                                                             tmp_path: Path) -> None:
    # A modality's corrected re-send (same SOP Instance UID, another name) is answered
    # Success and kept aside; the window showed the old data and said nothing.
    import pydicom

    port = free_port()
    _settings(home, port)
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    ws = workstation_factory(home)
    listening = ws.listening
    assert _storescu("CTSCANNER", port, phantom.paths[:1]).returncode == 0
    wait_until(qtbot, lambda: ws.browser.model.rowCount() == 1, timeout=WAIT_MS)
    corrected = pydicom.dcmread(phantom.paths[0])
    corrected.PatientName = "DOE^JANET"
    resent = tmp_path / "corrected.dcm"
    corrected.save_as(resent)
    assert _storescu("CTSCANNER", port, [resent]).returncode == 0  # Success, as before
    wait_until(qtbot, lambda: listening.error, timeout=WAIT_MS)
    assert "1 received image was not imported, kept in" in listening.status
    assert "different content" in listening.status
    assert listening.label.toolTip() and "#e06060" in listening.label.styleSheet()


def test_saving_our_ae_while_retrieves_run_asks_first(workstation_factory, home: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Saving restarted the storage SCP under a C-MOVE without a word: the retrieve then
    # said the PACS failed, although a quarter of the images had arrived.
    from PySide6.QtWidgets import QMessageBox

    from viewer.core.settings import load_network_settings

    port = free_port()
    _settings(home, port)
    NodeBook(home).add(NodeRecord("modality", "CTSCANNER", "127.0.0.1", 104))
    ws = workstation_factory(home)
    panel = ws.qr_panel
    assert panel.node_bar.retrieves_running() == len(panel._retrieves) == 0
    panel.node_bar.retrieves_running = lambda: 1  # a C-MOVE under way
    asked: list[str] = []
    answer = QMessageBox.StandardButton.No

    def ask(box: QMessageBox) -> int:
        asked.append(box.text())
        return answer.value

    monkeypatch.setattr(QMessageBox, "exec", ask)
    moved = free_port()
    for expected in (port, moved):
        panel.local_button.click()
        panel.local_dialog.port_spin.setValue(moved)
        panel.local_dialog.buttons.accepted.emit()
        assert "1 retrieve is running" in asked[-1]
        assert ws.listening.scp.port == expected
        assert load_network_settings(home).port == expected
        answer = QMessageBox.StandardButton.Yes
    assert len(asked) == 2
