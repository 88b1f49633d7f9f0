"""Test files that ship with pydicom and pydicom-data, found on disk, never downloaded.

pydicom's ``get_testdata_files(pattern)`` downloads files that pydicom-data lacks; the test
machines have no internet, so the tests enumerate the installed files themselves.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pydicom


@cache
def _roots() -> tuple[Path, ...]:
    roots = [Path(pydicom.__file__).parent / "data" / "test_files"]
    try:
        import data_store  # the import name of the pydicom-data package

        roots.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    return tuple(roots)


@cache
def all_test_files() -> tuple[Path, ...]:
    """Every regular file of pydicom's test data and of pydicom-data, sorted by name."""
    files = {p.name: p for root in _roots() for p in root.rglob("*") if p.is_file()}
    return tuple(files[name] for name in sorted(files))


def test_file(name: str) -> Path:
    """Return the installed test file called ``name`` (a file name, not a pattern).

    Raises
    ------
    FileNotFoundError
        When neither pydicom nor pydicom-data ships it.
    """
    for path in all_test_files():
        if path.name == name:
            return path
    raise FileNotFoundError(f"{name} is not in pydicom's or pydicom-data's test files")


# The name starts with "test"; pytest must not collect it where a test module imports it.
test_file.__test__ = False  # type: ignore[attr-defined]


def charset_file(name: str) -> Path:
    """Return one of pydicom's character-set test files (``chrH31.dcm`` ...)."""
    path = Path(pydicom.__file__).parent / "data" / "charset_files" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path


def palette_file(name: str) -> Path:
    """Return one of pydicom's bundled palettes (``spring.dcm`` ...)."""
    path = Path(pydicom.__file__).parent / "data" / "palettes" / name
    if not path.is_file():
        raise FileNotFoundError(path)
    return path
