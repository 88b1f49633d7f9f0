"""UIDs that are not UIDs: the store's file names stay inside it and stay one per instance.

Files are stored under ``files/<study>/<series>/<instance>.dcm``. A damaged or hostile file
(on a disc, or sent by a peer) may carry ``..`` as a study UID, or UIDs that differ only
in characters a file name cannot hold.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from viewer.core.records import InstanceRecord
from viewer.store import StudyStore
from viewer.store.filestore import safe_component


def _instance(folder: Path, name: str, study: str, series: str, sop: str) -> Path:
    ds = pydicom.dcmread(testdata.test_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ds.save_as(path)
    return path


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


@pytest.mark.parametrize("uid", ["1.2.840.10008.1.2", "1.02.3", "9" * 64])
def test_a_uid_is_its_own_name(uid: str) -> None:
    assert safe_component(uid) == uid


def test_anything_else_gets_a_name_of_its_own() -> None:
    odd = ["..", ".", "", "1.2/3", "1.2_3", "1.2\\3", "1.2 3", "1..2", "1.2.", "9" * 129]
    names = [safe_component(uid) for uid in odd]
    assert len(set(names)) == len(odd)  # one name per UID: nothing replaces anything
    assert all(n.startswith("_") and n[1:].isalnum() for n in names)


def test_dot_dot_uids_from_a_medium_are_stored_inside_the_store(
        store: StudyStore, home: Path, tmp_path: Path) -> None:
    medium = tmp_path / "medium"
    _instance(medium, "a.dcm", "..", "..", "evil")
    report = store.import_files(sorted(medium.iterdir()))
    assert report.instances_added == 1 and not report.failed
    (record,) = store.instances("..")
    assert _inside(Path(record.file_path), home / "files")
    assert not list(tmp_path.glob("*.dcm")) and not list(home.glob("*.dcm"))
    again = store.import_files(sorted(medium.iterdir()))  # found again, where it was put
    assert (again.instances_added, again.instances_present) == (0, 1)


def test_received_dot_dot_uids_are_stored_inside_the_store(
        store: StudyStore, home: Path, tmp_path: Path) -> None:
    path = _instance(home / "incoming", "r.dcm", "..", "..", "evil")
    (result,) = store.add_received_files([path])
    assert isinstance(result, InstanceRecord)
    assert _inside(Path(result.file_path), home / "files")


def test_uids_alike_once_escaped_are_two_files(store: StudyStore, tmp_path: Path) -> None:
    medium = tmp_path / "medium"
    paths = [_instance(medium, f"{n}.dcm", "1.2.3", "1.2.3.4", sop)
             for n, sop in enumerate(["1.2.3/5", "1.2.3_5"])]
    report = store.import_files(paths)
    assert report.instances_added == 2 and not report.conflicts
    stored = {r.sop_instance_uid: Path(r.file_path) for r in store.instances("1.2.3.4")}
    assert len(set(stored.values())) == 2
    for path in paths:
        uid = pydicom.dcmread(path).SOPInstanceUID
        assert stored[uid].read_bytes() == path.read_bytes()
    shutil.rmtree(medium)
