"""What the command line takes and refuses before it touches a store or a PACS, and how it
writes to outputs that are not UTF-8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.peers import free_port
from tests.support.testdata import charset_file
from viewer.cli import main
from viewer.cli.net_query import _query_line
from viewer.core.terminal import display_width, marked_column
from viewer.net.query import QuerySpec, build_identifier

REPO = Path(__file__).resolve().parents[2]
UID = "1.2.826.0.1.3680043.8.498.1"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home whose only node listens nowhere: whatever reaches the network fails."""
    h = tmp_path / "home"
    assert main(["--home", str(h), "node", "add", "pacs", f"PACS@127.0.0.1:{free_port()}",
                 "--method", "move"]) == 0
    return h


@pytest.mark.parametrize("study", [f"{UID},", "1.2.*", "1.2.3a", "1.2..3", "1" * 65])
@pytest.mark.parametrize("method", ["get", "move", "auto"])
def test_a_retrieve_of_what_is_not_a_uid_is_refused_before_anything_is_sent(
        home: Path, capsys: pytest.CaptureFixture[str], study: str, method: str) -> None:
    # A first C-MOVE of a study plans no C-FIND: the typo went to the PACS, and its
    # refusal was explained as the PACS not knowing our AE title.
    status, _, err = _run(capsys, "--home", str(home), "retrieve", "pacs", "--study", study,
                          "--method", method)
    assert status == 2, err
    assert "is not a UID" in err and "AE" not in err


