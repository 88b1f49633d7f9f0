"""A process killed (SIGKILL) at random points of an import leaves a sound database:
``PRAGMA integrity_check`` passes, no row lacks its whole file, and a re-run completes
the import with no duplicates."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.series import write_ct_series
from viewer.media import import_media
from viewer.store import StudyStore, check_home
from viewer.store.reading import WHOLE_FILE
from viewer.store.verify import KINDS

ROOT = Path(__file__).resolve().parents[2]


def _start_import(home: Path, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "viewer", "--home", str(home), "import", "--json", str(folder)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _assert_sound(home: Path) -> int:
    """Assert what a kill may leave: a sound database whose every row has its whole file
    (:func:`check_home`: integrity, foreign keys, each file there with the recorded size
    and its own header's UIDs, counts). Files without a row and temporary files are what
    a kill is allowed to leave (the next import or open takes them). Returns the rows."""
    found = check_home(home, deep=True)
    damage = {kind: getattr(found, kind) for kind in KINDS if kind != "orphans"}
    assert not any(damage.values()), found.to_json()
    assert {orphan.kind for orphan in found.orphans} <= {"dicom", "temporary"}, found.to_json()
    conn = sqlite3.connect(home / "studies.sqlite")
    try:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT sop_uid) FROM instances"
        ).fetchone()
    finally:
        conn.close()
    assert total == distinct == found.instances
    return int(total)


def _wait_for_instances(home: Path, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = sqlite3.connect(f"file:{home / 'studies.sqlite'}?mode=ro", uri=True)
            try:
                (found,) = conn.execute("SELECT count(*) FROM instances").fetchone()
            finally:
                conn.close()
            if found >= count:
                return
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.002)


@pytest.mark.parametrize("size", [128, 368], ids=["read-whole", "copied-on-threads"])
def test_sigkill_during_import_leaves_a_sound_database(tmp_path: Path, size: int) -> None:
    """Files of 33 KB are read whole and written by the importing thread; files over
    256 KiB are copied by the kernel on threads of their own."""
    folder = tmp_path / "medium"
    paths = write_ct_series(folder, slices=300, rows=size, cols=size)
    assert (paths[0].stat().st_size > WHOLE_FILE) == (size > 256)
    home = tmp_path / "home"
    seed = int(os.environ.get("LIGHTBOX_CRASH_SEED", time.time_ns() % 100000))
    rng = random.Random(seed)
    stored: list[int] = []
    mid_import = 0
    # The first kill of a run lands anywhere (start-up, schema creation, first batch); the
    # others wait until the import has committed something new, then kill after a random
    # delay (between commits: files written and renamed, rows not yet committed). A run
    # that finished before the kill starts again from an empty home.
    for attempt in range(12):
        if mid_import >= 3:
            break
        if stored and stored[-1] == len(paths):
            shutil.rmtree(home)
            stored = []
        proc = _start_import(home, folder)
        if attempt == 0:
            time.sleep(rng.uniform(0.0, 1.5))
        else:
            _wait_for_instances(home, (stored[-1] if stored else 0) + 1, proc)
            time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if (home / "studies.sqlite").exists():
            stored.append(_assert_sound(home))
            mid_import += 0 < stored[-1] < len(paths)
    assert mid_import >= 2, f"seed {seed}: too few kills landed mid-import"
    final = _start_import(home, folder)
    assert final.wait(timeout=300) == 0, f"seed {seed}"
    assert _assert_sound(home) == len(paths), f"seed {seed}"
    files = [p for p in (home / "files").rglob("*.dcm")]
    assert len(files) == len(paths)
    assert list((home / "files" / ".incoming").iterdir()) == []
    with StudyStore.open(home) as store:
        (study,) = store.studies()
        assert study.number_of_instances == len(paths)


def test_the_soundness_check_sees_a_row_whose_file_is_not_whole(tmp_path: Path) -> None:
    """A row committed before its file's data was written leaves an empty or short file
    under the row: the crash test's check must see it, not only whether the file is there."""
    write_ct_series(tmp_path / "ct", slices=2, rows=16, cols=16)
    home = tmp_path / "home"
    with StudyStore.open(home) as store:
        assert import_media([tmp_path / "ct"], store).ok
    assert _assert_sound(home) == 2
    victim = next((home / "files").rglob("*.dcm"))
    victim.write_bytes(b"")
    with pytest.raises(AssertionError, match="size_mismatch"):
        _assert_sound(home)
