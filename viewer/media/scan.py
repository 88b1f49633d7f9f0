"""Walk a medium or folder: every regular file, every DICOMDIR, every zip, every problem.

The walk lists names only (one ``scandir`` per folder, no file is opened); whether a file
is DICOM is decided later from its first 132 bytes (PS3.10 7.1), so viewer software,
videos and documents on a disc cost one short read each. Folders that cannot be listed
are reported and the walk goes on.

Symbolic links to folders are followed once the tree itself has been walked, each folder
at most once (by device and inode): a link back into a folder already read, or a loop,
is skipped, and files keep the name the tree gives them where it has one.
"""

from __future__ import annotations

import contextlib
import errno
import lzma
import os
import re
import shutil
import stat
import zipfile
import zlib
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
    skipped: list[FileProblem] = field(default_factory=list)
    bytes_total: int = 0


def is_dicomdir_name(name: str) -> bool:
    """True for ``DICOMDIR`` as any mount spells it (``dicomdir``, ``DICOMDIR;1``, ...)."""
    return canonical(name) == "DICOMDIR"


ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive


def is_zip(path: Path) -> bool:
    """Whether ``path``, a regular file, is meant to be a zip archive: named ``.zip`` or
    starting with a zip signature.

    Whether the archive can be read is not asked here: a damaged or truncated zip is
    still a zip, and :func:`extract_zip` says why it cannot be read (taken for "not
    DICOM", it would be skipped and the medium called safe to eject). Never call it on a
    FIFO: reading one blocks.
    """
    if path.suffix.lower() == ".zip":
        return True
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in ZIP_SIGNATURES
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
    ``skipped``, a link to nothing in ``problems``. FIFOs, sockets and devices are noted
    in ``skipped`` and never opened.

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
                if entry.is_dir(follow_symlinks=False):
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
    elif path.suffix.lower() == ".zip":
        # By name only: the walk opens no file, and a zip found by its signature alone
        # would take in every .jar, .docx and .apk of the viewer software on a disc.
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

    A member that cannot be extracted (password-protected, damaged, compressed with a
    method Python cannot read) is reported with its reason and the others are extracted.
    Backslashes in member names are folder separators (see :func:`member_path`).
    """
    problems: list[FileProblem] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [(m, member_path(m.filename)) for m in zf.infolist()]
            members = [(m, name) for m, name in members if not name.endswith("/")]
            expanded = sum(m.file_size for m, _ in members)
            free = shutil.disk_usage(into).free
            if expanded > free:
                problems.append(FileProblem(str(archive), (
                    f"zip archive expands to {_size(expanded)}, more than the {_size(free)} "
                    f"free in {into.parent}; free some space, or extract it elsewhere and "
                    "import the folder")))
                return problems
            base = into.resolve()
            for member, relative in members:
                if cancel is not None and cancel():
                    break
                if not _safe_member(relative):
                    # Named as written in the archive: that is the name that is wrong.
                    problems.append(FileProblem(f"{archive}!/{member.filename}", "unsafe name"))
                    continue
                target = (into / relative).resolve()
                # Named as the import report names extracted files: archive.zip!/member.
                name = f"{archive}!/{relative}"
                if not target.is_relative_to(base):
                    problems.append(FileProblem(name, "unsafe name"))
                    continue
                reason = _extract_member(zf, member, target, cancel)
                if reason:
                    problems.append(FileProblem(name, reason))
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(FileProblem(str(archive), f"zip archive cannot be read: {exc}"))
    return problems


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


def _extract_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path,
                    cancel: Callable[[], bool] | None) -> str:
    """Write one member to ``target``; return why it could not be (``cannot extract: ...``),
    or "" when it was."""
    if member.flag_bits & _ENCRYPTED:
        # zipfile would raise RuntimeError on open: asking for a password is no import's job.
        return (f"cannot extract: {ENCRYPTED_MEMBER}; extract the zip with its password and "
                "import the folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, open(target, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
                if cancel is not None and cancel():
                    break
    except NotImplementedError:
        # Deflate64 (9), PKWARE implode (6), PPMd (98), ...: zipfile reads 0, 8, 12, 14.
        reason = (f"cannot extract: zip compression method {member.compress_type} not "
                  "supported; extract the zip with another tool and import the folder")
    except (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError) as exc:
        # A bad CRC, a truncated member, a corrupt deflate, bzip2 or LZMA stream.
        reason = f"cannot extract: damaged zip member ({exc})"
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


_ENCRYPTED = 0x1  # general purpose bit 0 (APPNOTE 4.4.4): the member is encrypted
ENCRYPTED_MEMBER = "encrypted (password-protected) zip member"


def _size(count: int) -> str:
    if count >= 100_000_000:
        return f"{count / 1e9:.1f} GB"
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count:,} bytes"
