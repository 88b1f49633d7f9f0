"""Probe and ROI values in a Real World Value Mapping's quantity and unit (PS3.3
C.7.6.16.2.11): an ADC map's stored values are not mm²/s until mapped, and an Enhanced
PET has no Units attribute but a mapping in Bq/ml."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.support.enhanced import enhanced_dataset, frame_value
from tests.ui.test_viewport import _canvas_point, _drag, _open_file

pytestmark = pytest.mark.gui


def _write(path: Path, sop_class: str, modality: str, *, slope: float, rescale_type: str,
           mapping_slope: float, unit: str, label: str) -> Path:
    ds = enhanced_dataset([0.0], index_values=None, size=32)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.Modality = modality
    shared = ds.SharedFunctionalGroupsSequence[0]
    transform = shared.PixelValueTransformationSequence[0]
    transform.RescaleSlope, transform.RescaleIntercept = slope, 0
    transform.RescaleType = rescale_type
    mapping = Dataset()
    mapping.RealWorldValueFirstValueMapped, mapping.RealWorldValueLastValueMapped = 0, 4095
    mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = mapping_slope, 0.0
    mapping.LUTLabel = label
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = unit, "UCUM", unit
    mapping.MeasurementUnitsCodeSequence = Sequence([code])
    shared.RealWorldValueMappingSequence = Sequence([mapping])
    ds.save_as(path, enforce_file_format=True)
    return path


def _probe(vp, col: int, row: int) -> str:
    return vp.measure.probe_text(tuple(vp.view.transform.image_to_display([(col, row)])[0]))


def test_an_adc_map_is_measured_in_mm2_per_second(qtbot, workstation, tmp_path) -> None:
    from viewer.ui.viewer.tools import Tool

    path = _write(tmp_path / "adc.dcm", "1.2.840.10008.5.1.4.1.1.4.1", "MR", slope=1.0,
                  rescale_type="US", mapping_slope=1e-6, unit="mm2/s", label="ADC")
    vp = _open_file(qtbot, workstation, path)
    vp.actual_size()
    stored = frame_value(0)
    assert _probe(vp, 5, 5) == f"(5, 5)  SV {stored}  {stored}.0  ADC 0.0001 mm²/s"
    workstation.viewer.set_tool(Tool.RECTANGLE)
    _drag(qtbot, vp, _canvas_point(vp, 4, 4), _canvas_point(vp, 20, 20))
    (box,) = vp.measure.current()
    assert "ADC Mean 0.0001 mm²/s  SD 0" in box.label, box.label


def test_an_enhanced_pet_mapping_names_the_unit_of_its_values(qtbot, workstation,
                                                              tmp_path) -> None:
    # The mapping repeats the rescale (C.8.22.5): one value, in Bq/ml, not two alike.
    path = _write(tmp_path / "pet.dcm", "1.2.840.10008.5.1.4.1.1.130", "PT", slope=2.5,
                  rescale_type="BQML", mapping_slope=2.5, unit="Bq/ml", label="PET")
    vp = _open_file(qtbot, workstation, path)
    assert _probe(vp, 5, 5) == f"(5, 5)  SV {frame_value(0)}  {2.5 * frame_value(0):.1f} Bq/ml"
