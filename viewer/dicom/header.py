"""Header-only reading of DICOM files into :class:`viewer.core.records.InstanceRecord`.

An import reads every file once: the bytes are read into memory (small files), the header
is parsed from them, and the same bytes are then copied into the managed store. Before any
of that, the first 132 bytes tell whether a file is DICOM at all, so a 2 GB video on a disc
costs one short read.

Little endian files (nearly all) are read by one pass over the element structure
(:mod:`viewer.dicom.structure`, PS3.5 7.1, 7.5) that picks out the ~25 attributes the
study database keeps and checks that no element runs past the end of the file; text is
decoded by pydicom's character set code (PS3.5 6.1). That pass is several times faster
than building a pydicom Dataset, which matters when a disc holds 10,000 files. Anything
else (big endian, deflated, structures the pass does not understand) is read by pydicom
with ``stop_before_pixels`` and ``specific_tags``; pydicom stops silently at the end of a
truncated file, so the structure walk (:func:`truncation_problem`) runs after it too.
A file that fails, and has the ``DICM`` prefix, has its File Meta Information looked at
(:mod:`viewer.dicom.meta_damage`, PS3.10 7.1): damage there is named rather than what followed
from reading the data set at the wrong byte.
"""

from __future__ import annotations

import codecs
import io
import struct
import warnings
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.charset import convert_encodings, decode_bytes, python_encoding
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.valuerep import PersonName

from viewer.core.dates import canonical_date, canonical_time
from viewer.core.errors import InputFileError
from viewer.core.records import InstanceRecord, PatientRecord
from viewer.dicom.meta_damage import file_meta_problem
from viewer.dicom.structure import (
    DEFLATED_LE,
    EXPLICIT_VR_BE,
    EXPLICIT_VR_LE,
    IMPLICIT_VR_LE,
    MEDIA_STORAGE_DIRECTORY,
    PROBE_LENGTH,
    IncompleteHeaderError,
    TruncatedError,
    UnknownStructureError,
    Walker,
    inflation_problem,
    probe,
    read_meta,
    truncation_problem,
)

HEADER_KEYWORDS = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "Modality",
    "ReferringPhysicianName",
    "StudyDescription",
    "SeriesDescription",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "BodyPartExamined",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "StudyID",
    "SeriesNumber",
    "InstanceNumber",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "NumberOfFrames",
    "Rows",
    "Columns",
)

def person_name_text(value: Any) -> str:
    """Return a Person Name as text, all component groups kept and joined by ``=``.

    PS3.5 6.2.1.1: alphabetic, ideographic and phonetic groups; trailing empty groups
    are dropped. A multi-valued element is joined with ``\\``.
    """
    if value is None:
        return ""
    if isinstance(value, PersonName):
        # Empty trailing components and groups carry nothing ("^^^^" is an empty name).
        return "=".join(group.rstrip("^") for group in str(value).split("=")).rstrip("=")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(person_name_text(v) for v in value)
    return "=".join(group.rstrip("^") for group in str(value).split("=")).rstrip("=")


