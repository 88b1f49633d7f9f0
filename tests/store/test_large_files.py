"""Files too large to read whole are copied file to file, beside the next batch's reading."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future
from pathlib import Path

from tests.support.series import write_ct_series
from viewer.store import StudyStore, importer
from viewer.store.reading import WHOLE_FILE, prepare


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_large_and_small_files_in_one_import_arrive_intact(store: StudyStore,
                                                           tmp_path: Path) -> None:
    large = write_ct_series(tmp_path / "large", slices=70, rows=384, cols=384)
    small = write_ct_series(tmp_path / "small", slices=30, rows=16, cols=16, series_number=2,
                            series_uid="1.2.826.0.1.3680043.10.511.77.2", file_prefix="SM")
    assert all(p.stat().st_size > WHOLE_FILE for p in large)
    report = store.import_files(large + small)
    assert (report.instances_added, report.failed) == (100, [])
    stored = [Path(i.file_path) for study in store.studies()
              for series in store.series(study.study_uid)
              for i in store.instances(series.series_uid)]
    assert sorted(map(_digest, stored)) == sorted(map(_digest, large + small))
    assert list((store.home / "files" / ".incoming").iterdir()) == []


def test_a_copy_that_failed_is_reported_and_the_rest_committed(store: StudyStore,
                                                                tmp_path: Path) -> None:
    paths = write_ct_series(tmp_path / "ct", slices=3, rows=384, cols=384)
    staged = []
    for index, path in enumerate(paths):
        outcome = prepare(path, path.stat().st_size)
        assert outcome.prepared is not None and outcome.prepared.data is None
        r = outcome.prepared.record
        relative = store.files.relative_path(r.study_uid, r.series_uid, r.sop_instance_uid)
        copy: Future[str | OSError] = Future()
        copy.set_result(OSError(5, "Input/output error") if index == 1 else
                        importer.write(store.files, outcome.prepared))
        staged.append(importer._Staged(outcome.prepared, relative, copy))
    committed = importer._commit_batch(store, staged, [])
    assert len(committed.placed) == 2
    assert [(f.path, f.reason) for f in committed.failed] == [
        (str(paths[1]), "cannot write to the store: Input/output error")]
    # Their rows go in with the next batch, after its flush.
    assert importer._commit_batch(store, [], committed.placed).counts.instances == 2
