"""Lightbox benchmarks: speed against a peer measured in the same run, with stated goals.

Run ``python -m benchmarks [names...]`` (or ``make bench``). Each ``bench_<name>.py``
module in this package defines ``run(ctx) -> Iterable[Result]``; see README.md.
This package is not part of the test suite and nothing here asserts a timing.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
RESULTS_DIR = ROOT / "results"

__all__ = ["Context", "Result", "Timing", "measure", "measure_many", "measure_pair", "pair_ratio",
           "require_free_space"]


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock times of repeated runs, in milliseconds."""

    median: float
    p10: float
    p90: float
    repeats: int
    samples: tuple[float, ...] = ()  # in the order they were taken

    @classmethod
    def of(cls, samples_ns: list[int]) -> Timing:
        taken = tuple(s / 1e6 for s in samples_ns)
        ms = sorted(taken)
        deciles = statistics.quantiles(ms, n=10) if len(ms) >= 2 else [ms[0]] * 9
        return cls(statistics.median(ms), deciles[0], deciles[-1], len(ms), taken)


def require_free_space(folder: Path, megabytes: float, what: str) -> None:
    """Stop a benchmark before it starts when ``folder``'s disk cannot hold what it writes.

    Benchmarks that write files keep every run's output until the end (deleting thousands
    of files right before creating as many is slow on ext4 without a journal; see
    docs/import.md), so a run needs all of it at once: failing at the start, with the
    figure, beats a disk filled half-way through (and whatever else needed it).
    """
    free = shutil.disk_usage(folder).free / 1e6
    if free < megabytes:
        raise RuntimeError(f"{what} writes about {megabytes / 1000:.1f} GB into {folder}, "
                           f"whose disk has {free / 1000:.1f} GB free")


def pair_ratio(ours: Timing, peer: Timing) -> float:
    """The median of ``ours / peer`` over the pairs of :func:`measure_pair`.

    Each pair ran within seconds, so a host whose speed drifts during the run moves
    both sides of a pair alike; the ratio of the two medians mixes pairs from fast and
    slow spells.
    """
    return statistics.median(a / b for a, b in zip(ours.samples, peer.samples, strict=True))


@dataclass(slots=True)
class Result:
    """One row of the table: what was measured, ours against a peer, and the goal.

    Parameters
    ----------
    what : str
        The operation and its input, e.g. ``"window change, CT 512x512 int16"``.
    ours : float
        Lightbox's figure (median for timings), in ``unit``.
    unit : str
        ``"ms"``, ``"s"``, ``"MB/s"``, ``"x"`` ...
    peer : float, optional
        The peer's figure in the same unit, measured in the same run.
    peer_name : str
        What the peer is (``"numpy.take"``, ``"dcmj2pnm"``, ``"Orthanc"`` ...).
    goal : str
        The goal in words, shown in the table.
    goal_max, goal_min : float, optional
        ``ours`` must be at most / at least this for the goal to be met.
    ratio_max : float, optional
        ``ours / peer`` must be at most this for the goal to be met.
    details : dict
        Anything else worth keeping in the JSON (spread, sizes, versions).
    """

    what: str
    ours: float
    unit: str = "ms"
    peer: float | None = None
    peer_name: str = ""
    goal: str = ""
    goal_max: float | None = None
    goal_min: float | None = None
    ratio_max: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """``ours / peer``; below 1 means Lightbox is faster for a time."""
        if self.peer is None or self.peer == 0 or math.isnan(self.peer):
            return None
        return self.ours / self.peer

    @property
    def met(self) -> bool | None:
        """Whether every stated bound holds; ``None`` when the row has no goal."""
        checks = []
        if self.goal_max is not None:
            checks.append(self.ours <= self.goal_max)
        if self.goal_min is not None:
            checks.append(self.ours >= self.goal_min)
        if self.ratio_max is not None:
            ratio = self.ratio
            checks.append(ratio is not None and ratio <= self.ratio_max)
        return all(checks) if checks else None

    def as_json(self) -> dict[str, Any]:
        """The row with its derived ratio and verdict, for the results file."""
        out = asdict(self)
        out["ratio"] = self.ratio
        out["met"] = self.met
        return out


