"""Suite-wide guards: no test may reach the internet for data."""

from __future__ import annotations

from typing import NoReturn

import pydicom.data.data_manager as _data_manager
import pydicom.data.download as _download


def _refuse_download(*args: object, **kwargs: object) -> NoReturn:
    raise RuntimeError(
        "a test asked pydicom to download test data; use tests.support.testdata instead"
    )


_download.data_path_with_download = _refuse_download
_data_manager.data_path_with_download = _refuse_download  # type: ignore[attr-defined]
