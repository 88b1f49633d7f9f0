"""Header-only reading: what is DICOM, names per Specific Character Set with every
component group, truncated files found, identifying UIDs required."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pydicom
import pytest

from tests.support import testdata
from tests.support.series import write_ct_series
from viewer.core.errors import InputFileError
from viewer.dicom.header import _fast_record, _pydicom_record, read_header, read_header_bytes
from viewer.dicom.structure import IncompleteHeaderError, probe, truncation_problem

# PS3.5 Annexes H, I, J examples and D. Clunie's character-set samples (charsets.md §6).
CHARSET_NAMES = {
    "chrArab.dcm": "قباني^لنزار",
    "chrFren.dcm": "Buc^Jérôme",
    "chrGerm.dcm": "Äneas^Rüdiger",
    "chrGreek.dcm": "Διονυσιος",
    "chrH31.dcm": "Yamada^Tarou=山田^太郎=やまだ^たろう",
    "chrH32.dcm": "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう",
    "chrHbrw.dcm": "שרון^דבורה",
    "chrI2.dcm": "Hong^Gildong=洪^吉洞=홍^길동",
    "chrRuss.dcm": "Люкceмбypг",
    "chrX1.dcm": "Wang^XiaoDong=王^小東",
    "chrX2.dcm": "Wang^XiaoDong=王^小东",
    "chrJapMulti.dcm": "やまだ^たろう",
    "chrKoreanMulti.dcm": "김희중",
}


@pytest.mark.parametrize("name", sorted(CHARSET_NAMES))
def test_person_names_decoded_with_all_groups(name: str) -> None:
    record = read_header(testdata.charset_file(name))
    assert record.patient.patient_name == CHARSET_NAMES[name]


def test_record_fields_from_a_ct(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path, slices=1, rows=16, cols=20)
    ds = pydicom.dcmread(path)
    record = read_header(path)
    assert record.sop_instance_uid == ds.SOPInstanceUID
    assert record.study_uid == ds.StudyInstanceUID and record.series_uid == ds.SeriesInstanceUID
    assert (record.rows, record.columns, record.number_of_frames) == (16, 20, 1)
    assert record.image_position == tuple(float(v) for v in ds.ImagePositionPatient)
    assert record.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
    assert record.modality == "CT" and record.file_size == path.stat().st_size


def test_probe_accepts_dicom_with_and_without_preamble() -> None:
    assert probe(testdata.test_file("CT_small.dcm").read_bytes()[:132])
    assert probe(testdata.test_file("ExplVR_LitEndNoMeta.dcm").read_bytes()[:132])
    assert probe(testdata.test_file("MR_small_implicit.dcm").read_bytes()[:132])
    assert not probe(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    assert not probe(b"%PDF-1.4\n" + b" " * 200)
    assert not probe(b"")


def test_preamble_less_file_is_read() -> None:
    record = read_header(testdata.test_file("ExplVR_LitEndNoMeta.dcm"))
    assert record.sop_instance_uid


@pytest.mark.parametrize("name", ["MR_truncated.dcm", "rtplan_truncated.dcm"])
def test_pydicom_truncated_files_are_refused(name: str) -> None:
    with pytest.raises(InputFileError, match="truncated"):
        read_header(testdata.test_file(name))


def test_cut_anywhere_in_pixel_data_is_found(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path, slices=1, rows=16, cols=16)
    data = path.read_bytes()
    assert truncation_problem(data, "1.2.840.10008.1.2.1") == ""
    for cut in (1, 2, 100, 511):
        with pytest.raises(InputFileError, match="truncated"):
            read_header_bytes(data[:-cut], "cut.dcm")


def test_encapsulated_pixel_data_without_delimiter_is_truncated() -> None:
    data = testdata.test_file("JPEG2000.dcm").read_bytes()
    assert truncation_problem(data, "1.2.840.10008.1.2.4.91") == ""
    assert "truncated" in truncation_problem(data[:-20], "1.2.840.10008.1.2.4.91")


def test_not_dicom_and_missing_uids_are_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not a DICOM file"):
        read_header_bytes(b"hello" * 100, "hello.txt")
    with pytest.raises(InputFileError, match="UID"):
        read_header(testdata.charset_file("chrSQEncoding.dcm"))  # header only, no study UID


def _pydicom_files() -> list[Path]:
    charset_dir = testdata.charset_file("chrH31.dcm").parent
    files = [*testdata.all_test_files(), *sorted(charset_dir.glob("*.dcm"))]
    return [p for p in files if p.suffix in (".dcm", "") and probe(p.read_bytes()[:132])]


@pytest.mark.filterwarnings("ignore")
def test_one_pass_reader_agrees_with_pydicom() -> None:
    """The fast little endian reader gives exactly pydicom's record, file after file."""
    compared = 0
    for path in _pydicom_files():
        data = path.read_bytes()
        try:
            expected = replace(_pydicom_record(data, str(path)), file_size=len(data))
        except InputFileError:
            continue
        try:
            fast = _fast_record(data, str(path))
        except InputFileError:
            continue  # truncated: pydicom alone does not notice (tested above)
        if fast is None:
            continue  # big endian, deflated: pydicom's path is the only one
        assert fast == expected, path.name
        compared += 1
    assert compared > 150


