"""Discovery, running, the results table and the JSON record of a benchmark run."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import RESULTS_DIR, ROOT, Context, Result

PREFIX = "bench_"


def available() -> dict[str, str]:
    """Benchmark names and their module names, from ``bench_*.py`` files, sorted."""
    names = {}
    for info in pkgutil.iter_modules([str(ROOT)]):
        if info.name.startswith(PREFIX):
            names[info.name[len(PREFIX) :]] = f"benchmarks.{info.name}"
    return dict(sorted(names.items()))


def _load(module_name: str) -> ModuleType:
    module = importlib.import_module(module_name)
    if not callable(getattr(module, "run", None)):
        raise TypeError(f"{module_name} has no run(ctx) function")
    return module


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    text = f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return f"{text} {unit}".strip()


def table(rows: list[tuple[str, Result]]) -> str:
    """The results as a plain-text table: what, ours, peer, ratio, goal, met?"""
    header = ("benchmark", "what", "ours", "peer", "ratio", "goal", "met?")
    lines = []
    for name, r in rows:
        peer = _fmt(r.peer, r.unit) + (f" ({r.peer_name})" if r.peer_name else "")
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append((name, r.what, _fmt(r.ours, r.unit), peer, ratio, r.goal or "-", met))
    widths = [max(len(str(c)) for c in col) for col in zip(header, *lines, strict=True)]
    out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    return "\n".join(out)


def environment() -> dict[str, Any]:
    """Facts about the machine and libraries that the figures depend on."""
    import numpy as np  # imported here: after __main__ settled the BLAS environment

    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "blas_env_cleared": os.environ.get("LIGHTBOX_BENCH_BLAS_ENV_CLEARED", ""),
    }
    try:
        import pydicom

        info["pydicom"] = pydicom.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info  # optional: which BLAS kernel runs

        info["blas"] = threadpool_info()
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    try:
        load = os.getloadavg()
        info["load_average"] = [round(x, 2) for x in load]
    except OSError:
        pass
    return info


def run(names: Iterable[str], ctx: Context) -> tuple[list[tuple[str, Result]], dict[str, str]]:
    """Run the named benchmarks; a failing module is reported and the others still run."""
    modules = available()
    rows: list[tuple[str, Result]] = []
    errors: dict[str, str] = {}
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            module = _load(modules[name])
            for result in module.run(ctx):
                rows.append((name, result))
        except Exception:  # one broken benchmark must not lose the others' figures
            errors[name] = traceback.format_exc()
            print(f"{name} failed:\n{errors[name]}", file=sys.stderr)
        print(f"  {name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows, errors


def save(rows: list[tuple[str, Result]], errors: dict[str, str], ctx: Context) -> Path:
    """Write the run to ``results/<UTC timestamp>.json`` and ``results/latest.json``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {
        "when": stamp,
        "quick": ctx.quick,
        "warm_memory": ctx.warm_memory,
        "environment": environment(),
        "results": [{"benchmark": name, **r.as_json()} for name, r in rows],
        "errors": errors,
    }
    path = RESULTS_DIR / f"{stamp}.json"
    text = json.dumps(record, indent=2, default=str)
    path.write_text(text + "\n", encoding="utf-8")
    (RESULTS_DIR / "latest.json").write_text(text + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """Hold the results folder's lock: one benchmark run at a time on a machine.

    Two runs would share the input cache and, worse, each other's cores: both sets of
    figures would be wrong. A second run waits for the first.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    with open(RESULTS_DIR / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another benchmark run to finish ...", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    """Entry point of ``python -m benchmarks``; exit 1 if a benchmark failed to run."""
    modules = available()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "names", nargs="*", help=f"benchmarks to run (default all): {', '.join(modules)}"
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")
    parser.add_argument(
        "--cold-memory", action="store_true",
        help="do not warm memory before timed calls that write files (docs/benchmarks.md)",
    )
    args = parser.parse_args(argv)
    if args.list:
        for name, module in modules.items():
            doc = (importlib.import_module(module).__doc__ or "").strip().splitlines()
            print(f"{name:16} {doc[0] if doc else ''}")
        return 0
    unknown = [n for n in args.names if n not in modules]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; have {', '.join(modules)}")
    ctx = Context(quick=args.quick, warm_memory=not args.cold_memory)
    with _exclusive():
        rows, errors = run(args.names or list(modules), ctx)
    print(table(rows))
    if not args.no_save:
        print(f"\nsaved {save(rows, errors, ctx).relative_to(ROOT.parent)}")
    return 1 if errors else 0
