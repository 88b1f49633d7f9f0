"""Dates: ranges as people type them, checked before they reach a database or a PACS, and
values in the forms older writers used, brought to today's.

PS3.5 Table 6.2-1 (DA, TM) asks implementations to accept the forms of the standard's
versions before 3.0 (ACR-NEMA): ``YYYY.MM.DD`` for a date and ``HH:MM:SS.frac`` for a
time. Files of the 1990s on old discs still carry them. Kept as they are, such a date
sorts before every other date of its year in the study list and falls outside any
date range a user filters by, so they are brought to ``YYYYMMDD`` and ``HHMMSS.frac``
when a file is indexed.
"""

from __future__ import annotations

import datetime
import re

from viewer.core.errors import UsageError

_OLD_DATE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
_OLD_TIME = re.compile(r"\d{2}:\d{2}(?::\d{2}(?:\.\d{0,6})?)?")


def parse_date_range(text: str, option: str = "--date") -> tuple[str, str]:
    """Check a date or date range and return its ends (``""`` for an open end).

    Accepts ``YYYYMMDD``, ``YYYYMMDD-YYYYMMDD``, ``YYYYMMDD-``, ``-YYYYMMDD`` (the DA range
    forms of PS3.4 C.2.2.2.5.1) and ``-`` or nothing (no date). Each date must exist in
    the calendar, and a range must not end before it begins.

    Parameters
    ----------
    text : str
        What was typed.
    option : str
        How the user named the value, for the message (``--date``).

    Raises
    ------
    UsageError
        The text is not such a range; the message names the bad date.
    """
    text = text.strip()
    if not text:
        return "", ""
    first, dash, last = text.partition("-")
    if not dash:
        last = first
    for part in (first, last):
        # ASCII digits only: str.isdigit() takes fullwidth and other scripts' digits.
        if part and not (len(part) == 8 and part.isascii() and part.isdigit()):
            raise UsageError(f"{option} {text}: expected YYYYMMDD or YYYYMMDD-YYYYMMDD "
                             "(or YYYYMMDD-, -YYYYMMDD)")
        if part:
            try:
                datetime.date(int(part[:4]), int(part[4:6]), int(part[6:]))
            except ValueError as exc:
                raise UsageError(f"{option} {text}: {part} is not a date ({exc})") from None
    if first and last and last < first:
        # It would match nothing, silently: surely a typing error.
        raise UsageError(f"{option} {text}: the range ends ({last}) before it begins ({first})")
    return first, last


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
