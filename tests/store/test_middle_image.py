"""The browser's thumbnail of a series: the middle image by Instance Number, read as one
row (a 10,000-image study was read whole each time it was selected)."""

from __future__ import annotations

from pathlib import Path

import pydicom

from tests.support.enhanced import write_enhanced
from tests.support.series import write_ct_series
from viewer.store import StudyStore


def test_the_middle_image_by_instance_number(tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=5)
    for path in paths:  # numbers against the file order: 50, 40, ... 10
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 60 - 10 * int(ds.InstanceNumber)
        ds.save_as(path)
    store = StudyStore.open(tmp_path / "home")
    try:
        assert store.import_files(paths).instances_added == 5
        series_uid = str(pydicom.dcmread(paths[0]).SeriesInstanceUID)
        path, frame = store.middle_image(series_uid)
        assert pydicom.dcmread(path).InstanceNumber == 30 and frame == 0
        assert store.middle_image("1.2.3.4.5") is None
    finally:
        store.close()


def test_a_multi_frame_image_gives_its_middle_frame(tmp_path: Path) -> None:
    path = write_enhanced(tmp_path / "e.dcm", [0.0, 5.0, 10.0, 15.0, 20.0], index_values=None)
    store = StudyStore.open(tmp_path / "home")
    try:
        assert store.import_files([path]).instances_added == 1
        series_uid = str(pydicom.dcmread(path).SeriesInstanceUID)
        assert store.middle_image(series_uid)[1] == 2
    finally:
        store.close()
