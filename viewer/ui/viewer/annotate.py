"""The four corner texts of a viewport, as reading workstations lay them out."""

from __future__ import annotations

import textwrap
import unicodedata
from typing import TYPE_CHECKING

from viewer.core.dates import canonical_date
from viewer.core.person_names import reading_name
from viewer.imaging.modality import LutParams
from viewer.imaging.pipeline import resolve_voi
from viewer.imaging.voi import VoiFunction

if TYPE_CHECKING:
    from viewer.ui.viewer.viewport import ViewportWidget


def dicom_date(value: str) -> str:
    """``YYYYMMDD`` (or the older ``YYYY.MM.DD``) -> ``YYYY-MM-DD`` (PS3.5 6.2 DA);
    anything else unchanged."""
    v = canonical_date(value.strip())
    if len(v) == 8 and v.isdigit():
        return f"{v[:4]}-{v[4:6]}-{v[6:]}"
    return v


def dicom_time(value: str) -> str:
    """``HHMMSS.frac`` -> ``HH:MM`` (PS3.5 6.2 TM)."""
    v = value.strip().replace(":", "")
    if len(v) >= 4 and v[:4].isdigit():
        return f"{v[:2]}:{v[2:4]}"
    return v


def display_name(value: str) -> str:
    """Person Name for reading, every component group (PS3.5 6.2.1.1): ``Yamada, Tarou =
    山田, 太郎``; the alphabetic group alone showed nothing for a name held in ideographic
    characters only."""
    return reading_name(value)


def _columns(viewport: ViewportWidget) -> int:
    """About how many characters of corner text fit across the viewport."""
    width = viewport.view.transform.viewport[0]
    # A character of the sans-serif corner font is about 0.6 of its size wide.
    return max(20, int(width / (viewport.annotations.font_size * 0.6)) - 2)


def _corner_columns(viewport: ViewportWidget) -> int:
    """About how many characters of one corner's line fit in half the viewport's width.

    The two corners of a side share its width: a line longer than half of it ran across
    the image into the opposite corner's text.
    """
    width = viewport.view.transform.viewport[0]
    return max(8, int(width / 2 / (viewport.annotations.font_size * 0.6)) - 1)


#: Marks a line cut to fit its corner.
ELLIPSIS = "\u2026"


def _char_width(char: str) -> int:
    # A combining mark takes no room of its own; a CJK ideograph or a full-width form
    # takes about two Latin letters' (Unicode UAX #11 East Asian Width).
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def elide(line: str, columns: int) -> str:
    """``line`` unchanged when it fits ``columns`` characters, else cut to end with "…".

    Parameters
    ----------
    line : str
        One line of a corner text (no newline).
    columns : int
        Room, in Latin letters; a wide (CJK) character counts two.

    Returns
    -------
    str
        At most ``columns`` wide, the ellipsis included.
    """
    if sum(_char_width(char) for char in line) <= columns:
        return line
    kept: list[str] = []
    used = _char_width(ELLIPSIS)
    for char in line:
        used += _char_width(char)
        if used > columns:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS


def _fit(lines: list[str], columns: int) -> str:
    """The non-empty ``lines`` of a corner, each elided to ``columns``, one per row."""
    return "\n".join(elide(line, columns) for line in lines if line)


def voi_lut_text(viewport: ViewportWidget) -> str:
    """Name the VOI LUT the frame is shown through, or ``""`` when it is not.

    A VOI LUT Sequence (0028,3010) item replaces the window (PS3.3 C.11.2): there is no
    width and centre to show, so the corner says which table is on screen instead, by its
    LUT Explanation (0028,3003), else by its place in the sequence.
    """
    facts = viewport._facts
    params = facts.params if facts is not None else None
    if params is None or not params.voi_luts:
        return ""
    try:
        # No frame statistics: they only move an automatic window, never pick a VOI LUT.
        chosen = resolve_voi(params, viewport.view_state(), None)
    except Exception:  # a view the image cannot honour is reported where it is drawn
        return ""
    if not isinstance(chosen, LutParams):
        return ""
    number = next(i for i, lut in enumerate(params.voi_luts) if lut is chosen) + 1
    explanation = chosen.explanation.strip()
    if explanation:
        return f"VOI LUT: {explanation}"
    return f"VOI LUT {number} of {len(params.voi_luts)}"


_SIDES = {"R": "R", "L": "L", "B": "Both sides", "U": "Unpaired"}


def side_and_view(texts: dict[str, str]) -> str:
    """Which side and which view, as a mammogram or radiograph is read ("R MLO", "L CC").

    Image Laterality (0020,0062, or an enhanced frame's Frame Laterality), else the
    series' Laterality (0020,0060) (PS3.3 C.7.6.1, C.7.3.1); View Position (0018,5101),
    else the View Code Sequence's meaning. Without them a left breast and a right one
    looked alike but for the edge labels.
    """
    side = (texts.get("ImageLaterality") or texts.get("Laterality") or "").strip().upper()
    return " ".join(x for x in (_SIDES.get(side, side), texts.get("ViewPosition", "")) if x)