def test_large_file_header_read_from_its_beginning(tmp_path: Path) -> None:
    (path,) = write_ct_series(tmp_path, slices=1, rows=512, cols=512)
    data = path.read_bytes()
    whole = read_header_bytes(data, str(path))
    head = read_header_bytes(data[:65536], str(path), file_size=len(data))
    assert head == whole
    with pytest.raises(InputFileError, match="truncated"):
        read_header_bytes(data[:65536], str(path), file_size=len(data) - 1000)
    with pytest.raises(IncompleteHeaderError):
        read_header_bytes(data[:600], str(path), file_size=len(data))


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize(
    ("charset", "name", "description"),
    [
        ("ISO_IR 192", "Müller^Jürgen=山田^太郎=やまだ^たろう".encode(), "Thorax ÄÖÜ".encode()),
        ("ISO_IR 100", "Müller^Jürgen^^^".encode("latin-1"), "Kopf".encode("latin-1")),
        ("", b"Smith^John==", b"Chest  "),
        # Not valid UTF-8: the one-call decode fails and pydicom's replacement decoding
        # is used, as pydicom would read the file.
        ("ISO_IR 192", b"Bad\xff\xfeName^X", b"ok\xc3"),
    ],
)
def test_text_without_escapes_decoded_as_pydicom_does(
    tmp_path: Path, charset: str, name: bytes, description: bytes
) -> None:
    """Values without ISO 2022 escapes are decoded in one codec call (PS3.5 6.1.2.5.3);
    the record is still exactly the one pydicom's reading gives."""
    (path,) = write_ct_series(tmp_path, slices=1, rows=8, cols=8)
    ds = pydicom.dcmread(path)
    if charset:
        ds.SpecificCharacterSet = charset
    elif "SpecificCharacterSet" in ds:
        del ds.SpecificCharacterSet
    ds.PatientName = name
    ds.StudyDescription = description
    ds.save_as(path)
    data = path.read_bytes()
    fast = _fast_record(data, str(path))
    expected = replace(_pydicom_record(data, str(path)), file_size=len(data))
    assert fast is not None
    assert fast == expected
    assert fast.patient.patient_name


@pytest.mark.filterwarnings("ignore")
def test_same_bytes_under_another_character_set_are_decoded_again(tmp_path: Path) -> None:
    """Decoded values are remembered across files; the character set is part of the key, so
    the same bytes read as Latin-1 in one file and UTF-8 in the next give each its text."""
    (path,) = write_ct_series(tmp_path, slices=1, rows=8, cols=8)
    ds = pydicom.dcmread(path)
    ds.PatientName = "Müller^Jürgen".encode()
    names = []
    for charset in ("ISO_IR 100", "ISO_IR 192", "ISO_IR 100"):
        ds.SpecificCharacterSet = charset
        ds.save_as(path)
        record = _fast_record(path.read_bytes(), str(path))
        assert record is not None
        names.append(record.patient.patient_name)
    assert names == ["MÃ¼ller^JÃ¼rgen", "Müller^Jürgen", "MÃ¼ller^JÃ¼rgen"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("charset", ["unicode_escape", "undefined", "utf_16", "rot13"])
def test_a_python_codec_named_as_character_set_reads_as_the_default(
    tmp_path: Path, charset: str
) -> None:
    """PS3.3 C.12.1.1.2 names the character sets; pydicom also takes any Python codec's
    name, which made a name text SQLite cannot store ("unicode_escape"), numbers
    ("undefined") or CJK ("utf_16"). Such a term is the default repertoire, on both paths."""
    (path,) = write_ct_series(tmp_path, slices=1, rows=8, cols=8)
    ds = pydicom.dcmread(path)
    width = max(10, len(charset) + len(charset) % 2)
    placeholder = "ISO_IR 100".ljust(width, "_")  # pydicom would encode with the codec
    ds.SpecificCharacterSet = placeholder
    ds.PatientName = "Sur\\udce9^X"  # backslashes and all: ASCII bytes in the file
    ds.PatientID = "LB-TEST-0042"
    ds.save_as(path)
    data = path.read_bytes().replace(placeholder.encode(), charset.encode().ljust(width))
    path.write_bytes(data)
    for record in (_fast_record(data, str(path)), _pydicom_record(data, str(path))):
        assert record is not None
        assert record.patient.patient_id == "LB-TEST-0042"
        assert "Sur" in record.patient.patient_name
        record.patient.patient_name.encode("utf-8")  # no lone surrogate: SQLite takes it
