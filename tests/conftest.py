"""Suite-wide guards (no test may reach the internet for data) and shared fixtures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pydicom.data.data_manager as _data_manager
import pydicom.data.download as _download
import pytest

from tests.support.peers import SilentPeer, make_tls_files


def _refuse_download(*args: object, **kwargs: object) -> NoReturn:
    raise RuntimeError(
        "a test asked pydicom to download test data; use tests.support.testdata instead"
    )


_download.data_path_with_download = _refuse_download
_data_manager.data_path_with_download = _refuse_download  # type: ignore[attr-defined]


@pytest.fixture
def silent() -> Iterator[SilentPeer]:
    """A peer on loopback that accepts connections and never answers."""
    peer = SilentPeer()
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
def unrelated() -> Iterator[subprocess.Popen[bytes]]:
    """A live process that has nothing to do with Lightbox (its pid is not ours)."""
    process = subprocess.Popen(["sleep", "60"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The test PKI of :func:`tests.support.peers.make_tls_files`, made once per module;
    a module that needs more files overrides it."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))