def corner_texts(viewport: ViewportWidget) -> tuple[str, str, str, str]:
    """Upper-left, upper-right, lower-left, lower-right texts for ``viewport``."""
    series = viewport.series
    if series is None:
        return ("", "", "", "")
    facts = viewport._facts
    total = len(series)
    loaded = series.loaded_count()
    columns = _corner_columns(viewport)
    ll = [f"Im: {viewport.index + 1} / {total}"]
    error = series.error(viewport.index) or viewport.render_error
    if error is not None and viewport._shown_index != viewport.index:
        # The frame on screen is not this one: say why this one is missing.
        # Wrapped to the viewport: a reason after a long path was cut off at its edge.
        # It has the lower half to itself (the lower right is empty), so it is not elided.
        ll.extend(textwrap.wrap(f"Cannot show this image: {error}", _columns(viewport),
                                break_long_words=True, break_on_hyphens=False))
        return ("", _fit([series.title], columns), "\n".join(ll), "")
    if facts is None or viewport._shown_index != viewport.index:
        ll.append("Loading...")
        return ("", _fit([series.title], columns), _fit(ll, columns), "")
    t = facts.text
    ul = [display_name(t.get("PatientName", ""))]
    if t.get("PatientID"):  # an empty "ID:" reads as a field the viewer lost
        ul.append(f"ID: {t['PatientID']}")
    birth = dicom_date(t.get("PatientBirthDate", ""))
    sex = t.get("PatientSex", "")
    if birth or sex:
        ul.append(" ".join(x for x in (birth, sex) if x))
    if t.get("InstitutionName"):
        ul.append(t["InstitutionName"])
    ur = [
        " ".join(x for x in (dicom_date(t.get("StudyDate", "")),
                             dicom_time(t.get("StudyTime", ""))) if x),
        t.get("StudyDescription", ""),
        " ".join(x for x in (f"Se: {t['SeriesNumber']}" if t.get("SeriesNumber") else "",
                             t.get("SeriesDescription", "")) if x),
        side_and_view(t),
    ]
    if t.get("PresentationIntentType", "").upper() == "FOR PROCESSING":
        # PS3.3 C.8.11.1.1.1: raw detector data, not meant to be read as shown
        ur.append("FOR PROCESSING - not for diagnosis")
    refs, index = series.refs, viewport.index
    # The frame within its file, for every frame of a multi-frame file (the first too).
    multi_frame = facts.ref.frame > 0 or (
        index + 1 < len(refs) and refs[index + 1].path == facts.ref.path)
    if multi_frame or facts.plane is None:
        ll.append(f"Frame: {facts.ref.frame + 1}")
    if t.get("NMFrame"):
        ll.append(t["NMFrame"])
    plane = facts.plane
    if plane.location is not None:
        ll.append(f"Loc: {plane.location:.2f} mm")
    if plane.thickness is not None:
        ll.append(f"Thick: {plane.thickness:.2f} mm")
    if loaded < total:
        ll.append(f"Loading {loaded}/{total}")
    lr = []
    window = viewport.current_window()
    if window is not None:
        # A file window is named by the frame shown: frames may name theirs differently
        # (PS3.3 C.7.6.16.2.10), and a frame lacking the one chosen shows its first.
        label = window.explanation if viewport.window_index is not None else viewport.preset_name
        name = f" {label}" if label else ""
        # The same W and C give another image through a sigmoid (PS3.3 C.11.2.1.3.1).
        curve = " sigmoid" if window.function is VoiFunction.SIGMOID else ""
        lr.append(f"W {window.width:g} C {window.center:g}{curve}{name}")
    else:
        lr.append(voi_lut_text(viewport))
    if facts.suv is not None and not facts.suv.usable:
        # a PET reader looks for SUV: say why the probe and ROIs give none
        lr.append(f"No SUV: {facts.suv.problem}")
    if viewport.inverted:
        lr.append("Inverted")
    lr.append(f"Zoom {viewport.view.transform.zoom:.2f}")
    spacing_text = plane.spacing.describe()
    if spacing_text:
        lr.append(spacing_text)
    if facts.lossy:
        lr.append(facts.lossy)
    if viewport.cine_timer.isActive():
        lr.append(f"Cine {viewport.cine_fps:.3g} fps")  # 1000 / 33.333 ms: 30, not 30.0003
    return (_fit(ul, columns), _fit(ur, columns), _fit(ll, columns), _fit(lr, columns))
