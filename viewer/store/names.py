"""Normalised text for case- and accent-insensitive search, and DICOM wildcards as GLOB.

A Person Name is stored as read (all component groups, PS3.5 6.2.1.1) and once more
normalised: Unicode compatibility forms folded (half-width katakana = full-width),
case folded, accents removed from Latin and Greek letters, ``^`` and runs of spaces made one space.
The normaliser has a version so a later change can recompute the column in a migration.
"""

from __future__ import annotations

import re
import unicodedata

NORMALISER_VERSION = 2
_SPACES = re.compile(r"[\s^]+")


def normalise(text: str) -> str:
    """Return ``text`` folded for matching (see the module docstring).

    Examples
    --------
    >>> normalise("Buc^Jérôme")
    'buc jerome'
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    kept: list[str] = []
    base = ""
    for char in decomposed:
        # Drop the accents of Latin and Greek letters, which people often leave out when
        # they type a name (Greek's tonos and dialytika too); keep every other script's
        # marks: kana voicing marks, for one, make another sound.
        if unicodedata.combining(char) and base and _folds_accents(base):
            continue
        kept.append(char)
        if not unicodedata.combining(char):
            base = char
    text = unicodedata.normalize("NFC", "".join(kept))
    groups = [_SPACES.sub(" ", group).strip() for group in text.split("=")]
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


def _folds_accents(base: str) -> bool:
    code = ord(base)
    # Latin (up to IPA), Greek and Coptic, Greek Extended.
    return code < 0x0250 or 0x0370 <= code < 0x0400 or 0x1F00 <= code < 0x2000


def has_wildcard(pattern: str) -> bool:
    """True when ``pattern`` uses DICOM wildcards (PS3.4 C.2.2.2.4: ``*`` and ``?``)."""
    return "*" in pattern or "?" in pattern


def to_glob(pattern: str) -> str:
    """Turn a DICOM wildcard pattern into an SQLite GLOB pattern (``[`` is literal)."""
    return pattern.replace("[", "[[]")
