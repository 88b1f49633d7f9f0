"""The byte-template writer produces exactly what pydicom's dcmwrite would."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from viewer.dicom.synthetic import StudyIdentity, write_ct_series
from viewer.dicom.synthetic_modalities import write_mr_series


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    ("name", "charset"),
    [
        ("DEMO^CT", None),
        ("Иванов^Иван", "ISO_IR 144"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "ISO_IR 192"),
    ],
)
def test_files_equal_dcmwrite_of_the_same_dataset(
    tmp_path: Path, transfer_syntax: str, name: str, charset: str | None
) -> None:
    study = StudyIdentity(patient_name=name, character_set=charset)
    paths = write_ct_series(
        tmp_path, study, slices=3, rows=24, cols=40, transfer_syntax=transfer_syntax
    )
    paths += write_mr_series(tmp_path / "mr", study, slices=2, rows=16, cols=16)
    for path in paths:
        ds = pydicom.dcmread(path)
        assert str(ds.PatientName) == name
        expected = io.BytesIO()
        dcmwrite(expected, ds, enforce_file_format=True)
        assert path.read_bytes() == expected.getvalue()


def test_per_slice_attributes_differ_and_the_rest_is_shared(tmp_path: Path) -> None:
    a, b = (pydicom.dcmread(p) for p in write_ct_series(tmp_path, slices=2, rows=8, cols=8))
    assert a.SOPInstanceUID != b.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert b.file_meta.MediaStorageSOPInstanceUID == b.SOPInstanceUID
    assert (a.InstanceNumber, b.InstanceNumber) == (1, 2)
    assert a.ImagePositionPatient[2] != b.ImagePositionPatient[2]
    assert a.SliceLocation != b.SliceLocation
    shared = [
        e.keyword
        for e in a
        if e.keyword
        not in (
            "SOPInstanceUID",
            "InstanceNumber",
            "ImagePositionPatient",
            "SliceLocation",
            "PixelData",
        )
    ]
    assert all(a[k].value == b[k].value for k in shared)
