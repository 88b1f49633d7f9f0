"""Numbers read from header values that may be missing, text, or not finite."""

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


__all__ = ["finite_number", "positive_number"]
