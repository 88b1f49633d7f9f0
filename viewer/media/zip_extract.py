"""Extract a zip archive of a medium, every member to a file of its own, or say why not.

Members are refused when their names would leave the folder they are extracted to, when
they expand far beyond what any image compresses to (a "zip bomb"), and as a whole when
the archive does not fit on the home's disk; names that would land on one file are each
given their own. A damaged archive or member, an encrypted member or a compression method
Python cannot read is reported with what to do, and everything else is extracted.
"""

from __future__ import annotations

import contextlib
import lzma
import os
import re
import shutil
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from viewer.core.imports import FileProblem
from viewer.media.zip_budget import ExtractionBudget
from viewer.media.zip_names import relabelled


def extract_zip(archive: Path, into: Path, cancel: Callable[[], bool] | None = None,
                notes: list[str] | None = None, *,
                on_extracted: Callable[[int, int], None] | None = None,
                budget: ExtractionBudget | None = None) -> list[FileProblem]:
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
    budget : ExtractionBudget, optional
        What the whole import may still extract (:mod:`viewer.media.zip_budget`): an
        archive that would pass it is refused whole, nothing extracted.

    Returns
    -------
    list of FileProblem
        The archive, or each member, that was not extracted, and why.
    """
    problems: list[FileProblem] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            _extract_all(zf, archive, into, cancel, notes, on_extracted, problems, budget)
    except (OSError, zipfile.BadZipFile) as exc:
        problems.append(FileProblem(str(archive), f"zip archive cannot be read: {exc}"))
    except UnicodeDecodeError as exc:
        # zipfile decodes every name of the central directory on open, and one name
        # flagged UTF-8 (APPNOTE 4.4.4 bit 11) that is not, as some Windows tools write
        # names in the system's code page, stops it reading any of them.
        problems.extend(_extract_relabelled(archive, into, cancel, notes, on_extracted, exc,
                                            budget))
    except NotImplementedError as exc:  # "zip file version 9.9": a newer format
        problems.append(FileProblem(str(archive), (
            f"zip archive cannot be read: {exc} is not supported; {_ELSEWHERE}")))
    return problems


def _extract_relabelled(archive: Path, into: Path, cancel: Callable[[], bool] | None,
                        notes: list[str] | None,
                        on_extracted: Callable[[int, int], None] | None,
                        error: UnicodeDecodeError,
                        budget: ExtractionBudget | None) -> list[FileProblem]:
    """Extract an archive whose names flagged UTF-8 are not, read as code page 437
    (:mod:`viewer.media.zip_names`); the archive is refused if that fails too."""
    problems: list[FileProblem] = []
    try:
        with relabelled(archive) as opened:
            if opened is not None:
                zf, count = opened
                if _extract_all(zf, archive, into, cancel, notes, on_extracted, problems,
                                budget) and notes is not None:
                    notes.append(
                        f"{archive}: {count} member name{'s are' if count > 1 else ' is'} "
                        "marked as UTF-8 but not UTF-8 (written in another code page): read "
                        "as code page 437, so such names may look wrong; the files were "
                        "extracted")
                return problems
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError, NotImplementedError):
        pass
    return [*problems, FileProblem(str(archive), (
        f"zip archive cannot be read: a member's name is marked as UTF-8 but is not "
        f"(byte 0x{error.object[error.start]:02x}); {_ELSEWHERE}"))]


def _extract_all(zf: zipfile.ZipFile, archive: Path, into: Path,
                 cancel: Callable[[], bool] | None, notes: list[str] | None,
                 on_extracted: Callable[[int, int], None] | None,
                 problems: list[FileProblem], budget: ExtractionBudget | None) -> bool:
    """The body of :func:`extract_zip` for an archive zipfile has opened; False when the
    archive was refused whole (it does not fit, or passes the import's budget), with
    nothing extracted."""
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
        return False
    refusal = budget.take(expanded, len(members)) if budget is not None else ""
    if refusal:
        problems.insert(0, FileProblem(str(archive), (
            f"zip archive not extracted: {refusal}; {_ELSEWHERE}")))
        return False
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
    return True


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
    data_of: dict[int, zipfile.ZipInfo] = {}  # local header offset -> its first member
    for member in infos:
        relative = member_path(member.filename)
        if relative.endswith("/"):
            continue  # a folder entry: its files make the folder
        if too_long := _unusable_name(relative):
            problems.append(FileProblem(f"{archive}!/{_shortened(relative)}", too_long))
        elif not _safe_member(relative):
            # Named as written in the archive: that is the name that is wrong.
            problems.append(FileProblem(f"{archive}!/{member.filename}", "unsafe name"))
        elif reason := _too_compressed(member):
            problems.append(FileProblem(f"{archive}!/{relative}", reason))
        elif (first := data_of.setdefault(member.header_offset, member)) is not member:
            # APPNOTE 4.3.6: each member has its own local header and data. Directory
            # entries that share one repeat a member's data without storing it again,
            # a multiplier that no archiver writes (and zipfile checks only from 3.12).
            problems.append(FileProblem(f"{archive}!/{relative}", (
                f"not extracted: the archive's directory gives it the data of "
                f"{member_path(first.filename)!r} "
                f"(overlapping entries, a \"zip bomb\"); {_ELSEWHERE}")))
        else:
            wanted.append((member, relative))
    return wanted


# Longer or deeper member names than these fit no medium (a PS3.10 File ID has at most 8
# components of 8 characters) and no file system's paths; the folders of a name are
# compared with every other member's, in time and memory that grow with its depth.
MAX_MEMBER_NAME = 1024
MAX_MEMBER_DEPTH = 64


def _unusable_name(relative: str) -> str:
    """Why a member's name is not extracted (too long or deep); "" when it is usable."""
    depth = relative.count("/")
    if len(relative) <= MAX_MEMBER_NAME and depth <= MAX_MEMBER_DEPTH and all(
            len(part.encode("utf-8", "surrogateescape")) <= 255
            for part in relative.split("/")):
        return ""
    return (f"not extracted: its name ({len(relative):,} characters, {depth:,} folders "
            f"deep) is longer than any file system takes; {_ELSEWHERE}")


def _shortened(name: str) -> str:
    """A name short enough for a report line (the start, which says where it is)."""
    return name if len(name) <= 120 else name[:117] + "..."


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
