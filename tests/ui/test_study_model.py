"""The study table model over 10,000 studies: pages on demand, never the whole list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from viewer.core.records import InstanceRecord, PatientRecord
from viewer.store.study_store import StudyStore
from viewer.store.writer import StoredFile
from viewer.ui.browser.study_model import PAGE_SIZE, StudyTableModel

STUDIES = 10_000
pytestmark = pytest.mark.slow  # filling 10,000 studies takes a few seconds


@pytest.fixture(scope="module")
def big_store(tmp_path_factory: pytest.TempPathFactory):
    home = tmp_path_factory.mktemp("big-home")
    store = StudyStore.open(home)
    batch = []
    for n in range(STUDIES):
        record = InstanceRecord(
            sop_instance_uid=f"2.25.{n}.3", sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            patient=PatientRecord(f"PID{n:05d}", f"PATIENT{n:05d}^TEST", "19700101", "O"),
            study_uid=f"2.25.{n}.1", series_uid=f"2.25.{n}.2",
            study_date=f"20{10 + n % 15:02d}0{1 + n % 9}15", modality="CT",
            study_description="CHEST")
        batch.append(StoredFile(record, f"none/{n}.dcm", 0, ""))
        if len(batch) == 1000:
            store.commit_files(batch)
            batch = []
    store.commit_files(batch)
    yield store
    store.close()


class _Counting:
    """The store, counting what the model asks of it."""

    def __init__(self, store: StudyStore) -> None:
        self.store = store
        self.limits: list[int] = []

    def studies(self, study_filter):
        self.limits.append(study_filter.limit)
        return self.store.studies(study_filter)

    def study_count(self, study_filter=None):
        return self.store.study_count(study_filter)

    def study_uids(self, study_filter):
        return self.store.study_uids(study_filter)


def test_ten_thousand_studies_are_paged(qapp, big_store: StudyStore) -> None:
    counting = _Counting(big_store)
    model = StudyTableModel(counting)
    assert model.rowCount() == STUDIES
    last = model.study(STUDIES - 1)
    first = model.study(0)
    assert first is not None and last is not None
    assert first.study_date >= last.study_date  # newest first
    for row in range(0, STUDIES, 97):  # scrolling through everything
        model.data(model.index(row, 0), Qt.ItemDataRole.DisplayRole)
    assert counting.limits and all(0 < limit <= PAGE_SIZE for limit in counting.limits)
    assert len(model._pages) <= 21  # a bounded number of pages in memory


def test_filter_and_sort_over_ten_thousand(qapp, big_store: StudyStore) -> None:
    from viewer.core.records import StudyFilter

    model = StudyTableModel(big_store)
    model.set_filter(StudyFilter(patient_name="patient0012*"))
    assert model.rowCount() == 10
    model.sort(1, Qt.SortOrder.AscendingOrder)  # patient ID
    ids = [model.data(model.index(r, 1), Qt.ItemDataRole.DisplayRole) for r in range(10)]
    assert ids == sorted(ids) and ids[0] == "PID00120"
    assert model.filter.patient_name == "patient0012*"
    model.sort(2, Qt.SortOrder.AscendingOrder)  # birth date, sorted by the store too
    assert model.filter.sort == "birth_date"
    births = [model.data(model.index(r, 2), Qt.ItemDataRole.DisplayRole) for r in range(10)]
    assert births == sorted(births)
