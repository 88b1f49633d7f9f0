"""Corner texts a reader relies on: which VOI transform is on screen, and long texts that
stay in their corner instead of running across the image."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from tests.support.series import write_ct_series, write_dx_with_presentation_lut
from tests.support.testdata import test_file
from tests.ui.conftest import render_cli, wait_until
from tests.ui.test_viewport import _on_screen, _open_file
from viewer.render.annotations import LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT

pytestmark = pytest.mark.gui

ELLIPSIS = "\u2026"

# pydicom's vlut_04.dcm: a VOI LUT Sequence (0028,3010) of one unnamed item, no window.
VOI_LUT_FILE = "vlut_04.dcm"


def _lower_right(vp) -> list[str]:
    return vp.annotations.corner_text(LOWER_RIGHT).split("\n")


def test_a_voi_lut_on_screen_is_named_in_the_lower_right(qtbot, workstation, tmp_path) -> None:
    # Shown through its VOI LUT (PS3.3 C.11.2), the image had no window line at all:
    # the reader could not tell which transform was on screen.
    vp = _open_file(qtbot, workstation, test_file(VOI_LUT_FILE))
    assert vp.current_window() is None  # no width and centre to show
    lines = _lower_right(vp)
    assert lines[0] == "VOI LUT 1 of 1"
    assert not any(line.startswith("W ") for line in lines)
    # What is on screen is the VOI LUT indeed: as `lightbox render --voi-lut 1` draws it.
    vp.canvas.setFixedSize(600, 600)  # the whole 512 x 512 image at its actual size
    wait_until(qtbot, lambda: tuple(vp.view.transform.viewport) == (600, 600))
    vp.actual_size()
    vp.set_annotations_visible(False)  # the texts lie over this image's corners
    expected = render_cli(Path(vp.series.refs[0].path), tmp_path / "voi.png", "--voi-lut", "1")
    shown = _on_screen(vp)[..., 0].astype(int)
    assert np.abs(shown - expected.astype(int)).max() <= 1
    vp.set_annotations_visible(True)
    # The automatic window replaces it, and says so; the file's own transform comes back.
    qtbot.keyClick(vp.canvas, Qt.Key.Key_9)
    lines = _lower_right(vp)
    assert lines[0].startswith("W ") and lines[0].endswith(" Auto")
    assert not any("VOI LUT" in line for line in lines)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)
    assert _lower_right(vp)[0] == "VOI LUT 1 of 1"


def test_a_voi_lut_is_named_by_its_explanation(qtbot, workstation, tmp_path) -> None:
    path = tmp_path / "explained.dcm"
    shutil.copy(test_file(VOI_LUT_FILE), path)
    ds = pydicom.dcmread(path)
    ds.VOILUTSequence[0].LUTExplanation = "SOFT TISSUE"  # LUT Explanation (0028,3003)
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    assert _lower_right(vp)[0] == "VOI LUT: SOFT TISSUE"


def test_elide_keeps_short_lines_and_cuts_long_ones_with_an_ellipsis() -> None:
    from viewer.ui.viewer.annotate import elide

    assert elide("Se: 3 AX T1", 20) == "Se: 3 AX T1"
    assert elide("A" * 20, 20) == "A" * 20
    assert elide("A" * 21, 20) == "A" * 19 + ELLIPSIS
    assert elide("CHEST ABDOMEN PELVIS", 7) == "CHEST" + ELLIPSIS  # no space before "…"
    # A CJK character takes about two Latin letters' room.
    assert elide("胸部腹部骨盤造影", 8) == "胸部腹" + ELLIPSIS


_LONG_SERIES = ("CT CHEST ABDOMEN PELVIS WITH CONTRAST, ARTERIAL AND PORTAL VENOUS PHASE, "
                "1.25 MM AXIAL RECONSTRUCTION, SOFT TISSUE KERNEL, DOSE MODULATED, "
                "REFORMATTED FOR THE TUMOUR BOARD ON REQUEST OF THE REFERRING TEAM")
_LONG_STUDY = "CT THORAX ABDOMEN PELVIS WITH INTRAVENOUS CONTRAST STAGING PROTOC"
_LONG_INSTITUTION = "UNIVERSITY HOSPITAL OF THE NORTHERN REGION DEPARTMENT OF RADIOLO"
_GREEK_SERIES = ("Αξονική τομογραφία θώρακος κοιλίας και πυέλου με σκιαγραφικό, αρτηριακή "
                 "και πυλαία φλεβική φάση, ανασύνθεση ενός χιλιοστού, μαλακά μόρια, "
                 "για το ογκολογικό συμβούλιο κατόπιν αιτήματος του θεράποντος ιατρού")


def _changed_columns(vp, corners: tuple[str, str, str, str], blank: int) -> np.ndarray:
    """Columns of the viewport that the corner ``blank`` (0-3: UL, UR, LL, LR) draws."""
    annotations = vp.annotations
    with_text = vp.grab_frame_buffer()
    without = list(corners)
    without[blank] = ""
    annotations.set_corner_texts(*without)
    without_text = vp.grab_frame_buffer()
    annotations.set_corner_texts(*corners)
    return np.flatnonzero((with_text != without_text).any(axis=2).any(axis=0))


@pytest.mark.parametrize("description", [_LONG_SERIES, _GREEK_SERIES], ids=["latin", "greek"])
def test_long_texts_stay_in_their_half_of_the_viewport(qtbot, workstation, tmp_path,
                                                       description: str) -> None:
    # A long Series Description ran from the upper right across the image and through the
    # upper-left corner's lines. Each line now ends with "…" where its half ends.
    assert len(description) >= 200
    with warnings.catch_warnings():
        # Longer than LO allows (PS3.5 6.2: 64 characters), as some exporters write it.
        warnings.simplefilter("ignore", UserWarning)
        paths = write_ct_series(tmp_path / "long", slices=1, series_description=description,
                                study_description=_LONG_STUDY, character_set="ISO_IR 192")
        ds = pydicom.dcmread(paths[0])
        ds.InstitutionName = _LONG_INSTITUTION  # 64 characters, the most LO allows
        ds.save_as(paths[0])
    vp = _open_file(qtbot, workstation, paths[0])
    vp.canvas.setFixedSize(512, 700)
    wait_until(qtbot, lambda: tuple(vp.view.transform.viewport) == (512, 700))
    vp.fit()
    width = vp.view.transform.viewport[0]

    upper_left = vp.annotations.corner_text(UPPER_LEFT).split("\n")
    upper_right = vp.annotations.corner_text(UPPER_RIGHT).split("\n")
    # Characters of the corner font (about 0.6 of its size wide) in half the width.
    columns = width / 2 / (vp.annotations.font_size * 0.6)
    assert all(len(line) <= columns for line in upper_left + upper_right)
    for line, full in ((upper_right[-1], f"Se: 1 {description}"), (upper_right[1], _LONG_STUDY),
                       (upper_left[-1], _LONG_INSTITUTION)):
        assert line.endswith(ELLIPSIS) and full.startswith(line[:-1])
        assert len(line) > columns - 8  # cut where the room ends, not far before
    # Short lines as they were.
    assert upper_left[1] == "ID: LB-TEST-0001" and upper_right[0].startswith("2024-01-02")
    assert not upper_right[0].endswith(ELLIPSIS)
    assert not any(line.endswith(ELLIPSIS) for line in _lower_right(vp))
    if description is _GREEK_SERIES:
        assert vp.annotations.corner_is_image(UPPER_RIGHT)  # drawn by Qt, elided all the same

    # Real pixels: the upper-right text stays in the right half, the upper-left in the left.
    corners = (vp.annotations.corner_text(UPPER_LEFT), vp.annotations.corner_text(UPPER_RIGHT),
               vp.annotations.corner_text(LOWER_LEFT), vp.annotations.corner_text(LOWER_RIGHT))
    right = _changed_columns(vp, corners, 1)
    assert right.size and right.min() >= width // 2
    left = _changed_columns(vp, corners, 0)
    assert left.size and left.max() < width // 2


def test_a_voi_lut_beside_a_window_can_be_chosen_and_dragged(qtbot, workstation,
                                                           tmp_path) -> None:
    # PS3.3 C.11.2: a file may offer windows and VOI LUTs; the window is shown first, and
    # key 0 must reach the VOI LUT too (it cycled the windows only, so the LUT was never
    # seen), and a drag on the VOI LUT must move a window (it did nothing).
    path = tmp_path / "both.dcm"
    shutil.copy(test_file(VOI_LUT_FILE), path)
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth = 2000, 4000
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    assert _lower_right(vp)[0].startswith("W 4000 C 2000")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)
    assert _lower_right(vp)[0] == "VOI LUT 1 of 1" and vp.current_window() is None
    vp.canvas.setFixedSize(600, 600)
    wait_until(qtbot, lambda: tuple(vp.view.transform.viewport) == (600, 600))
    vp.actual_size()
    vp.set_annotations_visible(False)
    expected = render_cli(path, tmp_path / "voi.png", "--voi-lut", "1")
    assert np.abs(_on_screen(vp)[..., 0].astype(int) - expected.astype(int)).max() <= 1
    vp.set_annotations_visible(True)
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)  # round again: the window
    assert _lower_right(vp)[0].startswith("W 4000 C 2000")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_0)
    assert _lower_right(vp)[0] == "VOI LUT 1 of 1"
    vp._drag_window(10, 5)  # from the frame's own range, as the mouse does
    assert vp.current_window() is not None
    assert _lower_right(vp)[0].startswith("W ")


def test_a_sigmoid_window_is_named_and_stays_sigmoid_when_dragged(
        qtbot, workstation, tmp_path) -> None:
    # PS3.3 C.11.2.1.3.1: the same W and C through a sigmoid give another image; the
    # corner said only "W 800 C 100", and the first pixel of a drag made it linear.
    from viewer.imaging.voi import VoiFunction

    (path,) = write_ct_series(tmp_path / "ct", slices=1)
    ds = pydicom.dcmread(path)
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 100, 800, "SIGMOID"
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    assert _lower_right(vp)[0] == "W 800 C 100 sigmoid"
    vp._drag_window(1, 0)
    window = vp.current_window()
    assert window.function is VoiFunction.SIGMOID and window.width > 800
    assert _lower_right(vp)[0].endswith(" sigmoid")
    qtbot.keyClick(vp.canvas, Qt.Key.Key_1)  # a preset is the reader's own linear window
    assert vp.current_window().function is not VoiFunction.SIGMOID
    assert "sigmoid" not in _lower_right(vp)[0]


def test_a_mammogram_says_its_side_and_view(qtbot, workstation, tmp_path) -> None:
    # PS3.3 C.7.6.1 Image Laterality and C.8.11.7 View Code Sequence: a left MLO and a
    # right one looked alike but for the edge labels.
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    path = write_dx_with_presentation_lut(tmp_path / "mg.dcm")
    ds = pydicom.dcmread(path)
    ds.Modality = "MG"
    ds.ImageLaterality = "L"
    view = Dataset()
    view.CodeValue, view.CodingSchemeDesignator = "399368009", "SCT"
    view.CodeMeaning = "medio-lateral oblique"
    ds.ViewCodeSequence = Sequence([view])
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.save_as(path)
    vp = _open_file(qtbot, workstation, path)
    upper_right = vp.annotations.corner_text(UPPER_RIGHT).split("\n")
    assert "L MLO" in upper_right, upper_right
    assert "FOR PROCESSING - not for diagnosis" in upper_right, upper_right


@pytest.mark.parametrize(("texts", "shown"), [
    ({"ImageLaterality": "R", "ViewPosition": "CC"}, "R CC"),
    ({"Laterality": "L", "ViewPosition": "PA"}, "L PA"),  # the series' side, a radiograph
    ({"ImageLaterality": "B", "Laterality": "R"}, "Both sides"),  # the image's side wins
    ({"ViewPosition": "AP"}, "AP"),
    ({}, ""),
])
def test_side_and_view(texts: dict[str, str], shown: str) -> None:
    from viewer.ui.viewer.annotate import side_and_view

    assert side_and_view(texts) == shown


def test_an_enhanced_frame_s_own_laterality_is_its_side() -> None:
    # Breast tomosynthesis: Frame Anatomy (PS3.3 C.7.6.16.2.8) per frame
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from viewer.dicom.frame_labels import anatomy_texts

    anatomy = Dataset()
    anatomy.FrameLaterality = "R"
    group = Dataset()
    group.FrameAnatomySequence = Sequence([anatomy])
    ds = Dataset()
    ds.PerFrameFunctionalGroupsSequence = Sequence([Dataset(), group])
    ds.ViewPosition = "CC"
    assert anatomy_texts(ds, 1) == {"ImageLaterality": "R"}
    assert anatomy_texts(ds, 0) == {}


def test_an_nm_frame_says_its_energy_window_and_detector(qtbot, workstation, tmp_path):
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from tests.support.images import grey_image

    ds = grey_image("1.2.840.10008.5.1.4.1.1.20", "NM", "LB-TEST-0033", rows=16, columns=16,
                    frames=2, bits_stored=16)
    ds.FrameIncrementPointer = [0x00540010]
    ds.EnergyWindowVector = [1, 2]
    window = Dataset()
    window.EnergyWindowName = "photopeak"
    ds.EnergyWindowInformationSequence = Sequence([window])
    ds.PixelData = np.arange(512, dtype="<u2").tobytes()
    path = tmp_path / "nm.dcm"
    ds.save_as(path, enforce_file_format=True)
    vp = _open_file(qtbot, workstation, path)
    assert "EW 1 (photopeak)" in vp.annotations.corner_text(LOWER_LEFT).split("\n")
    vp.set_index(1)
    wait_until(qtbot, lambda: "EW 2" in vp.annotations.corner_text(LOWER_LEFT).split("\n"))
