"""Files that change while they are imported, large headers, empty files.

A medium may still be written to (a USB stick filling up, a folder a scanner writes into)
or a file replaced while an import runs. What is stored must be the file whose header
was read, or nothing: a file that changed is named in the report, never stored with
other bytes under its UIDs.
"""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.support.series import write_ct_series
from viewer.core.imports import ImportProgress
from viewer.store import StudyStore, importer
from viewer.store.reading import HEAD_BYTES, WHOLE_FILE, prepare
from viewer.store.verify import check_home

CHANGED = "changed while being imported"


def _stored_uids(store: StudyStore) -> set[str]:
    return {i.sop_instance_uid for study in store.studies()
            for series in store.series(study.study_uid)
            for i in store.instances(series.series_uid)}


def _uid(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def test_a_file_that_grows_after_it_was_listed_is_named_not_stored(
        store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=4, rows=16, cols=16)
    growing = paths[2]

    def write_more(state: ImportProgress) -> None:
        if state.files_done == 0 and growing.stat().st_size < 1 << 20:
            with growing.open("ab") as f:  # still being copied onto the medium
                f.write(bytes(4096))

    report = store.import_files(paths, progress=write_more)
    assert report.instances_added == 3
    assert [f.path for f in report.failed] == [str(growing)]
    assert CHANGED in report.failed[0].reason
    assert _uid(growing) not in _stored_uids(store)


@pytest.mark.parametrize("change", ["truncated", "replaced", "appended"])
def test_a_large_file_that_changes_after_its_header_was_read_is_not_stored(
        store: StudyStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        change: str) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=3, rows=384, cols=384)
    other = write_ct_series(tmp_path / "other", slices=1, rows=384, cols=384,
                            series_uid="1.2.826.0.1.3680043.10.511.77.9",
                            file_prefix="OT")[0]
    assert all(p.stat().st_size > WHOLE_FILE for p in paths)
    victim = paths[1]
    original_uid = _uid(victim)

    def prepare_then_change(path: Path, size: int) -> Any:
        outcome = prepare(path, size)
        if path == victim:  # between reading its header and copying it
            if change == "truncated":
                os.truncate(path, size // 2)
            elif change == "replaced":
                shutil.copy(other, tmp_path / "swap")
                os.replace(tmp_path / "swap", path)
            else:
                with path.open("ab") as f:
                    f.write(bytes(1000))
        return outcome

    monkeypatch.setattr(importer, "prepare", prepare_then_change)
    report = store.import_files(paths)
    assert report.instances_added == 2
    assert [f.path for f in report.failed] == [str(victim)]
    assert CHANGED in report.failed[0].reason
    stored = _stored_uids(store)
    assert original_uid not in stored and _uid(other) not in stored
    assert check_home(store.home).sound


def test_a_header_longer_than_the_first_read_is_read_in_steps(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path / "ct", slices=1, rows=2048, cols=2048)
    ds = pydicom.dcmread(path)
    # A header of about 200 kB before 8 MB of pixels (as per-frame groups make it).
    block = ds.private_block(0x0029, "LIGHTBOX TEST", create=True)
    block.add_new(0x10, "OB", bytes(200_000))
    ds.save_as(path)
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        outcome = prepare(path, size)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.prepared is not None, outcome.problem
    assert outcome.prepared.record.sop_instance_uid == ds.SOPInstanceUID
    assert outcome.prepared.data is None  # copied file to file, not held
    assert peak < 2 * 200_000 + 4 * HEAD_BYTES  # not the 8 MB file


def test_an_empty_file_is_named_as_one(store: StudyStore, tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=2, rows=16, cols=16)
    empty = tmp_path / "ct" / "CT9999.dcm"
    empty.touch()
    report = store.import_files([*paths, empty])
    assert report.instances_added == 2
    assert [(f.path, f.reason) for f in report.skipped] == [(str(empty), "an empty file")]


@pytest.mark.parametrize("writer", [False, True])
def test_a_file_replaced_by_a_fifo_is_named_not_waited_for(tmp_path: Path,
                                                           writer: bool) -> None:
    # Listed as a regular file, replaced by a FIFO before it is read: open() of a FIFO
    # waits for a writer, and the import hung for ever.
    import threading

    from viewer.store.source_copy import SourceChangedError, copy_into, signature

    (path,) = write_ct_series(tmp_path / "in", slices=1, rows=8, cols=8)
    listed = os.stat(path)
    path.unlink()
    os.mkfifo(path)
    held = os.open(path, os.O_RDWR) if writer else None  # a writer that sends nothing
    results: list[object] = []

    def read_then_copy() -> None:
        results.append(prepare(path, listed.st_size).problem)
        target = os.open(tmp_path / "copy", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            copy_into(path, target, signature(listed))
        except SourceChangedError as exc:
            results.append(exc)
        finally:
            os.close(target)

    worker = threading.Thread(target=read_then_copy, daemon=True)
    worker.start()
    worker.join(30)
    if held is not None:
        os.close(held)
    assert len(results) == 2, "the import waited on the FIFO"
    assert results[0] == "no longer a regular file: it was replaced while being imported"
    assert isinstance(results[1], SourceChangedError)
