"""UID checks remembered across associations (PS3.5 9.1, PS3.8 Annex F).

Every A-ASSOCIATE-RQ names its presentation contexts by UID: a PACS's request for a
C-MOVE sub-association carries a hundred-odd contexts and about a thousand UIDs, each
checked three times by pynetdicom and pydicom against the UID pattern (PS3.5 9.1) while
the request is decoded, negotiated and answered. The same thousand UIDs come back with
every association. The checks are pure functions of the UID (and of pynetdicom's
conformance switch), so their answers are remembered: a PACS's second association costs
a dictionary look-up per UID where it cost three regular-expression matches.

Invalid UIDs are still refused, and pydicom still warns about them where it did: only
the verdict is remembered, not what is done with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pydicom.valuerep as pydicom_valuerep
from pydicom.uid import UID
from pynetdicom import _config as pynetdicom_config

# Distinct UIDs remembered per check: storage SOP classes and transfer syntaxes number a
# few hundred; instance UIDs, which do not repeat, pass through.
REMEMBERED_UIDS = 4096

_Verdict = tuple[bool, str]


class _RememberedPynetdicomCheck:
    """pynetdicom's UI check (``_config.VALIDATORS["UI"]``), remembered per UID.

    Its verdict depends on ``_config.ENFORCE_UID_CONFORMANCE`` too, which is part of the key.
    """

    def __init__(self, check: Callable[[Any], _Verdict]) -> None:
        self.check = check
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_UIDS)(self._checked)

    def _checked(self, value: str, _enforce: bool) -> _Verdict:
        return self.check(value)

    def __call__(self, value: Any) -> _Verdict:
        if not isinstance(value, str):
            return self.check(value)
        return self._remembered(str(value), bool(pynetdicom_config.ENFORCE_UID_CONFORMANCE))


class _RememberedPydicomCheck:
    """pydicom's check of a UI value (``valuerep.VALIDATORS["UI"]``), remembered per value."""

    def __init__(self, check: Callable[[str, Any], _Verdict]) -> None:
        self.check = check
        self._remembered = functools.lru_cache(maxsize=REMEMBERED_UIDS)(check)

    def __call__(self, vr: str, value: Any) -> _Verdict:
        # Keyed by the plain text: a UID is a str subclass with the same verdict.
        if isinstance(value, str):
            return self._remembered(vr, str(value))
        if isinstance(value, bytes):
            return self._remembered(vr, bytes(value))
        return self.check(vr, value)


@functools.lru_cache(maxsize=REMEMBERED_UIDS)
def _conformant(text: str, check: Callable[[str], bool]) -> bool:
    return check(text)


class _RememberedConformance:
    """pydicom's ``UID.is_valid`` (PS3.5 9.1: at most 64 characters, the UI pattern),
    remembered per UID text; pynetdicom asks it of every UID it sets."""

    def __init__(self, check: Any) -> None:
        self.check = check

    def __get__(self, uid: UID | None, owner: type[UID]) -> Any:
        if uid is None:
            return self
        return _conformant(str(uid), self.check.fget)


def remember_uid_checks() -> None:
    """Install the remembered checks in pynetdicom and pydicom (once per process).

    pynetdicom documents ``_config.VALIDATORS`` as the place to customise its checks.
    pydicom's table of checks per VR and ``UID.is_valid`` are left as they are if a
    version names them differently.
    """
    current = pynetdicom_config.VALIDATORS.get("UI")
    if current is not None and not isinstance(current, _RememberedPynetdicomCheck):
        pynetdicom_config.VALIDATORS["UI"] = _RememberedPynetdicomCheck(current)
    table = getattr(pydicom_valuerep, "VALIDATORS", None)
    if isinstance(table, dict):
        check = table.get("UI")
        if check is not None and not isinstance(check, _RememberedPydicomCheck):
            table["UI"] = _RememberedPydicomCheck(check)
    conformance = UID.__dict__.get("is_valid")
    if isinstance(conformance, property) and conformance.fget is not None:
        UID.is_valid = _RememberedConformance(conformance)  # type: ignore[assignment,method-assign]
