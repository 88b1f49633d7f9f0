"""The study database (sqlite3, WAL) and the managed file store in the Lightbox home.

``StudyStore.open(home)`` is the entry point; see :mod:`viewer.store.study_store`.
``check_home(home)`` verifies a home and ``repair_home(home, findings)`` repairs it; see
:mod:`viewer.store.verify` and :mod:`viewer.store.verify_repair`.
"""

from viewer.store.study_store import StoreError, StudyStore
from viewer.store.verify import Findings, check_home
from viewer.store.verify_repair import RepairLog, repair_home

__all__ = ["Findings", "RepairLog", "StoreError", "StudyStore", "check_home", "repair_home"]
