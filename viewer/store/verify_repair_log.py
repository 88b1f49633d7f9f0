"""What :func:`viewer.store.verify_repair.repair_home` reports: :class:`Action`, one
thing the repair did or could not do, and :class:`RepairLog`, all of them.

:mod:`viewer.store.verify_repair` re-exports both; the repair steps
(:mod:`viewer.store.verify_repair_rows`, :mod:`viewer.store.verify_repair_files`) write
to the log."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from viewer.core.imports import printable


@dataclass(frozen=True, slots=True)
class Action:
    """One thing repair did, or could not do (``action`` ``left``)."""

    action: str
    subject: str  # a UID or a path relative to the home
    detail: str

    def line(self) -> str:
        """One line for the report."""
        action = self.action.replace("_", " ")
        return f"{action} {printable(self.subject)}: {printable(self.detail)}"


@dataclass(slots=True)
class RepairLog:
    """What :func:`~viewer.store.verify_repair.repair_home` did (``repaired``) and what it
    left (``not_repaired``)."""

    repaired: list[Action] = field(default_factory=list)
    not_repaired: list[Action] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """``repaired`` and ``not_repaired`` as lists of ``{action, subject, detail}``."""
        return {key: [{k: printable(v) for k, v in asdict(a).items()} for a in actions]
                for key, actions in (("repaired", self.repaired),
                                     ("not_repaired", self.not_repaired))}
