"""Numbers read from header values that may be missing, text, or not finite, and values
that may hold one item or several."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float (a DS, IS, FD... value), else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def positive_number(value: Any) -> float | None:
    """``value`` as a finite float above 0 (a spacing, a weight, a time), else None."""
    number = finite_number(value)
    return number if number is not None and number > 0 else None


def is_multi_valued(value: Any) -> bool:
    """Whether ``value`` holds several values (pydicom's MultiValue, or a list or tuple)."""
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def listed(value: Any) -> list[Any]:
    """A value that may be missing, one item or several (a multi-valued element), as a
    list."""
    if value is None:
        return []
    return list(value) if is_multi_valued(value) else [value]


def numbers_of(value: Any, count: int) -> tuple[float, ...] | None:
    """Exactly ``count`` numbers from a multi-valued element (a position, an orientation),
    else None; text is not taken digit by digit."""
    if value is None or isinstance(value, str | bytes):
        return None
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def us_or_ss(value: int, signed: bool) -> int:
    """Reinterpret a 16-bit value whose VR is "US or SS" by Pixel Representation (PS3.3
    C.11.1.1.1, C.7.6.16.2.11.1.1)."""
    raw = int(value) & 0xFFFF
    return raw - 0x10000 if signed and raw >= 0x8000 else raw


__all__ = ["finite_number", "is_multi_valued", "listed", "numbers_of", "positive_number",
           "us_or_ss"]
