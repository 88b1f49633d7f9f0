"""Walk a medium or folder: every regular file, every DICOMDIR, every zip, every problem.

The walk lists names only (one ``scandir`` per folder, no file is opened); whether a file
is DICOM is decided later from its first 132 bytes (PS3.10 7.1), so viewer software,
videos and documents on a disc cost one short read each. Folders that cannot be listed
are reported and the walk goes on.

Symbolic links to folders are followed once the tree itself has been walked, each folder
at most once (by device and inode): a link back into a folder already read, or a loop,
is skipped, and files keep the name the tree gives them where it has one. A link that
leads outside the folder being read is not followed: what it reaches is not on the medium
(another patient's folder on this computer, or ``/`` and the whole computer with it).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from viewer.core.imports import FileProblem
from viewer.media.fileids import canonical, real_path_within


@dataclass(slots=True)
class MediumListing:
    """What a walk found under one root."""

    root: Path
    files: list[Path] = field(default_factory=list)
    dicomdirs: list[Path] = field(default_factory=list)
    zips: list[Path] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    skipped: list[FileProblem] = field(default_factory=list)
    bytes_total: int = 0


def is_dicomdir_name(name: str) -> bool:
    """True for ``DICOMDIR`` as any mount spells it (``dicomdir``, ``DICOMDIR;1``, ...)."""
    return canonical(name) == "DICOMDIR"


ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


def starts_as_zip(head: bytes) -> bool:
    """Whether a file's first 132 bytes (or fewer, for a shorter file) say zip archive.

    A zip signature at the start, unless ``DICM`` follows the 128-byte preamble: PS3.10
    7.1 leaves the preamble to the application, and a file that is also another format
    (7.5) may start with that format's signature; the DICOM prefix decides.
    """
    return head[:4] in ZIP_SIGNATURES and head[128:132] != b"DICM"


def is_zip_name(name: str) -> bool:
    """Whether a file name says zip archive, as any mount spells it.

    An ISO 9660 disc without Rock Ridge or Joliet (the CD-R of PS3.12) shows ``STUDY.ZIP;1``
    when mounted with ``map=off``, and some writers leave ``STUDY.ZIP.``: the same
    :func:`~viewer.media.fileids.canonical` spelling that finds ``DICOMDIR;1`` finds these.
    """
    return canonical(name).endswith(".ZIP")


# File formats that are zip archives inside but no medium's images: the software a disc
# carries (a viewer in Java, an Android or iOS app, a Python wheel, a browser add-on), its
# manuals and spreadsheets (Office Open XML, OpenDocument, EPUB, XPS) and map or 3D
# files. A file that starts with a zip signature under another name (a PACS portal's
# download saved as ``download``) is opened as a zip; one with these extensions is not.
ZIP_APPLICATION_FORMATS = frozenset({
    "jar", "war", "ear", "apk", "aab", "aar", "ipa", "xpi", "crx", "whl", "egg", "nupkg",
    "vsix", "docx", "docm", "dotx", "xlsx", "xlsm", "pptx", "pptm", "odt", "ods", "odp",
    "odg", "epub", "kmz", "3mf", "msix", "appx", "xps", "oxps",
})


def is_zip_application(name: str) -> bool:
    """Whether a file name's extension marks an application format built on zip (see
    :data:`ZIP_APPLICATION_FORMATS`), as any mount spells it (``VIEWER.JAR;1``)."""
    stem, dot, extension = canonical(name).rpartition(".")
    return bool(dot and stem) and extension.lower() in ZIP_APPLICATION_FORMATS


def walk(
    root: Path,
    *,
    on_file: Callable[[int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> MediumListing:
    """List every regular file under ``root`` (which may also be a single file).

    Symbolic links to files are listed like files. Symbolic links to folders are walked
    after the tree, each folder once: a link to a folder already read is noted in
    ``skipped``, a link to nothing in ``problems``. A link, to a file or a folder, whose
    target is outside ``root`` is noted in ``skipped`` and not followed. FIFOs, sockets and
    devices are noted in ``skipped`` and never opened.

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
    if stat.S_ISREG(info.st_mode):
        _add(listing, root, info.st_size)
        return listing
    if not stat.S_ISDIR(info.st_mode):
        listing.skipped.append(FileProblem(str(root), NOT_A_FILE))
        return listing
    # Every folder walked, by identity: a link (or a bind mount) leading back into one of
    # them would otherwise be walked again, forever in the case of a loop.
    walked = {(info.st_dev, info.st_ino)}
    base = os.path.normcase(os.path.realpath(root))
    stack = [root]
    links: list[tuple[str, tuple[int, int]]] = []  # links to folders, in the order found
    next_link = 0
    while stack or next_link < len(links):
        if cancel is not None and cancel():
            break
        if not stack:
            link, key = links[next_link]
            next_link += 1
            if key in walked:
                listing.skipped.append(FileProblem(link, "link to a folder already read"))
            else:
                walked.add(key)
                stack.append(Path(link))
            continue
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
                if entry.is_symlink() and (outside := _outside(entry.path, base)):
                    listing.skipped.append(FileProblem(entry.path, f"{OUTSIDE}: {outside}"))
                elif entry.is_dir(follow_symlinks=False):
                    # One lstat per folder (none per file): the folder's device and inode.
                    found = _stat(entry, follow_symlinks=False)
                    key = (found.st_dev, found.st_ino)
                    if key in walked:  # a bind mount of a folder above
                        listing.skipped.append(FileProblem(entry.path, "folder already read"))
                    else:
                        walked.add(key)
                        subfolders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=True):
                    _add(listing, Path(entry.path), entry.stat().st_size)
                elif entry.is_symlink():
                    _add_link(listing, links, entry)
                else:
                    listing.skipped.append(FileProblem(entry.path, NOT_A_FILE))
            except OSError as exc:
                listing.problems.append(FileProblem(entry.path, _unreadable(entry, exc)))
        if on_file is not None:
            on_file(len(listing.files))
        stack.extend(reversed(subfolders))
    return listing


