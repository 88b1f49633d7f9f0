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

import contextlib
import errno
import lzma
import os
import re
import shutil
import stat
import unicodedata
import zipfile
import zlib
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


def is_zip(path: Path) -> bool:
    """Whether ``path``, a regular file, is meant to be a zip archive: named ``.zip`` (see
    :func:`is_zip_name`) or starting with a zip signature.

    Whether the archive can be read is not asked here: a damaged or truncated zip is
    still a zip, and :func:`extract_zip` says why it cannot be read (taken for "not
    DICOM", it would be skipped and the medium called safe to eject). Never call it on a
    FIFO: reading one blocks.
    """
    if is_zip_name(path.name):
        return True
    try:
        with open(path, "rb") as fh:
            return starts_as_zip(fh.read(132))
    except OSError:
        return False


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


def extract_zip(archive: Path, into: Path, cancel: Callable[[], bool] | None = None,
                notes: list[str] | None = None, *,
                on_extracted: Callable[[int, int], None] | None = None) -> list[FileProblem]:
    """Extract ``archive`` under ``into``, every member to a file of its own.

    Members whose names would leave ``into`` are refused, and so is a member that expands
    far beyond what any image compresses to (:func:`_too_compressed`). Members that would
    land on one file (the same name twice, ``IMAGES\\IM1`` beside ``IMAGES/IM1``, or names
    that differ only in case, one file on Windows and macOS) are each extracted under a
    name of their own (:func:`_distinct_names`), and ``notes`` says so.

    Nothing is extracted when the archive does not fit: the members' sizes, as the archive
    declares them (zipfile never writes more than that), count twice, since each file is
    copied into the store while the extracted one is still there, and a margin is kept
    free. A clear message up front is better than a disk filled to the last byte, which
    every other program and the store's own database would then feel. ``cancel`` is
    polled between members and between the 1 MiB pieces of a large one; what was
    extracted stays for the caller to remove.

    A member that cannot be extracted (password-protected, damaged, compressed with a
    method Python cannot read) is reported with its reason and the others are extracted.
    Backslashes in member names are folder separators (see :func:`member_path`).

    Parameters
    ----------
    archive : Path
        The zip file.
    into : Path
        An empty folder to extract into.
    cancel : callable, optional
        Polled between members and pieces; extraction stops when it returns true.
    notes : list of str, optional
        Receives observations that lost nothing (members renamed on extraction).
    on_extracted : callable, optional
        Called with the number of members extracted so far and the bytes written so far,
        after each member and each 1 MiB piece of one: extracting a large archive is most
        of its import.

    Returns
    -------
    list of FileProblem
        The archive, or each member, that was not extracted, and why.
    """
    problems: list[FileProblem] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _wanted(archive, zf.infolist(), problems)
            members = _distinct_names(archive, members, notes)
            expanded = sum(m.file_size for m, _ in members)
            needed = 2 * expanded + SPACE_MARGIN
            free = shutil.disk_usage(into).free
            if needed > free:
                problems.insert(0, FileProblem(str(archive), (
                    f"zip archive expands to {_size(expanded)}, and needs {_size(needed)} "
                    f"free to be imported (its files are copied into the store, and "
                    f"{_size(SPACE_MARGIN)} are kept free), more than the {_size(free)} "
                    f"free in {into.parent}; free some space, or extract it elsewhere and "
                    "import the folder")))
                return problems
            base = into.resolve()
            written = _Written(on_extracted)
            for member, relative in members:
                if cancel is not None and cancel():
                    break
                target = (into / relative).resolve()
                # Named as the import report names extracted files: archive.zip!/member.
                name = f"{archive}!/{relative}"
                if not target.is_relative_to(base):
                    problems.append(FileProblem(name, "unsafe name"))
                    continue
                reason = _extract_member(zf, member, target, cancel, written.piece)
                if reason:
                    problems.append(FileProblem(name, reason))
                else:
                    written.member()
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(FileProblem(str(archive), f"zip archive cannot be read: {exc}"))
    except UnicodeDecodeError as exc:
        # zipfile decodes every name of the central directory on open, and one name
        # flagged UTF-8 (APPNOTE 4.4.4 bit 11) that is not, as some Windows tools write
        # names in the system's code page, stops it reading any of them.
        problems.append(FileProblem(str(archive), (
            f"zip archive cannot be read: a member's name is marked as UTF-8 but is not "
            f"(byte 0x{exc.object[exc.start]:02x}); {_ELSEWHERE}")))
    except NotImplementedError as exc:  # "zip file version 9.9": a newer format
        problems.append(FileProblem(str(archive), (
            f"zip archive cannot be read: {exc} is not supported; {_ELSEWHERE}")))
    return problems


