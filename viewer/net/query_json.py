"""C-FIND matches as plain values: one JSON type per attribute, whatever the PACS sent.

A match's value types follow the attribute's entry in the data dictionary (PS3.6 Table
6-1), not how many values a given response happens to hold: an attribute that may hold
several values (Value Multiplicity other than 1, such as Modalities in Study) is always
a list, numbers (IS, DS and the binary numeric VRs, PS3.5 6.2) are numbers. The values
are those ``lightbox studies --json`` and ``series --json`` give for the same keywords
(Person Names with their component groups joined by ``=``, dates as ``YYYYMMDD``
text), and an empty value (PS3.4 C.2.2.2.3: the PACS has none) is what they give for
an unknown one: ``""`` for text, ``null`` for a number, ``[]`` for a list.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.valuerep import PersonName

from viewer.core.dates import canonical_date, canonical_time
from viewer.dicom.header import person_name_text
from viewer.dicom.structure import tag_text

LOGGER = logging.getLogger(__name__)

_INTEGER_VRS = frozenset({"IS", "SS", "US", "SL", "UL", "SV", "UV"})
_DECIMAL_VRS = frozenset({"DS", "FL", "FD"})
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
# Not part of a match: how the response is encoded, and the level it answers.
_ENVELOPE = frozenset({"SpecificCharacterSet", "QueryRetrieveLevel"})


def identifier_to_dict(ident: Dataset) -> dict[str, Any]:
    """Turn a response identifier into ``{keyword: value}``, decoded with its own charset.

    Each response carries its own Specific Character Set (PS3.4 C.4.1.1.3.1), which
    pydicom applies when the values are read. Private and unknown attributes (no
    keyword) and group length elements are left out; sequences become lists of such
    dicts.
    """
    out: dict[str, Any] = {}
    for tag in sorted(ident.keys()):  # tags only: iterating ident would convert
        keyword = keyword_for_tag(tag)
        if not keyword or tag.group in (0x0000, 0x0002) or keyword in _ENVELOPE:
            continue
        try:
            # pydicom converts a raw value when it is first read: a PACS's "1e400" for
            # an IS or an FD of 3 bytes raises there, and one bad value must not cost
            # the match (nor the matches before it, in a --json list).
            out[keyword] = element_value(ident[tag])
        except Exception:
            LOGGER.debug("unreadable value of %s in a C-FIND match",
                         tag_text(tag.group, tag.element))
            out[keyword] = _empty(_dictionary_vr(tag), _dictionary_vm(tag))
    return out


def empty_values(keywords: Iterable[str]) -> dict[str, Any]:
    """``{keyword: value}`` of each keyword with no value, as a match gives it.

    A PACS that leaves out a requested key it should have returned empty (PS3.4
    C.4.1.1.3.2) then gives the same keys as one that returns it.
    """
    out: dict[str, Any] = {}
    for keyword in keywords:
        if keyword in _ENVELOPE:
            continue
        try:
            vr, vm = dictionary_VR(keyword), dictionary_VM(keyword)
        except KeyError:
            continue
        out[keyword] = _empty(vr, vm)
    return out


def element_value(elem: DataElement) -> Any:
    """The value of one element of a match, typed by its VR and dictionary VM."""
    vr = str(elem.VR)
    vm = _dictionary_vm(elem.tag)
    value = elem.value
    if vr == "SQ":
        return [identifier_to_dict(item) for item in value or ()]
    if _is_empty(value):
        return _empty(vr, vm)
    values = list(value) if isinstance(value, MultiValue | list) else [value]
    if vm != "1":
        return [_single(vr, v) for v in values]
    if len(values) == 1:
        return _single(vr, values[0])
    # Several values in a single-valued attribute (a PACS out of the standard): text
    # keeps them as DICOM encodes them (PS3.5 6.4), a number cannot be one of them.
    if vr in _INTEGER_VRS or vr in _DECIMAL_VRS:
        return None
    return "\\".join(str(_single(vr, v)) for v in values)


def _dictionary_vr(tag: BaseTag) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _dictionary_vm(tag: BaseTag) -> str:
    try:
        return str(dictionary_VM(tag))
    except KeyError:
        return "1"


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, MultiValue | list | bytes):
        return len(value) == 0
    return isinstance(value, str | PersonName) and not str(value).strip()


def _empty(vr: str, vm: str) -> Any:
    if vr == "SQ" or vm != "1":
        return []
    if vr in _INTEGER_VRS or vr in _DECIMAL_VRS:
        return None
    return ""


def _single(vr: str, value: Any) -> Any:
    if vr in _INTEGER_VRS:
        return _number(value, int)
    if vr in _DECIMAL_VRS:
        return _number(value, float)
    if vr == "PN":
        return person_name_text(value)
    if vr == "AT":
        # PS3.18 F.2.3: an attribute tag as its eight hex digits.
        return f"{int(value):08X}"
    if vr in _BINARY_VRS:
        return value.hex() if isinstance(value, bytes) else str(value)
    text = "" if value is None else str(value).strip()
    if vr == "DA":
        return canonical_date(text)
    if vr == "TM":
        return canonical_time(text)
    return text


def _number(value: Any, kind: type[int] | type[float]) -> int | float | None:
    # A value that is not a number (pydicom keeps the text of an invalid IS or DS) is
    # unknown, as the study database takes it; JSON has no NaN or infinity.
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    if kind is float:
        return number
    # An integer string stays exact (int() of its text); "3.0", which some PACS send
    # for an IS, is still a count.
    try:
        return int(value)
    except (TypeError, ValueError):
        return int(number) if number.is_integer() else None
