"""Whether two files in different transfer syntaxes hold the same instance.

A transfer syntax is an encoding of the data set, not part of it (PS3.5 10): a PACS that
sends a study again compressed, or another archive node that stores it otherwise, sends
the same instances. Compared byte for byte they differ; compared decoded they do not,
unless the compression was lossy (the values changed: another content, which PS3.3
C.7.6.1.1.5 would have given a new SOP Instance UID) or an attribute differs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

log = logging.getLogger(__name__)

_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# Attributes that a conversion between transfer syntaxes may rewrite without changing the
# values: the codec's own bookkeeping (PS3.5 8.2: e.g. RLE and JPEG carry colour
# by-plane or by-pixel as they need).
_ENCODING_ATTRIBUTES = ("PlanarConfiguration",)


def same_instance_decoded(first: Path, second: Path) -> bool:
    """Whether ``first`` and ``second`` hold the same attributes and, decoded, the same
    pixel values; False when either cannot be read or decoded (the caller then keeps
    them apart, as for any other difference)."""
    try:
        a, b = pydicom.dcmread(first), pydicom.dcmread(second)
        if _attributes(a) != _attributes(b):
            return False
        keywords = [k for k in _PIXEL_KEYWORDS if k in a or k in b]
        if not keywords:
            return True
        return all(k in a and k in b for k in keywords) and bool(
            np.array_equal(a.pixel_array, b.pixel_array))
    except Exception:  # decoders raise many types: any failure means "not shown the same"
        log.debug("%s and %s cannot be compared decoded", first, second, exc_info=True)
        return False


def _attributes(ds: Dataset) -> dict[int, DataElement]:
    """The data set's elements but its pixel data and the encoding's own attributes
    (read, not removed: the data set's pixel data is compared next)."""
    skipped = {tag_for_keyword(k) for k in (*_PIXEL_KEYWORDS, *_ENCODING_ATTRIBUTES)}
    return {int(elem.tag): elem for elem in ds if int(elem.tag) not in skipped}
