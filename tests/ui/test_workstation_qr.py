"""Query/retrieve inside the workstation: a study retrieved from a PACS on loopback appears
in the browser and opens in the viewer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.conftest import wait_until
from tests.ui.qr_peer import QRPeer
from tests.ui.test_viewport import _assert_matches_render
from viewer.net.nodes import NodeBook, NodeRecord

pytestmark = [pytest.mark.gui, pytest.mark.peer]


@pytest.fixture
def pacs(phantom) -> Iterator[QRPeer]:
    peer = QRPeer(phantom.paths)
    try:
        yield peer
    finally:
        peer.stop()


def _retrieve_the_only_study(qtbot, panel) -> None:
    """Search the PACS, select the one study found, and retrieve it."""
    panel.search_button.click()
    wait_until(qtbot, lambda: not panel.querying and panel.results_model.study_count() == 1)
    selection = panel.results_view.selectionModel()
    selection.select(panel.results_model.index(0, 0),
                     selection.SelectionFlag.Select | selection.SelectionFlag.Rows)
    panel.retrieve_button.click()


def test_retrieved_study_appears_in_the_browser(qtbot, qapp, home: Path, phantom, pacs,
                                                tmp_path):
    from viewer.app import build_workstation

    NodeBook(home).add(NodeRecord(name="pacs", called_aet=pacs.aet, host="127.0.0.1",
                                  port=pacs.port, method="get"))
    ws = build_workstation(home, interactive=False)
    try:
        ws.window.resize(1400, 900)
        ws.window.show()
        panel = ws.qr_panel
        assert ws.window.tabs.indexOf(panel) >= 0
        _retrieve_the_only_study(qtbot, panel)
        wait_until(qtbot, lambda: ws.browser.model.rowCount() == 1, timeout=60000)
        study = ws.browser.model.study(0)
        assert study.study_uid == phantom.study_uid
        assert study.number_of_instances == len(phantom.paths)
        # The PACS's count is kept: a retrieve cut short would show the study incomplete.
        wait_until(qtbot, lambda: ws.browser.model.study(0).expected_instances is not None)
        assert ws.browser.model.study(0).missing_instances == 0
        ws.browser.table.selectRow(0)
        ws.browser.open_selected()
        vp = ws.viewer.viewports[0]
        wait_until(qtbot, lambda: vp.series is not None and ws.viewer.all_first_frames_shown())
        vp.actual_size()
        _assert_matches_render(vp, tmp_path)
    finally:
        assert panel.shutdown()
        ws.close()


def test_a_study_being_retrieved_is_not_deleted_meanwhile(qtbot, qapp, home: Path, phantom,
                                                           pacs, monkeypatch):
    # The retrieve stored the rest of the study after the delete: it came back partial,
    # looking whole.
    from PySide6.QtWidgets import QMessageBox

    from viewer.app import build_workstation

    NodeBook(home).add(NodeRecord(name="pacs", called_aet=pacs.aet, host="127.0.0.1",
                                  port=pacs.port, method="get"))
    pacs.gate_after = 3
    told: list[str] = []
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda box: told.append(box.text()) or QMessageBox.StandardButton.Ok)
    ws = build_workstation(home, interactive=False)
    panel = ws.qr_panel
    try:
        _retrieve_the_only_study(qtbot, panel)
        wait_until(qtbot, lambda: ws.store.study(phantom.study_uid) is not None,
                   timeout=60000)
        ws.browser.refresh()
        ws.browser.table.selectRow(0)
        assert ws.browser.delete_selected(confirm=False) is None
        assert "being retrieved" in told[-1]
        assert ws.store.study(phantom.study_uid) is not None
        panel.cancel_all()
        wait_until(qtbot, panel.is_idle, timeout=60000)
        assert ws.browser.delete_selected(confirm=False) is not None
        wait_until(qtbot, lambda: not ws.browser.deleting)
        assert ws.store.study(phantom.study_uid) is None
    finally:
        assert panel.shutdown()
        ws.close()
