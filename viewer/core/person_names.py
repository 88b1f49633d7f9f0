"""Person Names for reading (PS3.5 6.2.1.1), the same in every view of the application."""

from __future__ import annotations


def reading_name(value: str) -> str:
    """Show a Person Name for reading: ``Family, Given Middle`` per component group.

    PS3.5 6.2.1.1: up to three component groups (alphabetic, ideographic, phonetic)
    separated by ``=``, each with five components separated by ``^`` (family, given,
    middle, prefix, suffix). The groups present are shown, separated by `` = ``: a name
    held in ideographic characters only (``=山田^太郎``) is not shown empty, and a
    Japanese reader sees 山田 beside Yamada.
    """
    groups = []
    for group in value.split("="):
        parts = [p.strip() for p in group.split("^")] + [""] * 5
        family, given, middle, prefix, suffix = parts[:5]
        rest = " ".join(p for p in (prefix, given, middle, suffix) if p)
        text = f"{family}, {rest}" if family and rest else (family or rest)
        if text:
            groups.append(text)
    return " = ".join(groups)