@dataclass(slots=True)
class Context:
    """What a benchmark module gets from the harness.

    Parameters
    ----------
    quick : bool
        Fewer repeats and smaller inputs where a module offers them (a smoke run).
    warm_memory : bool
        Whether :meth:`warm` warms memory before timed calls (``--cold-memory``: not).
    cache_dir : Path
        A git-ignored folder to keep generated inputs between runs.
    """

    quick: bool = False
    cache_dir: Path = RESULTS_DIR / "cache"
    warm_memory: bool = True

    def warm(self, folder: Path, megabytes: float) -> None:
        """Give the next timed call ``megabytes`` of warm memory to write into (a setup).

        Some virtual machines report freed memory to their host (virtio-balloon free page
        reporting), which takes it back about 2 s later; every page written after that is
        faulted in again, at about 3.5 s per GiB on the development VM, for Lightbox and
        its peer alike, which hides what either does itself (docs/benchmarks.md). A file
        of that size written into ``folder``'s page cache and deleted at once leaves its
        pages free and backed for the call that follows, as a workstation's memory is.
        Does nothing with ``--cold-memory``.
        """
        if not self.warm_memory:
            return
        chunk = bytes(1 << 20)
        path = folder / ".warm-memory"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for _ in range(math.ceil(megabytes * 1e6 / len(chunk))):
                os.write(fd, chunk)
        finally:
            os.close(fd)
            os.unlink(path)  # its dirty pages are dropped, never written to disk

    def repeats(self, full: int) -> int:
        """Number of repeats: ``full`` normally, a tenth (at least 5) with ``quick``."""
        return max(5, full // 10) if self.quick else full

    def folder(self, name: str) -> Path:
        """A cache sub-folder for one input, created on demand."""
        path = self.cache_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def measure(
    fn: Callable[[], object],
    repeats: int,
    *,
    warmup: int = 3,
    setup: Callable[[], object] | None = None,
) -> Timing:
    """Time ``fn`` ``repeats`` times after ``warmup`` untimed calls.

    ``setup`` runs before every call, untimed (e.g. to evict files from the page cache).
    """
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    samples = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return Timing.of(samples)


def measure_pair(
    ours: Callable[[], object],
    peer: Callable[[], object],
    repeats: int,
    *,
    warmup: int = 3,
    setup: Callable[[], object] | None = None,
) -> tuple[Timing, Timing]:
    """Time two operations alternately, so both see the same machine load.

    On a shared machine, load changes over seconds; interleaving the calls keeps the
    ratio honest where two separate loops would not. The pairs alternate which call goes
    first, so neither always follows the other's after-effects (page cache, write-back).
    ``setup`` runs untimed before every call, warm-up calls included.
    """
    for _ in range(warmup):
        for fn in (ours, peer):
            if setup is not None:
                setup()
            fn()
    a: list[int] = []
    b: list[int] = []
    for index in range(repeats):
        order = ((ours, a), (peer, b)) if index % 2 == 0 else ((peer, b), (ours, a))
        for fn, samples in order:
            if setup is not None:
                setup()
            start = time.perf_counter_ns()
            fn()
            samples.append(time.perf_counter_ns() - start)
    return Timing.of(a), Timing.of(b)


def measure_many(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: int = 3,
    setup: Callable[[], object] | None = None,
) -> dict[str, Timing]:
    """Time several operations round-robin (see :func:`measure_pair`), keyed like ``fns``."""
    for _ in range(warmup):
        for fn in fns.values():
            if setup is not None:
                setup()
            fn()
    samples: dict[str, list[int]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if setup is not None:
                setup()
            start = time.perf_counter_ns()
            fn()
            samples[name].append(time.perf_counter_ns() - start)
    return {name: Timing.of(s) for name, s in samples.items()}
