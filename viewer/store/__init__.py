"""The study database (sqlite3, WAL) and the managed file store in the Lightbox home.

``StudyStore.open(home)`` is the entry point; see :mod:`viewer.store.study_store`.
"""

from viewer.store.study_store import StoreError, StudyStore

__all__ = ["StoreError", "StudyStore"]
