"""Two imports of one home at once (two discs, a push during an import): what the first
stored stays, and each report adds up.

The second import here checks what is stored before the first has committed anything,
and places its files after the first has finished: the order two processes can take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.support.series import write_ct_series
from viewer.core.imports import ImportReport
from viewer.store import StudyStore

SLICES = 6


def _rewritten(sources: list[Path], folder: Path, change: Callable[[pydicom.Dataset], None]
               ) -> list[Path]:
    folder.mkdir(parents=True)
    written = []
    for path in sources:
        ds = pydicom.dcmread(path)
        change(ds)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / path.name, enforce_file_format=True)
        written.append(folder / path.name)
    return written


def _other_pixels(ds: pydicom.Dataset) -> None:
    ds.PixelData = bytes(len(ds.PixelData))


@pytest.fixture
def first_disc(tmp_path: Path) -> list[Path]:
    return write_ct_series(tmp_path / "first", slices=SLICES, rows=16, cols=16)


@pytest.fixture
def stores(home: Path) -> Iterator[tuple[StudyStore, StudyStore]]:
    with StudyStore.open(home) as first, StudyStore.open(home) as second:
        yield first, second


def _race(stores: tuple[StudyStore, StudyStore], first_disc: list[Path],
          second_disc: list[Path], monkeypatch: pytest.MonkeyPatch
          ) -> tuple[ImportReport, ImportReport]:
    """Import ``second_disc`` with the first import done between its checks and its
    placing of files."""
    first, second = stores
    done: list[ImportReport] = []
    place = second.files.place

    def after_the_first(temporaries: list[tuple[str, str]]) -> object:
        if not done:
            done.append(first.import_files(first_disc))
        return place(temporaries)

    monkeypatch.setattr(second.files, "place", after_the_first)
    report = second.import_files(second_disc)
    assert done[0].instances_added == SLICES and report.instances_added == 0
    _adds_up(report, SLICES)
    assert first.counts()["instances"] == SLICES
    assert first.check() == []
    return done[0], report


def _bytes(store: StudyStore) -> dict[str, bytes]:
    return {uid: path.read_bytes() for uid in store.has_instances(_uids(store))
            if (path := store.instance_path(uid)) is not None}


def _uids(store: StudyStore) -> set[str]:
    conn = store._reader()
    return {row[0] for row in conn.execute("SELECT sop_uid FROM instances")}


def _adds_up(report: ImportReport, files: int) -> None:
    assert (report.instances_added + report.instances_present + len(report.conflicts)
            + len(report.failed) + report.copies) == files


def test_other_content_under_the_same_uids_is_a_conflict(
        stores: tuple[StudyStore, StudyStore], first_disc: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    edited = _rewritten(first_disc, tmp_path / "edited", _other_pixels)
    _, second = _race(stores, first_disc, edited, monkeypatch)
    assert len(second.conflicts) == SLICES
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): p.read_bytes() for p in first_disc}
    assert _bytes(stores[0]) == originals


def test_the_same_disc_twice_at_once_is_stored_once(
        stores: tuple[StudyStore, StudyStore], first_disc: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _rewritten(first_disc, tmp_path / "copy", lambda ds: None)
    _, second = _race(stores, first_disc, copy, monkeypatch)
    assert (second.instances_present, second.conflicts) == (SLICES, [])


def test_a_series_claimed_meanwhile_by_another_study_is_refused(
        stores: tuple[StudyStore, StudyStore], first_disc: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    study = generate_uid()

    def other_study(ds: pydicom.Dataset) -> None:
        ds.StudyInstanceUID = study
        ds.SOPInstanceUID = generate_uid()

    moved = _rewritten(first_disc, tmp_path / "moved", other_study)
    _, second = _race(stores, first_disc, moved, monkeypatch)
    assert len(second.failed) == SLICES
    assert all("already belongs to another study" in p.reason for p in second.failed)


def test_a_received_copy_never_replaces_what_an_import_stored_meanwhile(
        stores: tuple[StudyStore, StudyStore], first_disc: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A push of other content under the same UIDs, taken in while a disc is imported.
    received = _rewritten(first_disc, tmp_path / "incoming", _other_pixels)
    first, second = stores
    adopt = second.files.adopt

    def after_the_import(files: list[tuple[str, str]]) -> object:
        first.import_files(first_disc)
        return adopt(files)

    monkeypatch.setattr(second.files, "adopt", after_the_import)
    results = second.add_received_files(received)
    assert [type(r).__name__ for r in results] == ["InputFileError"] * SLICES
    assert all("already stored with different content" in str(r) for r in results)
    assert all(path.is_file() for path in received)  # left for the receiver to keep
    originals = {str(pydicom.dcmread(p).SOPInstanceUID): p.read_bytes() for p in first_disc}
    assert _bytes(first) == originals
    assert first.check() == []


def test_the_same_instances_filed_under_another_series_are_a_conflict(
        stores: tuple[StudyStore, StudyStore], first_disc: list[Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Same SOP Instance UIDs in another series: their files go elsewhere in the store, so
    # only the rows say the instances are stored already.
    series = generate_uid()

    def other_series(ds: pydicom.Dataset) -> None:
        ds.SeriesInstanceUID = series

    moved = _rewritten(first_disc, tmp_path / "other-series", other_series)
    _, second = _race(stores, first_disc, moved, monkeypatch)
    assert len(second.conflicts) == SLICES
    assert all("already stored with different content" in p.reason for p in second.conflicts)
    assert not any(series in str(p) for p in (stores[0].home / "files").rglob("*"))