def _text(ds: Any, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


# PS3.5 Table 6.2-1: an IS value lies in -2^31 .. 2^31 - 1. A longer run of digits is
# damage, and past 2^63 no SQLite integer holds it (the row of its file would fail).
_INTEGER_STRING_RANGE = range(-(2**31), 2**31)


def _in_range(value: int) -> int | None:
    return value if value in _INTEGER_STRING_RANGE else None


def _int(ds: Any, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            return None
        return _in_range(int(value))
    except (TypeError, ValueError, OverflowError):
        return None


def _floats(ds: Any, keyword: str, count: int) -> tuple[float, ...] | None:
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return numbers if len(numbers) == count else None


def _transfer_syntax(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    if uid:
        return uid
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return IMPLICIT_VR_LE
    return EXPLICIT_VR_LE if little else EXPLICIT_VR_BE


def _walk_syntax(ds: Any) -> str:
    """The encoding pydicom actually found (files whose meta names the wrong one exist)."""
    declared = _transfer_syntax(ds)
    if declared in (DEFLATED_LE, EXPLICIT_VR_BE):
        return declared
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        return declared
    if not little:
        return EXPLICIT_VR_BE
    return IMPLICIT_VR_LE if implicit else EXPLICIT_VR_LE


def record_from_dataset(ds: Any, source: str) -> InstanceRecord:
    """Build the record of one instance from a (header-only) pydicom Dataset.

    Raises
    ------
    InputFileError
        When an identifying UID (PS3.3 C.12.1 SOP Instance UID, C.7.2.1 Study Instance
        UID, C.7.3.1 Series Instance UID) is missing.
    """
    meta = getattr(ds, "file_meta", None)
    sop_uid = _text(ds, "SOPInstanceUID") or (
        str(meta.get("MediaStorageSOPInstanceUID", "")) if meta is not None else ""
    )
    sop_class = _text(ds, "SOPClassUID") or (
        str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    )
    if not sop_uid:
        raise InputFileError(source, "no SOP Instance UID; not a DICOM instance")
    study_uid = _text(ds, "StudyInstanceUID")
    series_uid = _text(ds, "SeriesInstanceUID")
    if sop_class != MEDIA_STORAGE_DIRECTORY and not (study_uid and series_uid):
        raise InputFileError(source, "no Study or Series Instance UID")
    position = _floats(ds, "ImagePositionPatient", 3)
    orientation = _floats(ds, "ImageOrientationPatient", 6)
    return InstanceRecord(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        transfer_syntax_uid=_transfer_syntax(ds),
        patient=PatientRecord(
            patient_id=_text(ds, "PatientID"),
            patient_name=person_name_text(ds.get("PatientName")),
            birth_date=canonical_date(_text(ds, "PatientBirthDate")),
            sex=_text(ds, "PatientSex"),
        ),
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=canonical_date(_text(ds, "StudyDate")),
        study_time=canonical_time(_text(ds, "StudyTime")),
        accession_number=_text(ds, "AccessionNumber"),
        study_id=_text(ds, "StudyID"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician=person_name_text(ds.get("ReferringPhysicianName")),
        modality=_text(ds, "Modality"),
        series_number=_int(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part=_text(ds, "BodyPartExamined"),
        instance_number=_int(ds, "InstanceNumber"),
        rows=_int(ds, "Rows") or 0,
        columns=_int(ds, "Columns") or 0,
        number_of_frames=_int(ds, "NumberOfFrames") or 1,
        image_position=position,  # type: ignore[arg-type]
        image_orientation=orientation,  # type: ignore[arg-type]
        specific_character_set=_text(ds, "SpecificCharacterSet"),
        file_path=source,
    )


def read_header_bytes(data: bytes, source: str, file_size: int | None = None) -> InstanceRecord:
    """Parse the header of a file held in memory and check it is complete.

    Parameters
    ----------
    data : bytes
        The complete file, or its beginning when ``file_size`` is larger.
    source : str
        The file's path, for messages and the record's ``file_path``.
    file_size : int, optional
        The size of the whole file when ``data`` is only its beginning: the header is
        read from the beginning and the lengths of the remaining elements (the pixel
        data) are checked against the size, without reading them.

    Raises
    ------
    InputFileError
        Not DICOM, unparsable, truncated, or without identifying UIDs; when the file has
        the ``DICM`` prefix and its File Meta Information cannot be read (PS3.10 7.1), the
        problem names it and where (:func:`file_meta_problem`).
    IncompleteHeaderError
        ``data`` is only a beginning and more of the file is needed.
    """
    if not probe(data[:PROBE_LENGTH]):
        raise InputFileError(source, "not a DICOM file")
    try:
        record = _read_record(data, source, file_size)
    except InputFileError as exc:
        # A data set read from where a damaged meta group seemed to end fails with a
        # consequence ("no SOP Instance UID"); the cause is named instead. Only files that
        # failed are examined, so a good file costs nothing more.
        problem = file_meta_problem(data, file_size)
        if problem:
            raise InputFileError(source, problem) from exc
        raise
    problem = frame_count_problem(record)
    if problem:
        raise InputFileError(source, problem)
    return record


def _read_record(data: bytes, source: str, file_size: int | None) -> InstanceRecord:
    partial = file_size is not None and file_size > len(data)
    try:
        record = _fast_record(data, source, file_size)
    except (InputFileError, IncompleteHeaderError):
        raise
    except Exception:  # damaged past what the structure pass expects: pydicom decides
        record = None
    if record is None:
        if partial:
            raise IncompleteHeaderError(source)
        record = _pydicom_record(data, source)
    return record


# PS3.5 8.1.1: native pixel data takes at least one bit per pixel of every frame.
_NATIVE = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE})
# Deflate (RFC 1951) expands at most about 1032 times.
_DEFLATE_RATIO = 1032


def frame_count_problem(record: InstanceRecord) -> str:
    """Whether the Number of Frames could fit in the file (PS3.5 8.1.1, A.4).

    Every frame gets a place in the viewer before any pixel is read: a damaged or hostile
    file claiming two billion frames made opening it take all the memory there is.
    Native frames take at least one bit per pixel, encapsulated ones at least an item
    header (8 bytes, PS3.5 A.4).

    Returns
    -------
    str
        Empty when the frames fit, else the problem.
    """
    frames, size = record.number_of_frames, record.file_size or 0
    if frames <= 1:
        return ""
    pixels = record.rows * record.columns
    syntax = record.transfer_syntax_uid
    if pixels and syntax in _NATIVE:
        fits = frames * pixels <= size * 8
    elif pixels and syntax == DEFLATED_LE:
        fits = frames * pixels <= size * 8 * _DEFLATE_RATIO
    else:
        fits = frames * 8 <= size
    if fits:
        return ""
    return f"Number of Frames {frames} cannot fit in the file's {size} bytes"


def _pydicom_record(data: bytes, source: str) -> InstanceRecord:
    """The general path: pydicom reads the header, then the structure walk checks it."""
    problem = inflation_problem(data)  # pydicom inflates a deflated data set whole
    if problem:
        raise InputFileError(source, problem)
    stream = io.BytesIO(data)
    try:
        ds = dcmread(
            stream,
            force=True,
            stop_before_pixels=True,
            specific_tags=list(HEADER_KEYWORDS),
        )
        charsets = ds.get("SpecificCharacterSet")
        if charsets:
            # Values not yet read are decoded by the character sets found at reading.
            terms = dicom_character_sets([charsets] if isinstance(charsets, str)
                                         else list(charsets))
            implicit, little = ds.original_encoding
            ds.set_original_encoding(implicit, little, convert_encodings(terms))
        record = record_from_dataset(ds, source)
    except InputFileError:
        raise
    except Exception as exc:
        # On damaged input pydicom raises many types (OSError for a missing item tag,
        # NotImplementedError for an unknown VR, zlib.error, struct.error, ...), while
        # reading or when a value is first decoded: all are this file's problem.
        raise InputFileError(source, f"cannot read the DICOM header ({exc})") from exc
    problem = truncation_problem(data, _walk_syntax(ds))
    if problem:
        raise InputFileError(source, problem)
    return replace(record, file_size=len(data))


def read_header(path: Path) -> InstanceRecord:
    """Read and check the header of one file on disk (see :func:`read_header_bytes`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputFileError(str(path), f"cannot read ({exc.strerror or exc})") from exc
    return read_header_bytes(data, str(path))


# --------------------------------------------------------------------------- fast path

_WANTED: dict[int, tuple[str, str]] = {
    int(tag_for_keyword(k) or 0): (k, str(dictionary_VR(int(tag_for_keyword(k) or 0))))
    for k in HEADER_KEYWORDS
}
_TAG = {keyword: tag for tag, (keyword, _vr) in _WANTED.items()}
_META_SOP_CLASS, _META_SOP_INSTANCE, _META_SYNTAX = 0x00020002, 0x00020003, 0x00020010
# PS3.5 6.1.3: TAB, LF, FF and CR reset ISO 2022 code extensions in text values.
_TEXT_DELIMITERS = {0x09, 0x0A, 0x0C, 0x0D}


def _ascii(raw: bytes | None) -> str:
    return raw.decode("latin-1").strip(" \0") if raw else ""


# The codecs of the Defined Terms of PS3.3 C.12.1.1.2 (pydicom's table). pydicom also takes
# any Python codec's name for a term it does not know: "unicode_escape" turned a name into
# text SQLite cannot store, "undefined" into numbers, "utf_16" ASCII into CJK.
_DICOM_CODECS = frozenset(python_encoding.values())
_DEFAULT_CODEC = python_encoding[""]


@lru_cache(maxsize=64)
def _encodings(raw: bytes | None) -> tuple[str, ...]:
    """Python codecs for a raw Specific Character Set value (PS3.3 C.12.1.1.2); a term
    that is no Defined Term (nor a misspelling of one) is read as the default repertoire."""
    if not raw or not raw.strip(b" \0"):
        return tuple(convert_encodings(None))
    terms = [t.strip() for t in raw.decode("latin-1").rstrip(" \0").split("\\")]
    return tuple(e if e in _DICOM_CODECS else _DEFAULT_CODEC for e in convert_encodings(terms))


def dicom_character_sets(terms: list[str]) -> list[str]:
    """``terms`` with each one that names no DICOM character set made the default
    repertoire (""), so that pydicom decodes with DICOM's codecs only (PS3.3 C.12.1.1.2)."""
    kept = []
    for term in terms:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom's warning for a misspelt term
            codec = convert_encodings([term])[0] if term else _DEFAULT_CODEC
        kept.append(term if codec in _DICOM_CODECS else "")
    return kept


@lru_cache(maxsize=64)
def _codec(encoding: str) -> str:
    """The codec's canonical name: ``bytes.decode`` takes a C shortcut for ``latin-1`` and
    ``utf-8`` but looks pydicom's aliases (``iso8859``) up on every call."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    return {"iso8859-1": "latin-1"}.get(name, name)


_TEXT_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT"})
_ESC = b"\x1b"


def _decoded(raw: bytes | None, encodings: tuple[str, ...], vr: str) -> str:
    if not raw:
        return ""
    raw = raw.rstrip(b" \0")
    if _ESC not in raw and (vr == "PN" or vr in _TEXT_VRS):
        # PS3.5 6.1.2.5.3: without an escape sequence the whole value is in the first
        # character set, so one codec call decodes it (what pydicom does, without
        # building a PersonName); a value that does not decode takes pydicom's path.
        try:
            codec = _codec(encodings[0])
            if vr != "PN":
                return raw.decode(codec).strip()
            # PS3.5 6.2.1.1: component groups split at "=", each decoded on its own.
            groups = [group.decode(codec).rstrip("^") for group in raw.split(b"=")]
            return "=".join(groups).rstrip("=")
        except (UnicodeError, LookupError):
            pass
    if vr == "PN":
        return person_name_text(PersonName(raw, encodings=list(encodings)))
    if vr in ("SH", "LO", "ST", "LT", "UC", "UT"):
        return decode_bytes(raw, list(encodings), _TEXT_DELIMITERS).strip()
    return raw.decode("latin-1").strip()


# Decoded text by (raw value, character sets, VR). The files of a series repeat the same
# patient, study and series values, and decoding them is half of a small file's header
# cost; bounded, because a disc of many patients would otherwise grow it without end.
_TEXT_CACHE: dict[tuple[bytes, tuple[str, ...], str], str] = {}
_TEXT_CACHE_LIMIT = 4096


def _cached_text(raw: bytes | None, encodings: tuple[str, ...], vr: str) -> str:
    if not raw:
        return ""
    key = (raw, encodings, vr)
    text = _TEXT_CACHE.get(key)
    if text is None:
        text = _decoded(raw, encodings, vr)
        if len(_TEXT_CACHE) >= _TEXT_CACHE_LIMIT:
            _TEXT_CACHE.clear()
        _TEXT_CACHE[key] = text
    return text


@lru_cache(maxsize=256)
def _patient(patient_id: str, name: str, birth_date: str, sex: str) -> PatientRecord:
    """One record per patient, shared by the files of a series (records are immutable)."""
    return PatientRecord(patient_id=patient_id, patient_name=name, birth_date=birth_date, sex=sex)


def _fast_int(raw: bytes | None, vr: str) -> int | None:
    if not raw:
        return None
    if vr == "US":
        return int(struct.unpack_from("<H", raw)[0]) if len(raw) >= 2 else None
    try:
        return _in_range(int(_ascii(raw).split("\\")[0]))
    except ValueError:
        return None


def _fast_floats(raw: bytes | None, count: int) -> tuple[float, ...] | None:
    if not raw:
        return None
    try:
        values = tuple(float(v) for v in _ascii(raw).split("\\"))
    except ValueError:
        return None
    return values if len(values) == count else None


@lru_cache(maxsize=64)
def _orientation(raw: bytes | None) -> tuple[float, ...] | None:
    """Image Orientation (Patient) (PS3.3 C.7.6.2.1.1), the same for a whole series."""
    return _fast_floats(raw, 6)


def _fast_record(data: bytes, source: str, file_size: int | None = None) -> InstanceRecord | None:
    """Read a little endian file in one structure pass; None sends it to pydicom."""
    size = max(file_size or 0, len(data))
    start, meta = read_meta(data)
    syntax = _ascii(meta.get(_META_SYNTAX))
    if syntax in (DEFLATED_LE, EXPLICIT_VR_BE) or start + 8 > len(data):
        if start + 8 > size:
            raise InputFileError(source, "truncated inside the File Meta Information")
        return None
    if not meta and struct.unpack_from("<H", data, 0)[0] not in (0x0002, 0x0008):
        return None  # a bare big endian or odd data set: let pydicom decide
    vr = data[start + 4 : start + 6]
    implicit = not (vr.isalpha() and vr.isupper())
    values: dict[int, bytes] = {}
    try:
        Walker(data, implicit, size, _WANTED).dataset(start, size, 0, values)
    except TruncatedError as exc:
        raise InputFileError(source, str(exc)) from exc
    except (UnknownStructureError, struct.error):
        return None
    raw = values.get
    sop_uid = _ascii(raw(_TAG["SOPInstanceUID"])) or _ascii(meta.get(_META_SOP_INSTANCE))
    sop_class = _ascii(raw(_TAG["SOPClassUID"])) or _ascii(meta.get(_META_SOP_CLASS))
    study_uid = _ascii(raw(_TAG["StudyInstanceUID"]))
    series_uid = _ascii(raw(_TAG["SeriesInstanceUID"]))
    if not sop_uid or not (study_uid and series_uid) or sop_class == MEDIA_STORAGE_DIRECTORY:
        return None  # pydicom's path gives the precise message
    if not syntax:
        syntax = IMPLICIT_VR_LE if implicit else EXPLICIT_VR_LE
    charset = raw(_TAG["SpecificCharacterSet"])
    encodings = _encodings(charset)

    def text(keyword: str) -> str:
        tag = _TAG[keyword]
        return _cached_text(raw(tag), encodings, _WANTED[tag][1])

    return InstanceRecord(
        sop_instance_uid=sop_uid,
        sop_class_uid=sop_class,
        transfer_syntax_uid=syntax,
        patient=_patient(
            text("PatientID"), text("PatientName"), canonical_date(text("PatientBirthDate")),
            text("PatientSex"),
        ),
        study_uid=study_uid,
        series_uid=series_uid,
        study_date=canonical_date(text("StudyDate")),
        study_time=canonical_time(text("StudyTime")),
        accession_number=text("AccessionNumber"),
        study_id=text("StudyID"),
        study_description=text("StudyDescription"),
        referring_physician=text("ReferringPhysicianName"),
        modality=text("Modality"),
        series_number=_fast_int(raw(_TAG["SeriesNumber"]), "IS"),
        series_description=text("SeriesDescription"),
        body_part=text("BodyPartExamined"),
        instance_number=_fast_int(raw(_TAG["InstanceNumber"]), "IS"),
        rows=_fast_int(raw(_TAG["Rows"]), "US") or 0,
        columns=_fast_int(raw(_TAG["Columns"]), "US") or 0,
        number_of_frames=_fast_int(raw(_TAG["NumberOfFrames"]), "IS") or 1,
        image_position=_fast_floats(raw(_TAG["ImagePositionPatient"]), 3),  # type: ignore[arg-type]
        image_orientation=_orientation(raw(_TAG["ImageOrientationPatient"])),  # type: ignore[arg-type]
        specific_character_set=_ascii(charset),
        file_path=source,
        file_size=size,
    )
