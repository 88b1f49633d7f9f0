"""The Qt binding Lightbox runs on must not corrupt the interpreter.

PySide6 6.12.0's ``SignalInstance.emit`` drops a reference to ``True`` on every call; after a
few thousand signals (one series load emits one per slice) Python aborts with
``bool_dealloc``. The check runs in a child process so that a broken binding fails this test
instead of killing the test session.
"""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
from PySide6.QtCore import QCoreApplication, QObject, Signal

class Emitter(QObject):
    with_value = Signal(int)
    bare = Signal()

app = QCoreApplication([])
emitter = Emitter()
before = sys.getrefcount(True), sys.getrefcount(False)
for i in range(5000):
    emitter.with_value.emit(i)
    emitter.bare.emit()
after = sys.getrefcount(True), sys.getrefcount(False)
print(after[0] - before[0], after[1] - before[1])
"""


def test_signal_emission_keeps_the_interpreter_sound() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["0", "0"]
