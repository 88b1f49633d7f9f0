"""How much one import may extract from zip archives, every nesting level together.

A zip's own limits (a member's compression ratio, the archive fitting on the disk, three
levels of nesting) bound each archive, not what archives inside archives multiply to: a
28 KB zip of 30 zips of 30 zips of small images wrote 2.7 GB in 27,000 files, and one
member listed many times in the central directory is written once per listing. An import
keeps one budget for all of them: :data:`BUDGET_RATIO` times the size of the zips it was
given or found on the medium (the outermost ones), plus :data:`BUDGET_FLOOR`, and at most
:data:`MAX_MEMBERS` members. Images compress a few times at most (a CT about 2:1, small
synthetic images with flat backgrounds 10:1), so a real medium never reaches it.
"""

from __future__ import annotations

import threading

#: Bytes each byte of an outermost zip may expand to, all levels inside it included.
BUDGET_RATIO = 100
#: Bytes any import may extract beyond that.
BUDGET_FLOOR = 1 << 30
#: Members any import may extract, all archives together.
MAX_MEMBERS = 1_000_000


class ExtractionBudget:
    """What an import may still extract from zips (shared by every level of nesting)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._bytes = BUDGET_FLOOR
        self._members = MAX_MEMBERS

    def grant(self, packed: int) -> None:
        """An outermost zip of ``packed`` bytes: what it may expand to is added."""
        with self._lock:
            self._bytes += BUDGET_RATIO * max(0, packed)

    def take(self, expanded: int, members: int) -> str:
        """Spend what an archive declares, or say why it is refused ("" when taken)."""
        with self._lock:
            if expanded > self._bytes:
                return (f"its members expand to {_size(expanded)}, more than the "
                        f"{_size(self._bytes)} this import may still extract from zips "
                        f"({BUDGET_RATIO} times the size of the zips it was given or found, "
                        f"and {_size(BUDGET_FLOOR)} more): zips nested to multiply their "
                        "contents, or a zip bomb")
            if members > self._members:
                return (f"it holds {members:,} members, more than the {self._members:,} "
                        f"this import may still extract from zips (at most {MAX_MEMBERS:,} "
                        "in all): zips nested to multiply their contents")
            self._bytes -= expanded
            self._members -= members
            return ""


def _size(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 100_000_000 else f"{count / 1e6:.1f} MB"


__all__ = ["BUDGET_FLOOR", "BUDGET_RATIO", "MAX_MEMBERS", "ExtractionBudget"]
