"""The first Ctrl-C's message, written from a signal handler while stderr is busy.

A signal handler runs between two bytecodes of the main thread, which may be inside a
write of the progress line to stderr: a second write to that buffered stream from the
handler raises "reentrant call" and the Ctrl-C becomes a traceback.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable
from typing import Any

import pytest

from viewer.cli import say_in_handler


class _Stderr(io.RawIOBase):
    """File descriptor 2, with a "signal" arriving in the middle of the first write."""

    def __init__(self, arrives: Callable[[], None]) -> None:
        self.arrives, self.arrived = arrives, False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if not self.arrived:
            self.arrived = True
            self.arrives()
        return os.write(2, bytes(data))


def _busy_stderr(monkeypatch: pytest.MonkeyPatch, arrives: Callable[[], None]) -> None:
    # Line-buffered, as sys.stderr is (Python 3.9+).
    stream = io.TextIOWrapper(io.BufferedWriter(_Stderr(arrives)), encoding="utf-8",
                              line_buffering=True)
    monkeypatch.setattr(sys, "stderr", stream)
    sys.stderr.write("retrieving 3 of 400\r")
    sys.stderr.flush()


def test_the_message_is_written_while_stderr_is_mid_write(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    _busy_stderr(monkeypatch, lambda: say_in_handler("\ncancelling ...\n"))
    err = capfd.readouterr().err
    assert "cancelling ..." in err and "retrieving 3 of 400" in err


def test_printing_to_stderr_there_would_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # What the handlers did before: the situation above is a real failure.
    with pytest.raises(RuntimeError, match="reentrant"):
        _busy_stderr(monkeypatch, lambda: print("\ncancelling ...", file=sys.stderr))
