"""Import into the study store: a 400-slice CT and 10,000 small instances, ours vs cp -r.

Ours is ``viewer.media.import_media`` into a fresh Lightbox home: every file is probed,
its header parsed and checked for truncation, hashed, copied under a temporary name,
fsynced, renamed into the UID layout and indexed in SQLite. The peer is a plain
``cp -r`` of the same folder in the same run (no parsing, no fsync, no index), timed
alternately with ours so machine load hits both alike. The goal is at least half of
cp's throughput (our time at most twice cp's). A second, explanatory row compares with
``cp -r`` followed by ``sync -f``, which puts the copy on disk as the import does; a
third, the floor, times the store's own durable copy (read, temporary file, one syncfs
per batch, rename) without any DICOM parsing or database work, against ``cp -r`` again.
Before every timed call the previous run's writes are flushed and memory is warmed for
what the call writes (``Context.warm``; ``--cold-memory`` skips it), untimed; every run writes
into a new folder, and nothing is deleted until all runs are done (deleting thousands of
files just before creating thousands more is slow on ext4 without a journal, for cp too).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from benchmarks import Context, Result, measure_pair, require_free_space
from viewer.dicom.synthetic import StudyIdentity, write_ct_series
from viewer.media import import_media
from viewer.store import StudyStore
from viewer.store.filestore import FileStore

_COUNTER = itertools.count()


def _input(ctx: Context, name: str, slices: int, size: int) -> Path:
    folder = ctx.folder(name)
    done = folder / ".complete"
    if not done.exists():
        shutil.rmtree(folder)
        study = StudyIdentity(uid_namespace=f"lightbox-benchmark-{name}")
        write_ct_series(folder / "series", study, slices=slices, rows=size, cols=size)
        done.write_text("ok\n")
    return folder / "series"


def _megabytes(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6


def _durable_copy(files: list[Path], root: Path, batch: int = 256) -> None:
    """The floor under an import: read each file and put it in the store as the import
    does (temporary name, one syncfs per batch, rename, one syncfs after the last),
    single-threaded, with no header parsing and no database. What an import costs beyond
    this is DICOM and SQLite work."""
    store = FileStore(root / "files")
    for start in range(0, len(files), batch):
        placed = []
        for path in files[start : start + batch]:
            fd = os.open(path, os.O_RDONLY)
            try:
                data = os.read(fd, 256 << 10)
                large = len(data) == 256 << 10
            finally:
                os.close(fd)
            temporary = store.write_temporary(None if large else data, path)
            placed.append((temporary, f"files/x/{path.name}"))
        store.flush()  # the batch's data, and the previous batch's names
        store.place(placed)
    store.flush()  # the last batch's names


def _compare(ctx: Context, work: Path, source: Path, megabytes: float, label: str,
             repeats: int) -> Iterator[Result]:
    files = [p for p in source.iterdir() if p.is_file()]

    def clean() -> None:
        # Untimed: the previous run's unflushed writes would otherwise be written back by
        # the next import's flush and billed to it. Nothing is deleted until the end (see
        # _fresh_work): every run writes new files into a fresh folder.
        subprocess.run(["sync", "-f", str(work)], check=True)
        # The copy, the database and the process's own allocations, in warm memory
        # (Context.warm, docs/benchmarks.md).
        ctx.warm(work, 1.5 * megabytes + 64)

    def ours() -> None:
        with StudyStore.open(work / f"home{next(_COUNTER)}") as store:
            report = import_media([source], store)
        if report.instances_added != len(files):
            raise RuntimeError(f"imported {report.instances_added} of {len(files)}")

    def peer() -> None:
        subprocess.run(["cp", "-r", str(source), str(work / f"cp{next(_COUNTER)}")], check=True)

    def peer_flushed() -> None:
        peer()
        subprocess.run(["sync", "-f", str(work)], check=True)

    def floor() -> None:
        _durable_copy(files, work / f"floor{next(_COUNTER)}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean()
        a, b = measure_pair(ours, peer, repeats, warmup=1, setup=clean)
        _, flushed = measure_pair(ours, peer_flushed, repeats, warmup=0, setup=clean)
        bare, cp_again = measure_pair(floor, peer, repeats, warmup=0, setup=clean)
    # cp -r is timed twice in the run (beside the import, and beside the floor): the goal
    # is judged against the faster of the two medians, so that a spell of slow file
    # creation that hit only one series (one run put cp's median at 2.2 s against 0.16 s
    # in its other series) cannot pass an import that did not earn it.
    seconds, cp_seconds = a.median / 1000.0, min(b.median, cp_again.median) / 1000.0
    yield Result(
        what=f"import {label} ({len(files)} files, {megabytes:.0f} MB)",
        ours=seconds,
        unit="s",
        peer=cp_seconds,
        peer_name="cp -r, the faster of its two series",
        goal=">= 0.5x cp throughput (time <= 2x cp)",
        ratio_max=2.0,
        details={"ours": a, "peer": b, "peer_again": cp_again},
    )
    yield Result(
        what="  the same against cp -r; sync -f (data on disk, as ours)",
        ours=seconds,
        unit="s",
        peer=flushed.median / 1000.0,
        peer_name="cp -r; sync -f",
        details={"peer": flushed},
    )
    yield Result(
        what="  floor: the store's durable copy alone (no parsing, no DB), vs cp -r",
        ours=bare.median / 1000.0,
        unit="s",
        peer=cp_again.median / 1000.0,
        peer_name="cp -r",
        details={"ours": bare, "peer": cp_again},
    )
    yield Result(
        what="  files per second",
        ours=len(files) / seconds,
        unit="files/s",
        peer=len(files) / cp_seconds,
        peer_name="cp -r",
    )
    yield Result(
        what="  MB per second",
        ours=megabytes / seconds,
        unit="MB/s",
        peer=megabytes / cp_seconds,
        peer_name="cp -r",
    )


# ext4 without a journal (as on the development VM) skips inodes freed in the last 5-35 s
# when it allocates new ones (fs/ext4/ialloc.c, recently_deleted): files created right
# after thousands were deleted cost several times more to create, cp's included, by an
# amount that depends on how long ago the deletion was. A benchmark that deletes its
# previous run's output before each timed run measures that, not the import.
_RECENTLY_DELETED_SECONDS = 36


def _fresh_work(ctx: Context) -> Path:
    """An empty work folder; what an earlier run left is deleted, then given time to age."""
    work = ctx.folder("import-work")
    if any(work.iterdir()):
        shutil.rmtree(work)
        work.mkdir()
        subprocess.run(["sync", "-f", str(work)], check=True)
        time.sleep(_RECENTLY_DELETED_SECONDS)
    return work


def run(ctx: Context) -> Iterator[Result]:
    """400-slice 512x512 CT, then 10,000 instances of 32x32."""
    slices, small = (100, 2000) if ctx.quick else (400, 10_000)
    ct = _input(ctx, f"import-ct{slices}", slices, 512)
    many = _input(ctx, f"import-small{small}", small, 32)
    work = _fresh_work(ctx)
    repeats = 1 if ctx.quick else 5
    # Nothing is deleted until the end: per input, three alternated series of `repeats`
    # pairs, the first with a warm-up pair (6 * repeats + 2 copies), and warm memory.
    ct_mb, many_mb = _megabytes(ct), _megabytes(many)
    require_free_space(work, (6 * repeats + 2) * (ct_mb + many_mb) + 1.5 * ct_mb + 564,
                       "the import benchmark")
    try:
        yield from _compare(ctx, work, ct, ct_mb, f"{slices}-slice CT 512x512", repeats)
        yield from _compare(ctx, work, many, many_mb, f"{small} small instances", repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(exist_ok=True)