_ELSEWHERE = "extract the zip with another tool and import the folder"


# Room left on the home's disk after an archive's files and their copies in the store:
# the database and its write-ahead log grow during the import, and every other program
# on the computer needs the disk too.
SPACE_MARGIN = 64 << 20

# A member is refused when it would expand more than BOMB_RATIO-fold and past BOMB_SIZE.
# Deflate cannot pass 1032:1 (each 258-byte match costs at least two bits), so a deflated
# member beyond 1000:1 is one byte repeated nearly throughout, as in a "zip bomb" of
# zeros; pixel data compresses losslessly a few to one, a nearly black image a few
# hundred to one. Below BOMB_SIZE nothing is refused, whatever its ratio: a small image
# that is all black (a blank secondary capture) is still an image, and cheap to extract.
BOMB_RATIO = 1000
BOMB_SIZE = 100_000_000


def _too_compressed(member: zipfile.ZipInfo) -> str:
    """Why ``member`` is not extracted, as a zip bomb; "" when it is an ordinary member."""
    size, packed = member.file_size, max(member.compress_size, 1)
    if size <= BOMB_SIZE or size <= BOMB_RATIO * packed:
        return ""
    return (f"not extracted: it would expand from {_size(packed)} to {_size(size)}, "
            f"{size // packed:,} to 1, far more than any image compresses (a \"zip bomb\"); "
            "if it is needed, extract the zip with another tool and import the folder")


def _wanted(archive: Path, infos: list[zipfile.ZipInfo], problems: list[FileProblem]
            ) -> list[tuple[zipfile.ZipInfo, str]]:
    """The file members to extract, each with its ``/``-separated name; the members
    refused (unsafe names, zip bombs) go to ``problems``."""
    wanted: list[tuple[zipfile.ZipInfo, str]] = []
    for member in infos:
        relative = member_path(member.filename)
        if relative.endswith("/"):
            continue  # a folder entry: its files make the folder
        if not _safe_member(relative):
            # Named as written in the archive: that is the name that is wrong.
            problems.append(FileProblem(f"{archive}!/{member.filename}", "unsafe name"))
        elif reason := _too_compressed(member):
            problems.append(FileProblem(f"{archive}!/{relative}", reason))
        else:
            wanted.append((member, relative))
    return wanted


def _name_key(relative: str) -> tuple[str, ...]:
    """What a file system may take ``relative`` for: the same key, the same file.

    The strictest of the homes Lightbox runs on: case ignored (NTFS, APFS and HFS+ by
    default), Unicode normalisation ignored (APFS compares, HFS+ stores NFD), trailing
    dots and spaces dropped (Win32), empty and ``.`` components dropped (any system).
    The canonical caseless match of Unicode (D145) folds case and normalisation together.
    """
    parts = (unicodedata.normalize("NFD", unicodedata.normalize("NFD", part).casefold())
             for part in relative.split("/") if part not in ("", "."))
    return tuple(part.rstrip(". ") for part in parts)


def _distinct_names(archive: Path, members: list[tuple[zipfile.ZipInfo, str]],
                    notes: list[str] | None) -> list[tuple[zipfile.ZipInfo, str]]:
    """``members`` with a name each that no other member's file takes on any home.

    Extracted under one name, the last member written would replace the others (an
    archive appended to, or written by a tool that does not check, holds one name twice).
    So every member of such a group is renamed, ``IMAGES/IM000001 (1 of 2)`` and ``(2 of
    2)``, not only all but one: which of them a DICOMDIR's Referenced File ID (PS3.10 8.2)
    means cannot be told from the name, so none keeps it, and the DICOMDIR record is
    matched by its Referenced SOP Instance UID in File instead, which says which instance
    it means. A file whose name is also one of the archive's folders is renamed the same
    way, since the folder needs the name.
    """
    keys = [_name_key(relative) for _, relative in members]
    folders = {key[:depth] for key in keys for depth in range(1, len(key))}
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, key in enumerate(keys):
        groups.setdefault(key, []).append(index)
    taken = set(keys) | folders
    names = [relative for _, relative in members]
    for key, indexes in groups.items():
        if len(indexes) == 1 and key not in folders:
            continue
        first = names[indexes[0]]
        for number, index in enumerate(indexes, 1):
            name = f"{names[index]} ({number} of {len(indexes)})"
            while _name_key(name) in taken:  # a member already has that name
                name += "~"
            taken.add(_name_key(name))
            names[index] = name
        if notes is not None:
            written = ", ".join(members[index][0].filename for index in indexes)
            why = (f"{len(indexes)} members of the zip archive have this name ({written})"
                   if len(indexes) > 1 else "a folder of the zip archive has this name too")
            notes.append(
                f"{archive}!/{first}: {why}; each was extracted under a name of its own "
                f"('{names[indexes[0]]}', ...) and imported, and a DICOMDIR record that "
                "names this file is matched by its SOP Instance UID instead")
    return [(member, name) for (member, _), name in zip(members, names, strict=True)]


