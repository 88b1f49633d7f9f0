"""Files opened directly: what cannot be shown says what it is, and a file that does not
name its study and series is shown all the same."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from tests.support.testdata import test_file
from viewer.core.errors import LightboxError
from viewer.ui.viewer.opening import read_series


@pytest.mark.parametrize(("name", "reason"), [
    ("test-SR.dcm", "not an image (Comprehensive SR Storage)"),
    ("rtplan.dcm", "not an image (RT Plan Storage)"),
    ("DICOMDIR", "a DICOMDIR (a disc's index): open its folder, or import it"),
    ("README.txt", "not a DICOM file"),
])
def test_a_file_that_cannot_be_shown_says_what_it_is(name: str, reason: str) -> None:
    # Each said "no DICOM images in FILE", whatever it was.
    with pytest.raises(LightboxError) as raised:
        read_series([test_file(name)])
    assert str(raised.value) == f"{test_file(name)}: {reason}"


def test_a_folder_with_nothing_to_show_names_its_files_reasons(tmp_path: Path) -> None:
    for name in ("test-SR.dcm", "README.txt"):
        shutil.copy(test_file(name), tmp_path / Path(name).name)
    with pytest.raises(LightboxError) as raised:
        read_series([tmp_path])
    text = str(raised.value)
    assert text.startswith(f"no DICOM images in {tmp_path}: ")
    assert "README.txt: not a DICOM file" in text and "test-SR.dcm: not an image" in text


def test_an_image_without_study_and_series_uids_is_shown() -> None:
    # pydicom's JPEG-LS near-lossless files name neither; `lightbox render` showed them,
    # the viewer refused them.
    path = test_file("JPEGLSNearLossless_08.dcm")
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert not ds.get("StudyInstanceUID") and not ds.get("SeriesInstanceUID")
    (series,) = read_series([path])
    assert len(series) == 1 and series.refs[0].path == str(path)
    assert read_series([path])[0].series_uid == series.series_uid  # the same every time
