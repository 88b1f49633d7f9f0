"""VOI LUT stage: modality values to a normalised VOI output in ``[0, 1]`` (PS3.3 C.11.2).

The output is kept normalised (``y = ymin + u * (ymax - ymin)`` with ``u`` returned here) so
that the next stages can work at any P-value depth.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from viewer.imaging.modality import FloatArray, LutParams, lut_lookup

log = logging.getLogger(__name__)


class VoiFunction(enum.Enum):
    """VOI LUT Function (0028,1056), PS3.3 C.11.2.1.3."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"

    @classmethod
    def parse(cls, text: str | None) -> VoiFunction:
        """Return the function named by ``text``; LINEAR when absent or unknown."""
        value = (text or "").strip().upper()
        for member in cls:
            if member.value == value:
                return member
        if value:
            log.warning("unknown VOI LUT Function %r, using LINEAR", value)
        return cls.LINEAR


@dataclass(frozen=True)
class WindowParams:
    """One window: center and width in modality units (PS3.3 C.11.2.1.2).

    Parameters
    ----------
    center, width : float
        Window Center (0028,1050) and Window Width (0028,1051).
    function : VoiFunction
        VOI LUT Function (0028,1056).
    explanation : str
        Window Center & Width Explanation (0028,1055).
    """

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR
    explanation: str = ""

    def is_valid(self) -> bool:
        """LINEAR needs width >= 1, LINEAR_EXACT and SIGMOID width > 0 (C.11.2.1.2/3)."""
        if self.function is VoiFunction.LINEAR:
            return self.width >= 1.0
        return self.width > 0.0

    def width_problem(self) -> str:
        """Why the width does not fit the function, in words; "" when it does."""
        if self.is_valid():
            return ""
        return (f"width {self.width:g} is not valid for {self.function.value} (PS3.3 "
                "C.11.2.1.2: LINEAR needs >= 1, the others > 0)")


def window_unit(values: npt.ArrayLike, window: WindowParams) -> FloatArray:
    """Apply ``window`` to modality values; return ``(y - ymin) / (ymax - ymin)`` in [0, 1].

    Raises
    ------
    ValueError
        If the width is not allowed for the function.
    """
    if not window.is_valid():
        raise ValueError(f"window width {window.width:g} is not valid for {window.function.value}")
    x = np.asarray(values, dtype=np.float64)
    c, w = float(window.center), float(window.width)
    if window.function is VoiFunction.SIGMOID:
        # PS3.3 C.11.2.1.3.1: y = (ymax - ymin) / (1 + exp(-4 (x - c) / w)) + ymin
        with np.errstate(over="ignore"):
            out: FloatArray = 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
        return out
    if window.function is VoiFunction.LINEAR_EXACT:
        # PS3.3 C.11.2.1.3.2
        u = (x - c) / w + 0.5
        u = np.where(x <= c - w / 2.0, 0.0, u)
        return np.where(x > c + w / 2.0, 1.0, u)
    # PS3.3 C.11.2.1.2.1 (LINEAR); width 1 is a threshold at c - 0.5
    low = c - 0.5 - (w - 1.0) / 2.0
    high = c - 0.5 + (w - 1.0) / 2.0
    if w == 1.0:
        return np.where(x <= low, 0.0, 1.0)
    u = (x - (c - 0.5)) / (w - 1.0) + 0.5
    u = np.where(x <= low, 0.0, u)
    return np.where(x > high, 1.0, u)


def apply_window(
    values: npt.ArrayLike, window: WindowParams, ymin: float = 0.0, ymax: float = 255.0
) -> FloatArray:
    """Apply ``window`` and scale to ``[ymin, ymax]`` (unrounded), as PS3.3 writes it."""
    return ymin + window_unit(values, window) * (ymax - ymin)


def voi_lut_unit(values: npt.ArrayLike, lut: LutParams) -> FloatArray:
    """Apply a VOI LUT Sequence item; return its output over ``0 ... 2**bits - 1`` as [0, 1].

    PS3.3 C.11.2.1.1: inputs outside the mapped range clamp to the first or last entry.
    """
    out: FloatArray = lut_lookup(lut, values).astype(np.float64) / float(lut.max_output)
    return np.clip(out, 0.0, 1.0)


def min_max_window(mv_min: float, mv_max: float) -> WindowParams:
    """Window that maps ``[mv_min, mv_max]`` onto the whole output range under LINEAR.

    Same convention as dcmtk's min-max window: C = (min + max + 1) / 2, W = max - min + 1, so
    that the LINEAR bounds ``c - 0.5 -/+ (w - 1) / 2`` fall exactly on min and max.
    """
    return WindowParams(
        center=(mv_min + mv_max + 1.0) / 2.0,
        width=mv_max - mv_min + 1.0,
        function=VoiFunction.LINEAR,
        explanation="MIN-MAX",
    )
