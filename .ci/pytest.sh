#!/usr/bin/env bash
# Run the whole test suite under a virtual display. pytest's "no tests ran" (5) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-xcb}"
export LIBGL_ALWAYS_SOFTWARE=1
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null; then
  xvfb-run -a -s "-screen 0 1920x1080x24" .venv/bin/python -m pytest "$@"
else
  .venv/bin/python -m pytest "$@"
fi
status=$?
[ "$status" -eq 5 ] && { echo "pytest collected no tests" >&2; exit 1; }
exit "$status"
