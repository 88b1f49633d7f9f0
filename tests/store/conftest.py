"""Fixtures of the store tests: a fresh home folder and small synthetic series."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from viewer.store import StudyStore


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Lightbox home folder for one test."""
    return tmp_path / "home"


@pytest.fixture
def store(home: Path) -> Iterator[StudyStore]:
    """An empty store in ``home``."""
    with StudyStore.open(home) as opened:
        yield opened
