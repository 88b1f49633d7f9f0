"""Dates and times in the form PS3.5 defines, whatever form older writers used.

PS3.5 Table 6.2-1 (DA, TM) asks implementations to accept the forms of the standard's
versions before 3.0 (ACR-NEMA): ``YYYY.MM.DD`` for a date and ``HH:MM:SS.frac`` for a
time. Files of the 1990s on old discs still carry them. Kept as they are, such a date
sorts before every other date of its year in the study list and falls outside any
date range a user filters by, so they are brought to ``YYYYMMDD`` and ``HHMMSS.frac``
when a file is indexed.
"""

from __future__ import annotations

import re

_OLD_DATE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
_OLD_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d{0,6})?)?")


def canonical_date(value: str) -> str:
    """``YYYY.MM.DD`` as ``YYYYMMDD`` (PS3.5 Table 6.2-1, DA); anything else unchanged.

    Parameters
    ----------
    value : str
        A DA value, already stripped of padding.

    Returns
    -------
    str
        The value in the current form.
    """
    old = _OLD_DATE.fullmatch(value)
    return "".join(old.groups()) if old else value


def canonical_time(value: str) -> str:
    """``HH:MM[:SS[.frac]]`` without its colons (PS3.5 Table 6.2-1, TM); anything else
    unchanged.

    Parameters
    ----------
    value : str
        A TM value, already stripped of padding.

    Returns
    -------
    str
        The value in the current form.
    """
    return value.replace(":", "") if _OLD_TIME.fullmatch(value) else value
