"""Resolve DICOMDIR Referenced File IDs against what a mounted medium really shows.

PS3.10 8.2 File IDs are upper-case components of up to 8 characters; a Linux mount of an
ISO 9660 disc without Rock Ridge or Joliet shows them lower-cased (``map=normal``) or raw
with a ``;1`` version and a trailing ``.`` (``map=off``), FAT mounts show either case, and
some writers add ``.dcm``. pydicom's FileSet looks the names up as written and drops what
it does not find; this resolver matches each component against the directory listing
instead.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

_VERSION = re.compile(r";\d*$")
_EXTENSIONS = (".DCM", ".DICOM", ".DIC", ".IMA")


def canonical(name: str) -> str:
    """The PS3.10 spelling of a name as a medium shows it: upper case, no ``;1``, no ``.``."""
    text = _VERSION.sub("", name.strip()).upper()
    return text.rstrip(".")


def _stem(name: str) -> str:
    upper = canonical(name)
    for extension in _EXTENSIONS:
        if upper.endswith(extension):
            return upper[: -len(extension)]
    return upper


def real_path_within(real: str, base: str) -> bool:
    """Whether the real path ``real`` is ``base`` or under it; ``base`` is a real path
    already passed through ``os.path.normcase`` (a medium's root, taken once)."""
    folded = os.path.normcase(real)
    return folded == base or folded.startswith(base.rstrip(os.sep) + os.sep)


# PS3.10 8.5: a File ID has at most 8 components. Each one costs a look-up of the path so
# far: 1,300 of them took 0.17 s per record, an hour for one DICOMDIR. Writers that
# exceed 8 exist; 32 is far beyond them.
MOST_COMPONENTS = 32


class FileIdResolver:
    """Case-insensitive, version- and extension-tolerant lookup under one file-set root.

    Directory listings are read once each and cached, so resolving tens of thousands of
    File IDs costs one ``scandir`` per folder.

    Parameters
    ----------
    root : Path
        The folder that holds the DICOMDIR.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._listings: dict[Path, dict[str, str]] = {}
        self._real_root = os.path.normcase(os.path.realpath(self.root))
        self._folders_within: dict[Path, bool] = {}

    def _listing(self, folder: Path) -> dict[str, str]:
        cached = self._listings.get(folder)
        if cached is not None:
            return cached
        names: dict[str, str] = {}
        stems: dict[str, str] = {}
        try:
            with os.scandir(folder) as entries:
                for entry in sorted(entries, key=lambda e: e.name):
                    names.setdefault(canonical(entry.name), entry.name)
                    stems.setdefault(_stem(entry.name), entry.name)
        except OSError:
            pass
        for stem, name in stems.items():
            names.setdefault(stem, name)
        self._listings[folder] = names
        return names

    def resolve(self, components: Sequence[str]) -> Path | None:
        """Return the existing path named by a File ID, or None when the medium lacks it.

        Components that would leave the root (``..``, absolute) resolve to None, and so
        does a file that a symbolic link on the way puts outside it: what it leads to is
        not on the medium (the walk of the medium skips such links too).
        """
        if len(components) > MOST_COMPONENTS:
            return None
        folder = self.root
        for component in components:
            wanted = canonical(str(component))
            if not wanted or wanted in (".", "..") or "/" in wanted or "\\" in wanted:
                return None
            # Exact spelling first: the common, conformant case costs no listing.
            direct = folder / str(component).strip()
            if direct.exists() and direct.name.upper() == wanted:
                folder = direct
                continue
            actual = self._listing(folder).get(wanted)
            if actual is None:
                return None
            folder = folder / actual
        try:
            info = os.lstat(folder)
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            within = self._within(os.path.realpath(folder))
            return folder if within and folder.is_file() else None
        if not stat.S_ISREG(info.st_mode) or not self._folder_within(folder.parent):
            return None
        return folder

    def _within(self, real: str) -> bool:
        return real_path_within(real, self._real_root)

    def _folder_within(self, folder: Path) -> bool:
        """Whether ``folder`` is really under the root, once per folder: a series' files
        share one, and its real path costs a ``stat`` per component."""
        known = self._folders_within.get(folder)
        if known is None:
            known = self._folders_within[folder] = self._within(os.path.realpath(folder))
        return known
