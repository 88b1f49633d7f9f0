"""File ID resolution as mounts show names (PS3.10 8.2 and the ISO 9660 mount options)."""

from __future__ import annotations

from pathlib import Path

import pytest

from viewer.media.fileids import FileIdResolver, canonical


@pytest.mark.parametrize(
    ("on_disk", "file_id"),
    [
        ("IMAGES/IM000001", ("IMAGES", "IM000001")),
        ("images/im000001", ("IMAGES", "IM000001")),
        ("IMAGES/IM000001;1", ("IMAGES", "IM000001")),
        ("IMAGES/IM000001.;1", ("IMAGES", "IM000001")),
        ("IMAGES/IM000001.", ("IMAGES", "IM000001")),
        ("Images/im000001.dcm", ("IMAGES", "IM000001")),
        ("IMAGES/IM000001.DCM", ("IMAGES", "IM000001")),
    ],
)
def test_resolves_what_mounts_show(tmp_path: Path, on_disk: str, file_id: tuple[str, ...]) -> None:
    target = tmp_path / on_disk
    target.parent.mkdir(parents=True)
    target.write_bytes(b"x")
    assert FileIdResolver(tmp_path).resolve(file_id) == target


def test_missing_and_escaping_ids_resolve_to_none(tmp_path: Path) -> None:
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "B").write_bytes(b"x")
    resolver = FileIdResolver(tmp_path)
    assert resolver.resolve(("A", "C")) is None
    assert resolver.resolve(("..", "A", "B")) is None
    assert resolver.resolve(("A",)) is None  # a folder is not a file


def test_canonical() -> None:
    assert canonical("dicomdir;1") == "DICOMDIR"
    assert canonical("IM01.") == "IM01"


def test_a_file_a_link_puts_outside_the_medium_is_not_resolved(tmp_path: Path) -> None:
    medium, elsewhere = tmp_path / "medium", tmp_path / "elsewhere"
    (medium / "IMAGES").mkdir(parents=True)
    elsewhere.mkdir()
    (elsewhere / "IM000001").write_bytes(b"another patient's image")
    (medium / "IMAGES" / "IM000002").write_bytes(b"x")
    (medium / "OUT").symlink_to(elsewhere)  # a folder link leading off the medium
    (medium / "IMAGES" / "IM000003").symlink_to(elsewhere / "IM000001")  # a file link
    (medium / "IN").symlink_to("IMAGES")  # a link that stays on the medium
    resolver = FileIdResolver(medium)
    assert resolver.resolve(("OUT", "IM000001")) is None
    assert resolver.resolve(("IMAGES", "IM000003")) is None
    assert resolver.resolve(("IN", "IM000002")) == medium / "IN" / "IM000002"
    assert resolver.resolve(("IMAGES", "IM000002")) == medium / "IMAGES" / "IM000002"


def test_a_file_id_deeper_than_any_writer_s_is_not_followed(tmp_path: Path) -> None:
    # PS3.10 8.5 allows 8 components; each one costs a look-up of the path so far, and
    # records of 1,300 took an hour for one DICOMDIR
    from viewer.media.fileids import MOST_COMPONENTS, FileIdResolver

    deep = tmp_path.joinpath(*["DD"] * (MOST_COMPONENTS + 1))
    deep.mkdir(parents=True)
    (deep / "IM1").write_bytes(b"x")
    resolver = FileIdResolver(tmp_path)
    assert resolver.resolve(("DD",) * (MOST_COMPONENTS + 1) + ("IM1",)) is None
    shallow = tmp_path.joinpath(*["DD"] * (MOST_COMPONENTS - 1), "IM1")
    shallow.write_bytes(b"x")
    assert resolver.resolve(("DD",) * (MOST_COMPONENTS - 1) + ("IM1",)) == shallow
