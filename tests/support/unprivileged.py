"""Running a piece of a test as a user that file modes apply to.

The tests run as root in CI, where file modes do not stop reads (CAP_DAC_OVERRIDE). As
root, the job runs in a forked child that has dropped to the unprivileged ``nobody`` user
(``setgid``/``setuid``) after everything is imported and warmed up, and reports back
through a pipe: the kernel then refuses reads exactly as it would for a clinician's
account. As a normal user the job runs in the test's own process.
"""

from __future__ import annotations

import json
import os
import pwd
from collections.abc import Callable

import pytest


def run_unprivileged(job: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run ``job`` as a user that file modes apply to; return its JSON-able result."""
    if os.geteuid() != 0:
        return job()
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no 'nobody' user to drop privileges to")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, import, report, exit without cleanup
        status = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            payload = json.dumps(job()).encode()
        except BaseException as exc:
            payload = json.dumps({"error": repr(exc)}).encode()
            status = 1
        with os.fdopen(write_end, "wb") as out:
            out.write(payload)
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    result: dict[str, object] = json.loads(data)
    assert "error" not in result, result
    return result
