"""An RT Dose in the viewer: probe, ROI and window read in Gy (PS3.3 C.8.8.3), frame by frame."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QPoint, Qt

from tests.support.testdata import test_file
from tests.ui.conftest import render_cli, wait_until
from viewer.render.annotations import LOWER_RIGHT
from viewer.render.measure import roi_mask

pytestmark = pytest.mark.gui


def _dose_in_gy(tmp_path: Path) -> Path:
    """pydicom's rtdose.dcm (Dose Units RELATIVE) with Dose Units GY."""
    ds = pydicom.dcmread(test_file("rtdose.dcm"))
    ds.DoseUnits = "GY"
    path = tmp_path / "rtdose_gy.dcm"
    ds.save_as(path)
    return path


def _open(qtbot, workstation, path: Path):
    workstation.controller.open_paths([str(path)])
    viewer = workstation.viewer
    wait_until(qtbot, lambda: viewer.viewports[0].series is not None
               and viewer.all_first_frames_shown())
    vp = viewer.viewports[0]
    vp.actual_size()
    return vp


def _show(qtbot, vp, index: int) -> None:
    vp.set_index(index)
    wait_until(qtbot, lambda: vp._shown_index == index)


def _display(vp, col: float, row: float) -> tuple[float, float]:
    x, y = vp.view.transform.image_to_display([(col, row)])[0]
    return float(x), float(y)


def _canvas_point(vp, col: float, row: float) -> QPoint:
    x, y = _display(vp, col, row)
    ratio = vp.canvas.devicePixelRatioF()
    return QPoint(int(x / ratio), int(y / ratio))


def test_probe_roi_and_window_are_doses_in_gy_on_every_frame(
        qtbot, workstation, tmp_path) -> None:
    from viewer.ui.viewer.tools import Tool

    path = _dose_in_gy(tmp_path)
    reference = pydicom.dcmread(path)
    scaling = float(reference.DoseGridScaling)
    stored_frames = reference.pixel_array  # (frames, rows, columns), pydicom's decode
    vp = _open(qtbot, workstation, path)
    assert len(vp.series) == int(reference.NumberOfFrames) > 1

    for index in (0, len(vp.series) // 2, len(vp.series) - 1):
        _show(qtbot, vp, index)
        stored = stored_frames[vp.series.refs[index].frame]
        doses = stored.astype(np.float64) * scaling

        # pixel probe: stored value and its dose at a known pixel
        col, row = 6, 3
        text = vp.measure.probe_text(_display(vp, col, row))
        match = re.fullmatch(rf"\({col}, {row}\)  SV (\d+)  (\S+) Gy", text or "")
        assert match, text
        assert int(match[1]) == int(stored[row, col])
        assert float(match[2]) == pytest.approx(float(stored[row, col]) * scaling, rel=5e-3)

        # the automatic window (the file has none) spans the frame's doses, and the corner
        # says so in Gy: LINEAR_EXACT bounds c -/+ w / 2, PS3.3 C.11.2.1.3.2
        corner = vp.annotations.corner_text(LOWER_RIGHT)
        found = re.search(r"W (\S+) C (\S+)", corner)
        assert found, corner
        width, center = float(found[1]), float(found[2])
        assert center - width / 2.0 == pytest.approx(doses.min(), rel=1e-3)
        assert center + width / 2.0 == pytest.approx(doses.max(), rel=1e-3)

        # what is on screen is what ``lightbox render`` makes of that frame
        expected = render_cli(path, tmp_path / f"frame{index}.png",
                              "--frame", str(vp.series.refs[index].frame + 1))
        grabbed = vp.grab_frame_buffer()
        x0, y0, x1, y1 = vp.view.transform.image_rect_on_display()
        shown = grabbed[y0:y1, x0:x1]
        assert shown.shape[:2] == expected.shape[:2]
        assert np.abs(shown[..., 0].astype(int) - expected.astype(int)).max() <= 1

    # ROI statistics over most of the last frame, in Gy
    workstation.viewer.set_tool(Tool.RECTANGLE)
    a, b = _canvas_point(vp, 1, 1), _canvas_point(vp, 8, 8)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseMove(vp.canvas, b)
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.LeftButton, pos=b)
    roi = vp.measure.current()[-1]
    mask = roi_mask(roi.kind, roi.points[0], roi.points[1], doses.shape)
    assert roi.stats.mean == pytest.approx(doses[mask].mean())
    assert roi.stats.maximum == pytest.approx(doses[mask].max())
    assert re.search(r"Mean \S+ Gy", roi.label), roi.label


def test_a_dose_window_is_dragged_in_fractions_of_a_gy(qtbot, workstation, tmp_path) -> None:
    # One Gy per pixel, and no window narrower than 1 Gy, made the window unusable on
    # doses of 0.8-1.25 Gy: the steps follow the values' own (PS3.3 C.11.2.1.3.2).
    vp = _open(qtbot, workstation, _dose_in_gy(tmp_path))
    before = vp.current_window()
    assert before is not None and before.width < 1.0
    start = _canvas_point(vp, 5, 5)
    qtbot.mousePress(vp.canvas, Qt.MouseButton.RightButton, pos=start)
    qtbot.mouseMove(vp.canvas, start + QPoint(-20, 0))
    qtbot.mouseRelease(vp.canvas, Qt.MouseButton.RightButton, pos=start + QPoint(-20, 0))
    after = vp.current_window()
    assert after is not None
    assert 0.0 < after.width < before.width  # narrower, not clamped to 1 Gy
    assert before.width - after.width < before.width / 2  # a small step per pixel
    assert "W 1 " not in vp.annotations.corner_text(LOWER_RIGHT)
