"""Tag tree of the tag browser: sequences, private names, character sets (PS3.5 6.1, 7.8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.testdata import charset_file
from tests.support.testdata import test_file as pydicom_file
from viewer.core.errors import InputFileError
from viewer.dicom.tags import TagNode, read_tag_tree


def _by_tag(root: TagNode, tag: str) -> TagNode:
    (node,) = [n for n in root.children if n.tag == tag]
    return node


@pytest.mark.parametrize(("name", "expected"), [
    ("chrH31.dcm", "Yamada^Tarou=山田^太郎=やまだ^たろう"),  # ISO 2022 IR 87
    ("chrRuss.dcm", "Люкceмбypг"),  # ISO_IR 144
    ("chrGreek.dcm", "Διονυσιος"),  # ISO_IR 126
])
def test_names_are_decoded_with_the_files_character_set(name: str, expected: str) -> None:
    node = _by_tag(read_tag_tree(charset_file(name)), "(0010,0010)")
    assert node.vr == "PN" and node.value == expected


def test_private_tags_are_named_under_their_creator() -> None:
    root = read_tag_tree(pydicom_file("CT_small.dcm"))
    assert _by_tag(root, "(0009,0010)").name == "Private Creator"
    assert _by_tag(root, "(0009,0010)").value == "GEMS_IDEN_01"
    assert _by_tag(root, "(0009,1002)").name == "[Suite id]"


def test_sequences_have_items_with_their_elements() -> None:
    root = read_tag_tree(pydicom_file("CT_small.dcm"))
    seq = _by_tag(root, "(0010,1002)")
    assert seq.vr == "SQ" and seq.value == "2 item(s)"
    assert [item.name for item in seq.children] == ["Item 1", "Item 2"]
    assert any(child.tag == "(0010,0020)" for child in seq.children[0].children)


def test_meta_information_and_pixel_data_summary() -> None:
    root = read_tag_tree(pydicom_file("CT_small.dcm"))
    meta = root.children[0]
    assert meta.name == "File Meta Information"
    assert any(n.tag == "(0002,0010)" for n in meta.children)
    pixels = _by_tag(root, "(7FE0,0010)")
    assert pixels.value == "<32768 bytes>"


def test_search_finds_tags_names_and_values() -> None:
    root = read_tag_tree(pydicom_file("CT_small.dcm"))
    assert [n.tag for n in root.find("(0028,0030)")] == ["(0028,0030)"]
    assert "(0008,0060)" in [n.tag for n in root.find("modality")]


def test_a_file_that_is_not_dicom_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.dcm"
    bad.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"x\.dcm"):
        read_tag_tree(bad)
