"""Real World Value Mapping: stored values to a quantity with a unit (PS3.3 C.7.6.16.2.11).

A Real World Value Mapping item maps a range of stored values to values of a physical
quantity, by a line (slope and intercept) or by a table, and names the quantity's unit
(Measurement Units Code Sequence, UCUM). An ADC map is the usual case: stored 850 is
0.00085 mm²/s, whatever the Modality LUT or rescale says for display. The mapping
applies to stored values, not to the modality values a rescale gives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class RealWorldMapping:
    """One item of a Real World Value Mapping Sequence (0040,9096).

    Attributes
    ----------
    first, last : float
        The stored values mapped, both included (0040,9216 and 0040,9211, or their
        double-float forms for float pixel data).
    slope, intercept : float
        Real World Value Slope and Intercept (0040,9225 / 0040,9224), when no table.
    table : tuple of float, optional
        Real World Value LUT Data (0040,9212): the value of ``first``, ``first + 1``...
    unit : str
        The unit as shown (from the UCUM code value), empty for a unitless quantity.
    label : str
        LUT Label (0040,9210), else LUT Explanation (0028,3003): what the quantity is.
    """

    first: float
    last: float
    slope: float = 1.0
    intercept: float = 0.0
    table: tuple[float, ...] | None = None
    unit: str = ""
    label: str = ""

    def apply(self, stored: npt.ArrayLike) -> FloatArray:
        """The real-world values of ``stored``; NaN where a value is outside the range."""
        sv = np.asarray(stored, dtype=np.float64)
        inside = (sv >= self.first) & (sv <= self.last)
        if self.table is not None:
            table = np.asarray(self.table, dtype=np.float64)
            index = np.clip(np.rint(sv - self.first), 0, len(table) - 1).astype(np.intp)
            values = table[index]
        else:
            values = sv * self.slope + self.intercept
        out: FloatArray = np.where(inside, values, np.nan)
        return out


# UCUM writes exponents as digits after the unit symbol (mm2, cm-1); a reader expects mm².
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def ucum_text(code: str, meaning: str = "") -> str:
    """How a UCUM unit code (PS3.16 CID 7181, CID 84) is shown: ``mm2/s`` as ``mm²/s``,
    ``1`` (no unit) as nothing, an annotation such as ``{SUVbw}g/ml`` by its meaning."""
    code = code.strip()
    if code in ("", "1"):
        return ""
    if code.startswith("{"):
        return meaning.strip() or code
    return re.sub(r"(?<=[A-Za-z])(-?\d+)",
                  lambda m: m.group(1).translate(_SUPERSCRIPT), code)


__all__ = ["RealWorldMapping", "ucum_text"]