def member_path(name: str) -> str:
    """A zip member's name with ``/`` between its folders.

    The zip format (APPNOTE 4.4.17) says ``/``, but .NET's ZipFile before 4.6.1 and some
    other Windows tools write ``IMAGES\\IM000001``: taken literally, that is one file with
    a backslash in its name, and a zipped medium's DICOMDIR matches none of its files.
    No file name on a medium holds a backslash (PS3.10 File IDs cannot).
    """
    return name.replace("\\", "/")


_DRIVE = re.compile(r"^[A-Za-z]:")


def _safe_member(relative: str) -> bool:
    """Whether a member name (``/``-separated) stays inside the folder it is extracted to.

    Checked on the name, not only on where it resolves: ``C:`` is an ordinary folder
    name on Linux, but on Windows the same archive would write to another drive.
    """
    if relative.startswith("/") or _DRIVE.match(relative):
        return False
    return ".." not in relative.split("/")


class _Written:
    """What :func:`extract_zip` has written so far, told to its ``on_extracted``."""

    def __init__(self, report: Callable[[int, int], None] | None) -> None:
        self.report = report
        self.members = 0
        self.bytes = 0

    def piece(self, size: int) -> None:
        self.bytes += size
        if self.report is not None:
            self.report(self.members, self.bytes)

    def member(self) -> None:
        self.members += 1
        if self.report is not None:
            self.report(self.members, self.bytes)


def _extract_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path,
                    cancel: Callable[[], bool] | None, on_piece: Callable[[int], None]) -> str:
    """Write one member to ``target``, telling ``on_piece`` the size of each piece written;
    return why it could not be (``cannot extract: ...``), or "" when it was."""
    if member.flag_bits & _ENCRYPTED:
        # zipfile would raise RuntimeError on open: asking for a password is no import's job.
        return (f"cannot extract: {ENCRYPTED_MEMBER}; extract the zip with its password and "
                "import the folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Created, never truncated: a name this file system takes for one already
        # extracted (in a way :func:`_name_key` does not foresee) fails, instead of
        # replacing that file.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
    except FileExistsError:
        return "cannot extract: another member of the zip archive was extracted under this name"
    except OSError as exc:
        return f"cannot extract: {exc.strerror or exc}"
    try:
        with open(fd, "wb") as dst, zf.open(member) as src:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
                on_piece(len(chunk))
                if cancel is not None and cancel():
                    break
    except NotImplementedError:
        # Deflate64 (9), PKWARE implode (6), PPMd (98), ...: zipfile reads 0, 8, 12, 14.
        reason = (f"cannot extract: zip compression method {member.compress_type} not "
                  f"supported; {_ELSEWHERE}")
    except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as exc:
        # A bad CRC, a truncated member, a corrupt deflate, bzip2 or LZMA stream.
        reason = f"cannot extract: damaged zip member ({exc})"
    except UnicodeDecodeError:
        # The member's local header flags its name UTF-8 (APPNOTE 4.4.4 bit 11) and the
        # name is not: the header does not match the archive's directory.
        reason = ("cannot extract: damaged zip member (its local header names it in "
                  "invalid UTF-8)")
    except RuntimeError as exc:  # encrypted after all, or a compression module missing
        reason = f"cannot extract: {exc}"
    except OSError as exc:  # bzip2's corrupt stream, or the disk of the home
        reason = f"cannot extract: {exc.strerror or exc}"
    else:
        return ""
    # What was written before the damage is not the member: left there, it would be
    # imported or reported a second time, as "not DICOM".
    with contextlib.suppress(OSError):
        target.unlink()
    return reason


_BINARY = getattr(os, "O_BINARY", 0)  # Windows would otherwise translate line ends
_ENCRYPTED = 0x1  # general purpose bit 0 (APPNOTE 4.4.4): the member is encrypted
ENCRYPTED_MEMBER = "encrypted (password-protected) zip member"


def _size(count: int) -> str:
    if count >= 100_000_000:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count:,} bytes"
