"""A full disk stops an import with one clear reason and leaves a sound store.

The disk is a real tmpfs of a few megabytes (:mod:`tests.support.small_disk`); the
database is filled for real with SQLite's own page limit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.series import write_ct_series
from tests.support.small_disk import grow, small_disk
from viewer.store import StudyStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    # 160 slices of 128x128 (about 33 KB each, 5 MB): more than the 3 MB disk below,
    # which holds the first batch of 64.
    return write_ct_series(tmp_path_factory.mktemp("ct"), slices=160, rows=128, cols=128)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB file system for the home."""
    with small_disk(tmp_path / "disk", "3m") as mounted:
        yield mounted


def _files_and_rows(home: Path) -> tuple[set[str], set[str]]:
    with StudyStore.open(home) as store:
        assert store.check() == []  # integrity, and every row has its file
        conn = store._reader()
        rows = {str(path) for (path,) in conn.execute("SELECT file_path FROM instances")}
    files = {
        str(p.relative_to(home)) for p in (home / "files").rglob("*.dcm") if p.is_file()
    }
    assert not list((home / "files" / ".incoming").iterdir())  # no temporary left
    return files, rows


def test_a_full_disk_stops_the_import_and_a_rerun_completes_it(
        disk: Path, series: list[Path]) -> None:
    home = disk / "home"
    done = subprocess.run(
        [sys.executable, "-m", "viewer", "--home", str(home), "import", str(series[0].parent)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1, done.stderr  # a report, not a traceback
    assert "Traceback" not in done.stderr
    assert f"Import stopped: the disk of the Lightbox home {home} is full" in done.stdout
    assert "keep it" in done.stdout and "safe to eject" not in done.stdout
    assert "cannot write to the store" not in done.stdout  # said once, not per file
    files, rows = _files_and_rows(home)
    # No file without its row. Usually the first batch is stored; when the next batch
    # fills the disk before the first one's folders are made, none is, and that is sound.
    assert files == rows and len(rows) < len(series)

    grow(disk, "16m")
    with StudyStore.open(home) as store:
        report = store.import_files(series)
    assert report.safe_to_eject and not report.stopped
    assert report.instances_added == len(series) - len(rows)
    files, rows = _files_and_rows(home)
    assert files == rows and len(rows) == len(series)


def test_a_full_database_stops_the_import_and_removes_the_files_without_rows(
        home: Path, series: list[Path]) -> None:
    with StudyStore.open(home) as store:
        store.import_files(series[:10])
        conn = store._writer
        (pages,) = conn.execute("PRAGMA page_count").fetchone()
        # SQLite answers SQLITE_FULL ("database or disk is full") beyond this size.
        conn.execute(f"PRAGMA max_page_count = {pages}")
        report = store.import_files(series[10:])
        assert report.stopped.startswith(f"the disk of the Lightbox home {home} is full")
        assert not report.complete and not report.safe_to_eject and not report.failed
        conn.execute("PRAGMA max_page_count = 1073741823")
    files, rows = _files_and_rows(home)
    assert files == rows and 10 <= len(rows) < len(series)
    with StudyStore.open(home) as store:
        report = store.import_files(series)
    assert report.safe_to_eject
    files, rows = _files_and_rows(home)
    assert files == rows and len(rows) == len(series)


def test_a_healthy_home_on_a_disk_another_program_filled_is_not_called_damaged(
        disk: Path, series: list[Path]) -> None:
    """SQLite sizes the -shm file before it reads: on a full disk every command failed
    with "disk I/O error" and check --repair advised rebuilding the database."""
    home = disk / "home"
    with StudyStore.open(home) as store:
        store.import_files(series[:3])
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    with contextlib.suppress(OSError):
        while os.write(fd, b"\0" * 4096):
            pass
    os.close(fd)
    for command in (["studies"], ["check"], ["check", "--repair"]):
        done = subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), *command],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert "the disk of the Lightbox home is full; free some space" in done.stderr
        assert "integrity" not in done.stdout + done.stderr
    filler.unlink()
    done = subprocess.run([sys.executable, "-m", "viewer", "--home", str(home), "check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "The home is sound" in done.stdout, done.stdout
