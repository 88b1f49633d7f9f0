"""Received files taken into the store in batches: one result per file, in order."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from tests.support.series import write_ct_series
from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord
from viewer.dicom.header import read_header
from viewer.store import StudyStore


def _received(tmp_path: Path, slices: int = 4) -> list[Path]:
    """A CT series as the receiver leaves it: complete files in the home's incoming."""
    return write_ct_series(tmp_path / "home" / "incoming", slices=slices, rows=16, cols=16)


def test_a_batch_is_moved_in_with_one_result_per_file(store: StudyStore, tmp_path: Path
                                                      ) -> None:
    paths = _received(tmp_path)
    contents = [p.read_bytes() for p in paths]
    junk = tmp_path / "home" / "incoming" / "junk.dcm"
    junk.write_bytes(b"junk" * 100)
    truncated = tmp_path / "home" / "incoming" / "cut.dcm"
    truncated.write_bytes(contents[0][: len(contents[0]) // 2])
    batch = [paths[0], junk, paths[1], truncated, paths[2], paths[3]]
    results = store.add_received_files(batch)
    assert len(results) == len(batch)
    assert isinstance(results[1], InputFileError) and "junk.dcm" in str(results[1])
    assert isinstance(results[3], InputFileError) and "truncated" in str(results[3])
    taken = [r for r in results if isinstance(r, InstanceRecord)]
    assert [Path(r.file_path).read_bytes() for r in taken] == contents
    assert not any(p.exists() for p in paths)  # moved, not copied
    assert junk.exists() and truncated.exists()  # refused files stay where they are
    assert store.counts()["instances"] == 4
    assert store.has_instances(r.sop_instance_uid for r in taken) == {
        r.sop_instance_uid for r in taken}


def test_the_same_instance_again_adds_nothing_and_a_different_one_is_refused(
        store: StudyStore, tmp_path: Path) -> None:
    paths = _received(tmp_path, slices=2)
    copies = [p.with_suffix(".again") for p in paths]
    for path, copy in zip(paths, copies, strict=True):
        shutil.copyfile(path, copy)
    first = store.add_received_files(paths)
    stored = [Path(r.file_path) for r in first if isinstance(r, InstanceRecord)]
    original = stored[1].read_bytes()
    changed = pydicom.dcmread(copies[1])
    changed.PatientName = "OTHER^PATIENT"
    changed.save_as(copies[1])
    again = store.add_received_files(copies)
    assert isinstance(again[0], InstanceRecord) and Path(again[0].file_path) == stored[0]
    assert not copies[0].exists()  # identical: the received copy is dropped
    assert isinstance(again[1], InputFileError) and "different content" in str(again[1])
    assert copies[1].exists() and stored[1].read_bytes() == original  # the stored file stays
    assert store.counts()["instances"] == 2


def test_twice_in_one_batch_is_taken_once(store: StudyStore, tmp_path: Path) -> None:
    (path,) = _received(tmp_path, slices=1)
    twin = path.with_suffix(".twin")
    shutil.copyfile(path, twin)
    results = store.add_received_files([path, twin])
    assert all(isinstance(r, InstanceRecord) for r in results)
    assert results[0].file_path == results[1].file_path  # type: ignore[union-attr]
    assert not path.exists() and not twin.exists()
    assert store.counts()["instances"] == 1


def test_a_file_on_another_file_system_is_copied_in(store: StudyStore, tmp_path: Path) -> None:
    elsewhere = Path("/dev/shm")
    if not elsewhere.is_dir() or os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to receive from")
    (made,) = _received(tmp_path, slices=1)
    path = elsewhere / f"lightbox-test-{os.getpid()}-{made.name}"
    shutil.move(made, path)
    data = path.read_bytes()
    try:
        (result,) = store.add_received_files([path])
    finally:
        path.unlink(missing_ok=True)
    assert isinstance(result, InstanceRecord), result
    assert Path(result.file_path).read_bytes() == data
    assert not path.exists()
    assert store.counts()["instances"] == 1


def test_a_stored_file_that_went_missing_is_restored_from_a_received_copy(
        store: StudyStore, tmp_path: Path) -> None:
    (path,) = _received(tmp_path, slices=1)
    data = path.read_bytes()
    again = path.with_suffix(".again")
    shutil.copyfile(path, again)
    (first,) = store.add_received_files([path])
    assert isinstance(first, InstanceRecord)
    Path(first.file_path).unlink()  # removed behind the store's back
    (second,) = store.add_received_files([again])
    assert isinstance(second, InstanceRecord), second
    assert second.file_path == first.file_path
    assert Path(second.file_path).read_bytes() == data
    assert store.counts()["instances"] == 1


def test_a_missing_file_restored_from_another_senders_copy_has_its_size(
        store: StudyStore, tmp_path: Path) -> None:
    # The same instance from another AE: its File Meta group, and so its size, differ.
    (path,) = _received(tmp_path, slices=1)
    (first,) = store.add_received_files([path])
    assert isinstance(first, InstanceRecord)
    ds = pydicom.dcmread(first.file_path)
    ds.file_meta.SourceApplicationEntityTitle = "ANOTHER_SENDER_AE"
    other = tmp_path / "other.dcm"
    ds.save_as(other, enforce_file_format=True)
    Path(first.file_path).unlink()  # removed behind the store's back
    (second,) = store.add_received_files([other])
    assert isinstance(second, InstanceRecord), second
    assert Path(second.file_path).stat().st_size != first.file_size
    assert store.check() == []
    (row,) = store._reader().execute("SELECT file_size FROM instances").fetchall()
    assert row[0] == Path(second.file_path).stat().st_size


def test_headers_read_by_the_caller_are_used_as_given(store: StudyStore, tmp_path: Path
                                                      ) -> None:
    # The network receiver reads each header from memory; the store then does not read
    # the file again. Where it has none (None), the store reads the file itself.
    paths = _received(tmp_path, slices=2)
    given = replace(read_header(paths[0]), series_description="READ BY THE RECEIVER")
    results = store.add_received_files(paths, headers=[given, None])
    assert all(isinstance(r, InstanceRecord) for r in results)
    (study,) = store.studies()
    descriptions = {s.series_description for s in store.series(study.study_uid)}
    assert descriptions == {"READ BY THE RECEIVER"}
    assert store.counts()["instances"] == 2
