"""Text from files and headers, made safe to print on a terminal.

File names and DICOM header values come from whoever wrote the medium. Printed raw, an
ESC (0x1B) starts a terminal control sequence (``ESC ] 0 ; ... BEL`` sets the window
title; others move the cursor or rewrite what is already on screen), a newline in a file
name breaks a report line in two, and a C1 control such as CSI (0x9B) is an escape on
terminals that take 8-bit controls. Human-readable output shows every such character
escaped instead. JSON output keeps its text readable (a kanji name as itself) but writes
out what its encoder leaves raw: DEL, the C1 controls, the bidirectional controls and the
line and paragraph separators, as ``\\u`` escapes that any JSON reader takes back.
"""

from __future__ import annotations

import codecs
import json
import unicodedata
from typing import Any, TextIO

from viewer.core.imports import printable

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F): ECMA-48's control characters.
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}")
    for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))
}
# The bidirectional embedding, override and isolate controls (Unicode UAX #9): a RIGHT-
# TO-LEFT OVERRIDE in a name reverses what follows it on the line, so that "ID 1234"
# shows as another number. Hebrew and Arabic letters themselves are left as they are.
_ESCAPES.update({code: f"\\u{code:04x}" for code in (*range(0x202A, 0x202F),
                                                     *range(0x2066, 0x206A))})


# What json.dumps(ensure_ascii=False) leaves raw and a terminal acts on (or, for lone
# surrogates, no UTF-8 output can carry), each as the escape JSON defines (RFC 8259 7).
_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (
    0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A),
    *range(0xD800, 0xE000))}


def write_json(value: Any, out: TextIO) -> None:
    """Write ``value`` as indented JSON to ``out``, safe to print (see the module's note).

    To an output that is not UTF-8 (a Windows console or redirect, in its code page),
    every non-ASCII character is a ``\\u`` escape, which JSON readers decode back:
    written raw, a name in another script stopped the output with a traceback.
    """
    ascii_only = not _is_utf8(out)
    out.write(json.dumps(value, indent=2, ensure_ascii=ascii_only).translate(_JSON_ESCAPES))


def tolerate_unencodable(*streams: TextIO) -> None:
    """Have text outputs that are not UTF-8 write what their encoding lacks as escapes.

    Python writes to a redirect or a console on Windows in the ANSI code page (cp1252),
    which has no kanji or Cyrillic: printing such a patient name raised
    UnicodeEncodeError, and a finished import ended with a traceback and exit status 1.
    ``\\u5c71`` in its place is readable and loses nothing else of the line.
    """
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not _is_utf8(stream):
            reconfigure(errors="backslashreplace")


def _is_utf8(stream: TextIO) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False


def for_terminal(text: str) -> str:
    """``text`` with its control characters written out, and as valid UTF-8 text.

    Parameters
    ----------
    text : str
        A path, a header value, or a line of a report naming them.

    Returns
    -------
    str
        ``text`` with C0 and C1 control characters and DEL shown as ``\\x1b`` (newline,
        carriage return and tab as ``\\n``, ``\\r``, ``\\t``), bidirectional
        embedding, override and isolate controls as ``\\u202e``, and bytes that are not
        UTF-8 as ``\\xe9`` (:func:`~viewer.core.imports.printable`).
    """
    return printable(text).translate(_ESCAPES)


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes: two for each wide or fullwidth character
    (Unicode UAX #11: the CJK of a Japanese, Chinese or Korean name), none for a combining
    mark or a format character, one for any other."""
    return sum(_char_width(c) for c in text)


def column(text: str, width: int, *, cut: bool = True) -> str:
    """``text`` padded with spaces to ``width`` terminal columns, and cut to them unless
    ``cut`` is false.

    ``str.ljust`` and format widths count characters: a name in kanji takes twice the
    columns it counts, and every column after it on the line moves right. A wide
    character that would straddle the edge is dropped, not split.
    """
    used, kept = 0, []
    for char in text:
        size = _char_width(char)
        if cut and used + size > width:
            break
        used += size
        kept.append(char)
    return "".join(kept) + " " * max(0, width - used)


def marked_column(text: str, width: int) -> str:
    """``text`` in ``width`` terminal columns; when it does not fit, cut with a ``+`` at
    its end, so that a cut list (``CT/KO/PT/SE+``) is not read as a whole one."""
    if display_width(text) <= width:
        return column(text, width)
    return column(column(text, width - 1).rstrip(" ") + "+", width)


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
