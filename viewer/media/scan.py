"""Walk a medium or folder: every regular file, every DICOMDIR, every zip, every problem.

The walk lists names only (one ``scandir`` per folder, no file is opened); whether a file
is DICOM is decided later from its first 132 bytes (PS3.10 7.1), so viewer software,
videos and documents on a disc cost one short read each. Folders that cannot be listed
are reported and the walk goes on.
"""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from viewer.core.imports import FileProblem
from viewer.media.fileids import canonical


@dataclass(slots=True)
class MediumListing:
    """What a walk found under one root."""

    root: Path
    files: list[Path] = field(default_factory=list)
    dicomdirs: list[Path] = field(default_factory=list)
    zips: list[Path] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    bytes_total: int = 0


def is_dicomdir_name(name: str) -> bool:
    """True for ``DICOMDIR`` as any mount spells it (``dicomdir``, ``DICOMDIR;1``, ...)."""
    return canonical(name) == "DICOMDIR"


def is_zip(path: Path) -> bool:
    """A zip archive (by its signature, whatever the extension)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                return False
        return zipfile.is_zipfile(path)
    except OSError:
        return False


def walk(
    root: Path,
    *,
    on_file: Callable[[int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> MediumListing:
    """List every regular file under ``root`` (which may also be a single file).

    Parameters
    ----------
    root : Path
        A mount point, folder or file.
    on_file : callable, optional
        Called with the running file count (scan progress).
    cancel : callable, optional
        Polled per folder; the walk stops early when it returns true.
    """
    listing = MediumListing(root=root)
    try:
        info = os.stat(root)
    except OSError as exc:
        listing.problems.append(FileProblem(str(root), f"cannot read: {exc.strerror or exc}"))
        return listing
    if not stat.S_ISDIR(info.st_mode):
        _add(listing, root, info.st_size)
        return listing
    stack = [root]
    while stack:
        if cancel is not None and cancel():
            break
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            listing.problems.append(
                FileProblem(str(folder), f"folder cannot be read: {exc.strerror or exc}")
            )
            continue
        subfolders: list[Path] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True):
                    _add(listing, Path(entry.path), entry.stat().st_size)
                elif entry.is_symlink():
                    listing.problems.append(FileProblem(entry.path, "broken link"))
            except OSError as exc:
                listing.problems.append(
                    FileProblem(entry.path, f"cannot read: {exc.strerror or exc}")
                )
        if on_file is not None:
            on_file(len(listing.files))
        stack.extend(reversed(subfolders))
    return listing


def _add(listing: MediumListing, path: Path, size: int) -> None:
    if is_dicomdir_name(path.name):
        listing.dicomdirs.append(path)
    elif path.suffix.lower() == ".zip" and is_zip(path):
        listing.zips.append(path)
    else:
        listing.files.append(path)
        listing.bytes_total += size


def extract_zip(archive: Path, into: Path, cancel: Callable[[], bool] | None = None
                ) -> list[FileProblem]:
    """Extract ``archive`` under ``into`` (names that would escape it are refused).

    Nothing is extracted when the members' sizes, as the archive declares them (zipfile
    never writes more than that), add up to more than the free space under ``into``: a
    clear message up front, not a disk filled to the last byte, which every other program
    and the store's own database would then feel. ``cancel`` is polled between members and
    between the 1 MiB pieces of a large one; what was extracted stays for the caller to
    remove.
    """
    problems: list[FileProblem] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            expanded = sum(m.file_size for m in members)
            free = shutil.disk_usage(into).free
            if expanded > free:
                problems.append(FileProblem(str(archive), (
                    f"zip archive expands to {_size(expanded)}, more than the {_size(free)} "
                    f"free in {into.parent}; free some space, or extract it elsewhere and "
                    "import the folder")))
                return problems
            base = into.resolve()
            for member in members:
                if cancel is not None and cancel():
                    break
                target = (into / member.filename).resolve()
                if not target.is_relative_to(base):
                    problems.append(FileProblem(f"{archive}:{member.filename}", "unsafe name"))
                    continue
                try:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(member) as src, open(target, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                            if cancel is not None and cancel():
                                break
                except (OSError, zipfile.BadZipFile, EOFError) as exc:
                    problems.append(
                        FileProblem(f"{archive}:{member.filename}", f"cannot extract: {exc}")
                    )
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(FileProblem(str(archive), f"zip archive cannot be read: {exc}"))
    return problems


def _size(count: int) -> str:
    if count >= 100_000_000:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count:,} bytes"
