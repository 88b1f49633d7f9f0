"""The About box links to the Conformance Statement the project ships (PS3.2)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from viewer.ui.main_window import conformance_statement_path


def test_statement_is_found_in_the_source_tree() -> None:
    path = conformance_statement_path()
    assert path is not None
    assert path == Path(__file__).resolve().parents[2] / "docs" / "conformance-statement.md"
    assert "Conformance Statement" in path.read_text(encoding="utf-8")


def test_a_frozen_bundle_uses_its_own_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = tmp_path / "docs" / "conformance-statement.md"
    shipped.parent.mkdir()
    shipped.write_text("# DICOM Conformance Statement\n", encoding="utf-8")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert conformance_statement_path() == shipped
