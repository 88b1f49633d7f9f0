"""The implementation identity and the UID makers follow PS3.5 and PS3.7."""

from __future__ import annotations

import re
import uuid

from viewer.core.identity import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    derived_uid,
    new_uid,
)

UID_PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")  # PS3.5 9.1


def _as_uuid(uid: str) -> uuid.UUID:
    assert uid.startswith("2.25.")
    return uuid.UUID(int=int(uid[5:]))


def test_implementation_identity_is_well_formed() -> None:
    assert UID_PATTERN.match(IMPLEMENTATION_CLASS_UID) and len(IMPLEMENTATION_CLASS_UID) <= 64
    _as_uuid(IMPLEMENTATION_CLASS_UID)
    # PS3.7 D.3.3.2.2: 1 to 16 characters of the default repertoire, no backslash.
    assert 1 <= len(IMPLEMENTATION_VERSION_NAME) <= 16
    assert IMPLEMENTATION_VERSION_NAME.isascii() and "\\" not in IMPLEMENTATION_VERSION_NAME


def test_new_uids_are_unique_valid_2_25_uids() -> None:
    uids = {new_uid() for _ in range(1000)}
    assert len(uids) == 1000
    for uid in uids:
        assert UID_PATTERN.match(uid) and len(uid) <= 64
        assert _as_uuid(uid).version == 4


def test_derived_uids_depend_only_on_their_parts() -> None:
    a = derived_uid("lightbox-demo", "series", "1")
    assert a == derived_uid("lightbox-demo", "series", "1")
    assert a != derived_uid("lightbox-demo", "series", "2")
    # The separator keeps ("ab", "c") and ("a", "bc") apart.
    assert derived_uid("ab", "c") != derived_uid("a", "bc")
    assert UID_PATTERN.match(a) and len(a) <= 64
    value = _as_uuid(a)
    assert value.version == 8 and value.variant == uuid.RFC_4122
