"""Compositing in P-value space after the Presentation LUT: overlays and shutters (PS3.3 C.9.2,
C.7.6.11), and the promotion of a grayscale frame to RGB when colour must be added."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

UInt8Array = npt.NDArray[np.uint8]
BoolArray = npt.NDArray[np.bool_]


def composite(
    frame: UInt8Array,
    *,
    overlays: Iterable[BoolArray] = (),
    overlay_value: int = 255,
    shutter: BoolArray | None = None,
    shutter_value: int = 0,
) -> UInt8Array:
    """Paint overlays and the shutter onto an output frame.

    Parameters
    ----------
    frame : numpy.ndarray
        ``rows x cols`` DDLs or ``rows x cols x 3`` RGB.
    overlays : iterable of numpy.ndarray
        Boolean masks (True = overlay pixel), drawn at ``overlay_value`` (the DDL of the
        maximum P-value) after the Presentation LUT so they stay visible whatever the polarity
        (PS3.3 C.9.2: overlays are not windowed).
    shutter : numpy.ndarray, optional
        Boolean mask, True where the shutter covers the image (PS3.3 C.7.6.11).
    shutter_value : int
        DDL of the Shutter Presentation Value (black by default).

    Returns
    -------
    numpy.ndarray
        A new array; ``frame`` is not modified.
    """
    out = frame.copy()
    for mask in overlays:
        out[mask] = overlay_value
    if shutter is not None:
        out[shutter] = shutter_value  # shutters are drawn over overlays too
    return out


