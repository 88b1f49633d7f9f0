"""Who Lightbox is in the files and associations it writes, and how it makes UIDs.

The implementation class UID and version name go in every file meta information header
Lightbox writes (PS3.10 7.1) and in every association it requests (PS3.7 D.3.3.2).
"""

from __future__ import annotations

import hashlib
import uuid

# PS3.5 B.2: a UID under the 2.25 root is the decimal form of a UUID. This one was drawn
# once from uuid4 for the project and is fixed for every release.
IMPLEMENTATION_CLASS_UID = "2.25.54352460566461917333038173961367784418"

# PS3.7 D.3.3.2.2: up to 16 characters; changes with the implementation's version.
IMPLEMENTATION_VERSION_NAME = "LIGHTBOX_010"


def new_uid() -> str:
    """Return a new, globally unique UID under the 2.25 root.

    Returns
    -------
    str
        ``2.25.`` followed by the decimal value of a random UUID (PS3.5 B.2), at most
        44 characters, well under the 64 that UI allows (PS3.5 6.2).
    """
    return f"2.25.{uuid.uuid4().int}"


def derived_uid(*parts: str) -> str:
    """Return a UID under the 2.25 root that depends only on ``parts``.

    Used where the same input must give the same UID every time (the demo study, test
    data that is compared across runs). The parts are hashed into a name-based UUID of
    version 8 layout so the value stays a valid UUID (PS3.5 B.2, RFC 9562 5.8).

    Parameters
    ----------
    *parts : str
        The names that identify the object, e.g. ``("lightbox-demo", "ct", "slice", "12")``.

    Returns
    -------
    str
        A UID of at most 44 characters.
    """
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:16]
    value = bytearray(digest)
    value[6] = (value[6] & 0x0F) | 0x80  # version 8: custom
    value[8] = (value[8] & 0x3F) | 0x80  # RFC 9562 variant
    return f"2.25.{int.from_bytes(value, 'big')}"