def test_a_pasted_uid_keeps_no_spaces(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Refused as "not a UID" by C-GET, sent with its spaces by C-MOVE: now taken as it
    # is meant, and the closed port is what the message is about.
    for method in ("get", "move"):
        status, _, err = _run(capsys, "--home", str(home), "retrieve", "pacs", "--study",
                              f" {UID} ", "--method", method)
        assert status == 1 and "not a UID" not in err, err
    status, _, err = _run(capsys, "--home", str(home), "query", "pacs", "--study", f"{UID} ",
                          "--date", " 20240115")
    assert status == 1 and "nothing accepts connections" in err, err


def test_digits_of_other_scripts_are_not_dates_or_ports(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fullwidth = "２０２４０１１５"  # as a Japanese input method types 20240115
    for argv in (["studies", "--date", fullwidth], ["query", "pacs", "--date", fullwidth],
                 ["query", "pacs", "--date", f"20240101-{fullwidth}"]):
        status, _, err = _run(capsys, "--home", str(home), *argv)
        assert status == 2 and "expected YYYYMMDD" in err, (argv, err)
    status, _, err = _run(capsys, "--home", str(home), "node", "add", "q", "Q@127.0.0.1:１０４")
    assert status == 2 and "is not a TCP port" in err
    status, _, err = _run(capsys, "--home", str(home), "config", "set", "port", "１２３")
    assert status == 2 and "port takes a number" in err


def test_a_limit_past_any_store_is_no_limit(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    h = str(tmp_path / "home")
    assert main(["--home", h, "import", str(charset_file("chrX1.dcm"))]) == 0
    status, out, err = _run(capsys, "--home", h, "studies", "--limit", "9" * 20)
    assert status == 0 and len(out.splitlines()) == 1, err


def test_a_query_sends_the_modality_upper_case() -> None:
    # CS values are upper case (PS3.5 6.2) and a PACS matches them exactly; the local
    # study list took "ct" for CT, the query found nothing.
    study = build_identifier(QuerySpec(modality="ct"))
    series = build_identifier(QuerySpec(level="series", study_uids=(UID,), modality=" mr "))
    assert study.ModalitiesInStudy == "CT" and series.Modality == "MR"


def test_a_long_list_of_modalities_is_cut_visibly_and_keeps_the_columns() -> None:
    assert marked_column("CT", 11) == "CT" + " " * 9
    assert marked_column("CT/KO/PT/SEG/SR", 11) == "CT/KO/PT/S+"
    lines = [_query_line("study", {"StudyDate": "20240301", "ModalitiesInStudy": mods,
                                   "PatientName": "DOE^JANE", "StudyInstanceUID": "1.2.3"})
             for mods in ("CT", "CT\\KO\\PT\\SEG\\SR")]
    assert display_width(lines[0]) == display_width(lines[1]), lines


@pytest.mark.parametrize("argv", [["delete", UID], ["check"], ["node", "list"],
                                  ["config", "show"], ["node", "remove", "pacs"],
                                  ["node", "edit", "pacs", "--method", "get"]])
def test_a_mistyped_home_is_named_not_made(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           argv: list[str]) -> None:
    typo = tmp_path / "hoem"
    status, out, err = _run(capsys, "--home", str(typo), *argv)
    assert status == 2 and f"no Lightbox home at {typo}" in err, (out, err)
    assert not typo.exists()


def test_a_home_with_nodes_only_lists_them(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    h = str(tmp_path / "home")
    assert main(["--home", h, "node", "add", "pacs", "PACS@10.0.0.1:104"]) == 0
    status, out, _ = _run(capsys, "--home", h, "node", "list")
    assert status == 0 and out.startswith("pacs ")
    assert _run(capsys, "--home", h, "config", "show")[0] == 0


def test_ae_titles_lose_their_spaces_and_messages_quote_them_as_typed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = str(tmp_path / "home")
    # PS3.5 6.2: leading and trailing spaces of an AE are not significant.
    assert _run(capsys, "--home", h, "config", "set", "ae-title", " MYAE ")[1] == (
        "ae-title = MYAE\n")
    status, out, _ = _run(capsys, "--home", h, "node", "add", "p", " PACS @10.0.0.1:104")
    assert status == 0 and out == "added p: PACS@10.0.0.1:104\n"
    status, _, err = _run(capsys, "--home", h, "node", "add", "q", "AB\\C@10.0.0.1:104")
    assert status == 2 and "AE title 'AB\\C' must be" in err, err
    # DEL is a control character too (PS3.5 6.2: AE is printable).
    status, _, err = _run(capsys, "--home", h, "config", "set", "ae-title", "AB\x7fC")
    assert status == 2 and "must use printable ASCII only" in err, err


def test_a_tls_key_without_its_certificate_says_which_is_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "client.key"
    key.write_text("not read: refused before")
    status, _, err = _run(capsys, "--home", str(tmp_path / "home"), "node", "add", "t",
                          "T@10.0.0.1:2762", "--tls-ca", str(key), "--tls-key", str(key))
    assert status == 2 and "a TLS client key needs its certificate (--tls-cert)" in err, err


def test_output_in_a_code_page_without_the_names_is_escaped_not_a_traceback(
        tmp_path: Path) -> None:
    # Python writes a redirect on Windows in the ANSI code page: a name in kanji stopped
    # `studies` with UnicodeEncodeError, and a finished import ended with exit status 1.
    h = str(tmp_path / "home")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}

    def lightbox(*argv: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "viewer", "--home", h, *argv], env=env,
                              capture_output=True, cwd=REPO, timeout=120, check=False)

    medium = tmp_path / "患者"
    medium.mkdir()
    (medium / "chrX2.dcm").write_bytes(charset_file("chrX2.dcm").read_bytes())
    (medium / "readme.txt").write_text("x")
    done = lightbox("import", str(medium))
    assert done.returncode == 0, done.stderr.decode("cp1252")
    assert b"\\u60a3\\u8005" in done.stdout  # the folder's name, escaped
    listed = lightbox("studies")
    assert listed.returncode == 0 and b"Wang^XiaoDong=\\u738b^\\u5c0f\\u4e1c" in listed.stdout
    as_json = lightbox("studies", "--json")
    assert as_json.returncode == 0, as_json.stderr
    (study,) = json.loads(as_json.stdout.decode("ascii"))
    assert study["PatientName"] == "Wang^XiaoDong=王^小东"


@pytest.mark.parametrize("option", ["--accession", "--patient", "--patient-id",
                                    "--description"])
def test_a_backslash_in_a_query_key_is_refused(
        home: Path, capsys: pytest.CaptureFixture[str], option: str) -> None:
    # Sent as two values, which a PACS matches as a list for UIDs only: dcmqrscp said
    # "no matches" although each value alone matched.
    status, _, err = _run(capsys, "--home", str(home), "query", "pacs", option, "ACC1\\ACC2")
    assert status == 2 and "a backslash would send several values" in err, err


def test_studies_says_when_nothing_matches(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    # As `query` says "no matches": an empty output alone reads as a hang or a failure.
    h = str(tmp_path / "home")
    assert main(["--home", h, "import", str(charset_file("chrX1.dcm"))]) == 0
    status, out, err = _run(capsys, "--home", h, "studies", "--patient-id", "NOBODY")
    assert status == 0 and out == "" and err == "lightbox: no studies match\n"
    status, out, err = _run(capsys, "--home", h, "studies", "--patient-id", "NOBODY", "--json")
    assert status == 0 and json.loads(out) == [] and err == ""
