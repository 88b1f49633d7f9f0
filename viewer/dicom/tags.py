"""The tag tree of a DICOM file for the tag browser (PS3.5 7: data elements and sequences).

Values are decoded with the file's Specific Character Set (pydicom applies (0008,0005)
when the file is read, PS3.5 6.1.2.3), private tags are named from pydicom's private
dictionary under their Private Creator (PS3.5 7.8.1), and bulk values are summarised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from viewer.core.errors import InputFileError

#: Values longer than this are cut in the tree (the full value stays in the file).
MAX_TEXT = 200
_BULK_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


@dataclass
class TagNode:
    """One row of the tag tree.

    Parameters
    ----------
    tag : str
        ``(gggg,eeee)``; empty for a sequence item row.
    name : str
        Keyword-style name, ``[Private name]`` for known private tags, ``Item n`` for items.
    vr : str
        Value Representation.
    value : str
        Decoded value as text.
    children : list of TagNode
        Items of a sequence, elements of an item.
    """

    tag: str
    name: str
    vr: str = ""
    value: str = ""
    children: list[TagNode] = field(default_factory=list)

    def matches(self, text: str) -> bool:
        """Case-insensitive search in tag, name and value."""
        needle = text.lower()
        return any(needle in part.lower() for part in (self.tag, self.name, self.value))

    def find(self, text: str) -> list[TagNode]:
        """Every node below (and including) this one that matches ``text``."""
        found = [self] if self.matches(text) else []
        for child in self.children:
            found.extend(child.find(text))
        return found


def _value_text(elem: DataElement) -> str:
    if elem.VR in _BULK_VRS or elem.tag == 0x7FE00010:
        length = len(elem.value) if isinstance(elem.value, bytes | bytearray) else 0
        return f"<{length} bytes>" if length else "<binary>"
    value = elem.value
    if value is None or value == "":
        return ""
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "..."


def _name(elem: DataElement) -> str:
    if elem.tag.is_private:
        if elem.tag.is_private_creator:
            return "Private Creator"
        # pydicom names a private tag from its private dictionary when the creator is known.
        name = elem.name
        return name if name and not name.startswith("Private tag data") else "Private tag"
    return elem.keyword or elem.name


def element_node(elem: DataElement) -> TagNode:
    """The node of one data element (with its sequence items)."""
    tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
    if elem.VR == "SQ":
        items = [
            TagNode("", f"Item {i + 1}", "", f"{len(item)} elements", dataset_nodes(item))
            for i, item in enumerate(elem.value)
        ]
        return TagNode(tag, _name(elem), "SQ", f"{len(items)} item(s)", items)
    return TagNode(tag, _name(elem), str(elem.VR), _value_text(elem))


def dataset_nodes(ds: Dataset) -> list[TagNode]:
    """Nodes of every element of ``ds`` in tag order."""
    nodes = []
    for elem in ds:
        try:
            nodes.append(element_node(elem))
        except Exception as exc:  # one undecodable value must not hide the rest
            tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
            nodes.append(TagNode(tag, "?", str(getattr(elem, "VR", "")), f"<{exc}>"))
    return nodes


def read_tag_tree(path: str | os.PathLike[str]) -> TagNode:
    """The whole tag tree of a file: File Meta Information, then the data set.

    Raises
    ------
    InputFileError
        When the file cannot be read as DICOM.
    """
    try:
        ds = pydicom.dcmread(path, force=True, defer_size="1 KB")
    except Exception as exc:
        raise InputFileError(str(path), f"cannot read the DICOM header ({exc})") from None
    if not len(ds) and not len(getattr(ds, "file_meta", None) or []):
        raise InputFileError(str(path), "not a DICOM file (no data elements)")
    root = TagNode("", os.fspath(path))
    meta = getattr(ds, "file_meta", None)
    if meta is not None and len(meta):
        root.children.append(TagNode("", "File Meta Information", "", "",
                                     dataset_nodes(meta)))
    root.children.extend(dataset_nodes(ds))
    return root
