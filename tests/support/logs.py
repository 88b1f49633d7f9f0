"""Waiting for a log record that another thread writes."""

from __future__ import annotations

import logging
import time

import pytest


def net_record(caplog: pytest.LogCaptureFixture, text: str, patience: float
               ) -> logging.LogRecord:
    """The first record of ``viewer.net`` containing ``text``, once a server's thread has
    logged it (within ``patience`` seconds)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        for record in caplog.records:
            if record.name.startswith("viewer.net") and text in record.getMessage():
                return record
        time.sleep(0.01)
    raise AssertionError(f"nothing logged containing {text!r}")
