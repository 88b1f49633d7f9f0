"""Reading Real World Value Mapping items: per frame, shared, top level (PS3.3
C.7.6.16.2.11)."""

from __future__ import annotations

import logging

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from viewer.dicom.real_world import read_real_world


def _mapping(**values: object) -> Dataset:
    item = Dataset()
    item.RealWorldValueFirstValueMapped = values.pop("first", 0)
    item.RealWorldValueLastValueMapped = values.pop("last", 4095)
    units = Dataset()
    units.CodeValue, units.CodingSchemeDesignator = values.pop("unit", "mm2/s"), "UCUM"
    units.CodeMeaning = "unit"
    item.MeasurementUnitsCodeSequence = Sequence([units])
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _group(*items: Dataset) -> Dataset:
    group = Dataset()
    group.RealWorldValueMappingSequence = Sequence(list(items))
    return group


def test_a_frame_s_own_mapping_wins_over_the_shared_one() -> None:
    ds = Dataset()
    ds.SharedFunctionalGroupsSequence = Sequence([_group(_mapping(
        RealWorldValueSlope=1e-6, RealWorldValueIntercept=0, LUTLabel="ADC"))])
    ds.PerFrameFunctionalGroupsSequence = Sequence([
        Dataset(), _group(_mapping(RealWorldValueSlope=2.0, RealWorldValueIntercept=1.0,
                                   LUTExplanation="T2 map", unit="ms"),
                          _mapping(RealWorldValueSlope=1.0, RealWorldValueIntercept=0.0))])
    (shared,) = read_real_world(ds, 0)
    assert (shared.slope, shared.label, shared.unit) == (1e-6, "ADC", "mm²/s")
    own, second = read_real_world(ds, 1)
    assert (own.slope, own.intercept, own.label, own.unit) == (2.0, 1.0, "T2 map", "ms")
    assert second.slope == 1.0


def test_the_top_level_sequence_of_an_image_without_functional_groups() -> None:
    ds = Dataset()
    ds.PixelRepresentation = 1
    ds.RealWorldValueMappingSequence = Sequence([_mapping(
        first=0xFC18, last=1000, RealWorldValueLUTData=[0.5] * 2001)])
    (mapping,) = read_real_world(ds, 0)
    assert (mapping.first, mapping.last) == (-1000.0, 1000.0)  # SS by Pixel Representation
    assert mapping.table is not None and len(mapping.table) == 2001


def test_an_item_without_a_line_or_table_is_named_and_left_out(
        caplog: pytest.LogCaptureFixture) -> None:
    ds = Dataset()
    ds.RealWorldValueMappingSequence = Sequence([
        _mapping(), _mapping(RealWorldValueSlope=3.0, RealWorldValueIntercept=0.0)])
    with caplog.at_level(logging.WARNING, logger="viewer.dicom.real_world"):
        (mapping,) = read_real_world(ds, 0)
    assert mapping.slope == 3.0
    assert "Real World Value Mapping item" in caplog.text
