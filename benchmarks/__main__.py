"""``python -m benchmarks [names...]``: run benchmark modules, print a table, save JSON.

Some machines set OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE to work around old OpenBLAS
builds; they slow a current numpy. OpenBLAS reads them when numpy is first imported, so
the harness restarts itself without them, before importing anything that loads numpy.
Only this process and its children see the change; tests and CI keep them.
"""

from __future__ import annotations

import os
import sys

_BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_RESTARTED = "LIGHTBOX_BENCH_BLAS_ENV_CLEARED"

if any(v in os.environ for v in _BLAS_VARIABLES) and _RESTARTED not in os.environ:
    env = {k: v for k, v in os.environ.items() if k not in _BLAS_VARIABLES}
    env[_RESTARTED] = ",".join(v for v in _BLAS_VARIABLES if v in os.environ)
    os.execve(sys.executable, [sys.executable, "-m", "benchmarks", *sys.argv[1:]], env)

from benchmarks.harness import main  # noqa: E402  (after the environment is settled)

sys.exit(main(sys.argv[1:]))
