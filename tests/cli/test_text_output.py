"""Import audit, command line: control characters in text output, a glob of a disc's root,
and the incompleteness ``studies --json`` carries."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.media.conftest import build_fileset_medium, sop_uid
from tests.support.series import write_ct_series
from viewer.cli import main
from viewer.cli.net_query import _query_line
from viewer.core.terminal import column, display_width, for_terminal

TITLE = "\x1b]0;PWNED\x07"  # OSC 0: sets the terminal's window title


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(list(argv))
    return status, capsys.readouterr().out


def _controls(text: str) -> list[str]:
    """The control characters (C0 but newline, DEL, C1) in ``text``."""
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) < 0xA0]


def test_for_terminal_escapes_c0_c1_and_del_only() -> None:
    assert for_terminal(f"a\nb\r\tc{TITLE}\x7f\x9b\x85") == (
        "a\\nb\\r\\tc\\x1b]0;PWNED\\x07\\x7f\\x9b\\x85")
    assert for_terminal("Müller^Jürgen=山田 ½ \xa0x") == "Müller^Jürgen=山田 ½ \xa0x"
    assert for_terminal(os.fsdecode(b"caf\xe9\x1b.dcm")) == "caf\\xe9\\x1b.dcm"


def test_for_terminal_escapes_bidirectional_controls_not_letters() -> None:
    # A RIGHT-TO-LEFT OVERRIDE showed "ID 1234" as "ID 4321" on the line.
    assert for_terminal("DOE\u202e^ID 1234") == "DOE\\u202e^ID 1234"
    assert for_terminal("\u2067x\u2069") == "\\u2067x\\u2069"
    assert for_terminal("כהן^משה=Smith") == "כהן^משה=Smith"
    assert for_terminal("قباني^لنزار") == "قباني^لنزار"


def test_import_report_escapes_control_characters_in_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (good,) = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16)
    medium = tmp_path / "odd"
    medium.mkdir()
    (medium / "a\nb.dcm").write_bytes(good.read_bytes()[:400])  # truncated: failed
    (medium / f"x{TITLE}y").write_text("x")  # not DICOM: skipped
    home = str(tmp_path / "home")
    status, out = _run(capsys, "--home", home, "import", str(medium))
    assert status == 1
    assert _controls(out) == []
    assert f"  {medium}/a\\nb.dcm: truncated inside element" in out
    assert f"  {medium}/x\\x1b]0;PWNED\\x07y: not a DICOM file\n" in out
    status, out = _run(capsys, "--home", home, "import", "--json", str(medium))
    report = json.loads(out)  # JSON unchanged: the names as they are
    assert [p["path"] for p in report["failed"]] == [f"{medium}/a\nb.dcm"]
    assert [p["path"] for p in report["skipped"]] == [f"{medium}/x{TITLE}y"]


def test_studies_and_series_escape_control_characters_from_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16,
                            patient_name=f"DOE^JOHN{TITLE}",
                            study_description="HEAD\nFAKE LINE",
                            series_description="AX\x9b2J\x7f")
    home = str(tmp_path / "home")
    assert main(["--home", home, "import", "--json", str(files[0])]) == 0
    status, out = _run(capsys, "--home", home, "studies")
    assert status == 0 and _controls(out) == [] and out.count("\n") == 1
    assert "DOE^JOHN\\x1b]0;PWNED\\x07" in out and "HEAD\\nFAKE LINE" in out
    status, out = _run(capsys, "--home", home, "studies", "--json")
    (study,) = json.loads(out)
    assert study["PatientName"] == f"DOE^JOHN{TITLE}"
    status, out = _run(capsys, "--home", home, "series", study["StudyInstanceUID"])
    assert status == 0 and _controls(out) == [] and "AX\\x9b2J\\x7f" in out
    status, out = _run(capsys, "--home", home, "series", study["StudyInstanceUID"], "--json")
    assert json.loads(out)[0]["SeriesDescription"] == "AX\x9b2J\x7f"
    # JSON escapes C0 itself; C1 (CSI is 0x9B), DEL and bidirectional controls it left raw
    assert _controls(out) == [] and "AX\\u009b2J\\u007f" in out


def test_json_keeps_names_readable_and_escapes_what_a_terminal_acts_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_ct_series(tmp_path / "ct", slices=1, rows=16, cols=16,
                            patient_name="山田^太郎", character_set="ISO_IR 192",
                            study_description="ID 1234\u202e56\u202878")
    home = str(tmp_path / "home")
    assert main(["--home", home, "import", "--json", str(files[0])]) == 0
    status, out = _run(capsys, "--home", home, "studies", "--json")
    (study,) = json.loads(out)
    assert status == 0 and study["PatientName"] == "山田^太郎" and "山田^太郎" in out
    assert study["StudyDescription"] == "ID 1234\u202e56\u202878"
    assert "\u202e" not in out and "\\u202e" in out and "\u2028" not in out


def test_columns_are_counted_in_terminal_columns_not_characters() -> None:
    assert display_width("Yamada^Tarou=山田^太郎=やまだ^たろう") == 12 + 1 + 9 + 1 + 13
    assert display_width("Mu\u0308ller") == 6  # a combining diaeresis takes no column
    assert column("山田^太郎", 8) == "山田^太 "  # 太 would straddle: dropped, then padded
    assert column("DOE^JOHN", 4) == "DOE^" and column("DOE", 5) == "DOE  "
    assert column("山田^太郎", 4, cut=False) == "山田^太郎"


def test_studies_columns_line_up_with_cjk_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    names = ["DOE^JOHN", "Yamada^Tarou=山田^太郎=やまだ^たろう", "Wang^XiaoDong=王^小東"]
    for n, name in enumerate(names):
        (file,) = write_ct_series(tmp_path / f"ct{n}", slices=1, rows=16, cols=16,
                                  patient_name=name, character_set="ISO_IR 192",
                                  study_description=f"腹部 CT {n}")
        assert main(["--home", home, "import", "--json", str(file)]) == 0
    status, out = _run(capsys, "--home", home, "studies")
    lines = out.splitlines()
    assert status == 0 and len(lines) == 3
    # Each study's UID starts at the same column on screen, whatever the name's script.
    starts = {display_width(line[:line.rindex(" ")]) for line in lines}
    assert len(starts) == 1, lines
    # And so do the matches ``lightbox query`` prints.
    matches = [{"StudyDate": "20240102", "PatientName": name, "StudyInstanceUID": f"1.2.{n}",
                "StudyDescription": "腹部 CT"} for n, name in enumerate(names[::2])]
    lines = [_query_line("study", m) for m in matches]
    assert display_width(lines[0][:-5]) == display_width(lines[1][:-5]), lines


def test_a_glob_of_a_disc_root_is_complete_despite_its_readme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    disc = tmp_path / "disc"
    for path in write_ct_series(tmp_path / "ct", slices=3, rows=16, cols=16):
        disc.mkdir(exist_ok=True)
        shutil.copy(path, disc / path.name)
    (disc / "README.TXT").write_text("viewer readme\n")
    glob = [str(p) for p in sorted(disc.iterdir())]
    status, out = _run(capsys, "--home", str(tmp_path / "home"), "import", *glob)
    assert status == 0
    assert f"  {disc / 'README.TXT'}: not a DICOM file\n" in out
    assert "No DICOM files found" not in out
    assert out.endswith("Complete: every instance found is in the database; safe to eject.\n")


def test_studies_json_says_what_the_source_has_that_is_not_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slices = write_ct_series(tmp_path / "ct", slices=3, rows=16, cols=16)
    disc = tmp_path / "disc"
    placed = build_fileset_medium(disc, slices)
    placed[sop_uid(slices[2])].unlink()
    other = write_ct_series(tmp_path / "other", slices=1, rows=16, cols=16,
                            patient_id="LB-TEST-0002")
    home = str(tmp_path / "home")
    assert main(["--home", home, "import", "--json", str(disc), str(other[0])]) == 1
    status, out = _run(capsys, "--home", home, "studies", "--json")
    assert status == 0
    by_patient = {s["PatientID"]: s for s in json.loads(out)}
    incomplete, whole = by_patient["LB-TEST-0001"], by_patient["LB-TEST-0002"]
    assert (incomplete["NumberOfStudyRelatedInstances"], incomplete["expected_instances"],
            incomplete["missing_instances"]) == (2, 3, 1)
    assert (whole["NumberOfStudyRelatedInstances"], whole["expected_instances"],
            whole["missing_instances"]) == (1, None, None)
    status, out = _run(capsys, "--home", home, "studies")
    assert status == 0 and "INCOMPLETE: 1 of 3 not here" in out
