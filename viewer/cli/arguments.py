"""Argument types the sub-commands share."""

from __future__ import annotations


def uid_argument(text: str) -> str:
    """A UID as typed or pasted: the spaces around it (copied with a table's cell) and
    a UID's NUL padding (PS3.5 9.1) are not part of it."""
    return text.strip().strip("\0")
