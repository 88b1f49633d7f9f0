"""The benchmark harness: verdicts, the table and the command line (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import (
    Context,
    Result,
    Timing,
    measure,
    measure_many,
    measure_pair,
    pair_ratio,
    require_free_space,
)
from benchmarks.harness import available, run, table

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("kwargs", "met"),
    [
        ({}, None),
        ({"goal_max": 2.0}, True),
        ({"goal_max": 1.0}, False),
        ({"goal_max": 2.0, "peer": 1.0, "ratio_max": 1.5}, True),
        ({"goal_max": 2.0, "peer": 1.0, "ratio_max": 1.2}, False),
        ({"ratio_max": 1.5}, False),  # a ratio goal without a peer figure is not met
        ({"goal_min": 2.0}, False),
    ],
)
def test_verdict_follows_every_bound(kwargs: dict[str, float], met: bool | None) -> None:
    assert Result("x", 1.4, **kwargs).met is met  # type: ignore[arg-type]


def test_ratio_and_json_carry_the_derived_fields() -> None:
    r = Result("x", 3.0, peer=2.0, goal_max=5.0, details={"t": Timing(1.0, 0.5, 2.0, 3)})
    assert r.ratio == 1.5
    record = r.as_json()
    assert record["ratio"] == 1.5 and record["met"] is True
    assert record["details"]["t"]["median"] == 1.0
    json.dumps(record)


def test_table_has_the_columns_and_one_line_per_result() -> None:
    text = table(
        [
            (
                "a",
                Result("fast thing", 1.0, peer=2.0, peer_name="peer", goal="< 2 ms", goal_max=2.0),
            ),
            ("b", Result("  detail", 0.5)),
        ]
    )
    lines = text.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "benchmark",
        "what",
        "ours",
        "peer",
        "ratio",
        "goal",
        "met?",
    ]
    assert len(lines) == 4
    assert "yes" in lines[2] and "0.50" in lines[2] and "(peer)" in lines[2]


def test_measure_runs_the_function_the_asked_number_of_times() -> None:
    calls: list[int] = []
    timing = measure(lambda: calls.append(1), 7, warmup=2)
    assert len(calls) == 9 and timing.repeats == 7
    assert timing.p10 <= timing.median <= timing.p90
    both = measure_many({"a": lambda: None, "b": lambda: None}, 4, warmup=0)
    assert set(both) == {"a", "b"} and both["a"].repeats == 4


def test_setup_runs_before_every_call_warmup_included() -> None:
    log: list[str] = []
    measure_pair(
        lambda: log.append("a"), lambda: log.append("b"), 2, warmup=1, setup=lambda: log.append("s")
    )
    # Warm-up, then pairs that take turns going first.
    assert log == ["s", "a", "s", "b"] * 2 + ["s", "b", "s", "a"]
    log.clear()
    measure_many({"a": lambda: log.append("a")}, 2, warmup=1, setup=lambda: log.append("s"))
    assert log == ["s", "a"] * 3


def test_a_failing_module_is_reported_and_the_rest_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import benchmarks.harness as harness

    monkeypatch.setattr(harness, "available", lambda: {"bad": "benchmarks.no_such_module"})
    rows, errors = run(["bad"], Context(quick=True))
    assert rows == [] and "bad" in errors


def test_list_names_the_issue_two_benchmarks() -> None:
    assert {"display", "first_frame", "synthetic"} <= set(available())
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "display" in result.stdout and "first_frame" in result.stdout


def test_pair_ratio_pairs_the_samples_in_the_order_taken() -> None:
    """A host that slows down mid-run: four pairs of five are 1.2x; the medians say 2.4x."""
    ours = Timing.of([int(x * 1e6) for x in (120, 120, 240, 240, 240)])
    peer = Timing.of([int(x * 1e6) for x in (100, 100, 100, 200, 200)])
    assert ours.samples == (120.0, 120.0, 240.0, 240.0, 240.0)
    assert pair_ratio(ours, peer) == pytest.approx(1.2)
    assert ours.median / peer.median == pytest.approx(2.4)
    taken: list[float] = []
    a, b = measure_pair(lambda: taken.append(1), lambda: taken.append(2), 4, warmup=0)
    assert len(a.samples) == len(b.samples) == 4


def _written_bytes() -> int:
    """Bytes this process has passed to write(2) so far (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_warm_memory_writes_the_asked_amount_and_leaves_nothing(tmp_path: Path) -> None:
    before = _written_bytes()
    Context().warm(tmp_path, 8)
    written = _written_bytes() - before
    assert 8_000_000 <= written < 9_000_000
    assert list(tmp_path.iterdir()) == []
    before = _written_bytes()
    Context(warm_memory=False).warm(tmp_path, 8)  # --cold-memory
    assert _written_bytes() - before < 1_000_000
    assert list(tmp_path.iterdir()) == []


def test_a_benchmark_that_would_fill_the_disk_stops_first_naming_it(tmp_path: Path) -> None:
    require_free_space(tmp_path, 1, "a small one")
    with pytest.raises(RuntimeError) as err:
        require_free_space(tmp_path, 1e12, "the import benchmark")  # an exabyte
    text = str(err.value)
    assert text.startswith("the import benchmark writes about 1000000000.0 GB into ")
    assert str(tmp_path) in text and "GB free" in text