NOT_A_FILE = "not a file or folder"
OUTSIDE = "a link to outside the medium"


def _outside(link: str, base: str) -> str:
    """Where the symbolic link ``link`` leads, when that is outside the folder whose real
    path is ``base``; "" when it stays inside (or leads nowhere: a broken link or a loop
    inside the medium is reported as such)."""
    target = os.path.realpath(link)
    return "" if real_path_within(target, base) else target


def _unreadable(entry: os.DirEntry[str], exc: OSError) -> str:
    """Why an entry of a folder cannot be read, in words."""
    try:
        link = entry.is_symlink()
    except OSError:
        link = False
    if not link:
        return f"cannot read: {exc.strerror or exc}"
    if exc.errno == errno.ENOENT:
        return "broken link"
    # ELOOP (a link to itself), EACCES: nothing behind the link can be read.
    return f"broken link ({exc.strerror or exc})"


def _stat(entry: os.DirEntry[str], *, follow_symlinks: bool) -> os.stat_result:
    # On Windows a DirEntry's stat has st_dev and st_ino 0: every folder would look alike.
    if os.name == "nt":
        return os.stat(entry.path, follow_symlinks=follow_symlinks)
    return entry.stat(follow_symlinks=follow_symlinks)


def _add_link(
    listing: MediumListing, links: list[tuple[str, tuple[int, int]]], entry: os.DirEntry[str]
) -> None:
    """A symbolic link that does not lead to a regular file: a folder to walk later, a
    special file to skip, or a broken link."""
    try:
        target = _stat(entry, follow_symlinks=True)
    except OSError as exc:
        listing.problems.append(FileProblem(entry.path, _unreadable(entry, exc)))
        return
    if stat.S_ISDIR(target.st_mode):
        links.append((entry.path, (target.st_dev, target.st_ino)))
    else:
        listing.skipped.append(FileProblem(entry.path, NOT_A_FILE))


def _add(listing: MediumListing, path: Path, size: int) -> None:
    if is_dicomdir_name(path.name):
        listing.dicomdirs.append(path)
    elif is_zip_name(path.name):
        # By name only: the walk opens no file. A zip under another name is found by its
        # signature among the files the import skipped as not DICOM, where
        # :func:`is_zip_application` keeps out the .jar, .docx and .apk of a disc's software.
        listing.zips.append(path)
    else:
        listing.files.append(path)
        listing.bytes_total += size
