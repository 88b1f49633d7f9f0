"""Each failure Lightbox can meet is explained in words that say what to check."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.support.peers import PynetdicomPeer, server_ssl_context
from viewer.core.errors import PeerError
from viewer.core.settings import NetworkSettings
from viewer.net import explain, explain_dimse
from viewer.net.echo import echo
from viewer.net.nodes import NodeRecord

W = explain.Where(peer_aet="PACS", host="pacs.example.org", port=104, our_aet="LIGHTBOX",
                  our_host="10.0.0.5", our_port=11113)


def test_move_destination_unknown_says_what_to_register() -> None:
    text = explain_dimse.retrieve_status(W, "move", 0xA801, 0, 0)
    assert text == ("the PACS does not know AE LIGHTBOX: register AE LIGHTBOX, host 10.0.0.5, "
                    "port 11113 on the PACS, or use C-GET")


def test_out_of_resources_over_get_suggests_move() -> None:
    text = explain_dimse.retrieve_status(W, "get", 0xA702, 0, 12)
    assert "0xA702" in text and "--method move" in text


@pytest.mark.parametrize("method", ["get", "move"])
def test_a_pacs_that_sent_some_and_failed_others_is_not_told_to_switch_method(
        method: str) -> None:
    # dcmqrscp with one of its files gone: 4 sent, 1 failed, 0xA702. The texts blamed
    # C-GET's storage classes, or the firewall "if no instance arrived".
    text = explain_dimse.retrieve_status(W, method, 0xA702, 4, 1)
    assert text == ("the PACS sent 4 instances and failed 1 instance (unable to perform the "
                    "sub-operations, status 0xA702): its log says why for each, such as a "
                    "file it cannot read or convert; retrieve again to retry them")


def test_out_of_resources_over_move_points_at_our_address() -> None:
    text = explain_dimse.retrieve_status(W, "move", 0xA700, 0, 0)
    assert "0xA700" in text and "10.0.0.5:11113" in text


def test_all_failed_over_move_points_at_the_registered_address() -> None:
    text = explain_dimse.retrieve_status(W, "move", 0xB000, 0, 7)
    assert text.startswith("all 7 instances failed") and "10.0.0.5:11113" in text


def test_nothing_found() -> None:
    assert "found nothing" in explain_dimse.retrieve_status(W, "get", 0x0000, 0, 0)


def test_partial_failure_counts() -> None:
    text = explain_dimse.retrieve_status(W, "get", 0xB000, 10, 2)
    assert text.startswith("2 instances failed, 10 arrived")


def test_cancel() -> None:
    assert explain_dimse.retrieve_status(W, "get", 0xFE00, 4, 0).startswith("cancelled after 4")


def test_unable_to_process() -> None:
    assert "0xC001" in explain_dimse.retrieve_status(W, "get", 0xC001, 0, 0)


def test_rejection_of_calling_ae_gives_the_command_with_the_node() -> None:
    text = explain.rejection(W, 1, 1, 3, node="pacs")
    assert text == (
        "the PACS rejected the association permanently: calling AE title not recognised. "
        "Register AE LIGHTBOX (host 10.0.0.5) on the PACS, or set the calling AE title this "
        "PACS knows: lightbox node edit pacs --calling-aet AE")


def test_rejection_of_called_ae() -> None:
    text = explain.rejection(W, 1, 1, 7, node="pacs")
    assert "called AE title not recognised" in text and "not called PACS" in text


def test_rejection_for_congestion_is_transient() -> None:
    assert "busy" in explain.rejection(W, 2, 3, 1, node="pacs")


def test_rejection_with_unknown_reason_names_both_titles() -> None:
    text = explain.rejection(W, 1, 1, 1, node="pacs")
    assert "LIGHTBOX" in text and "PACS" in text


def test_connection_refused_and_timeouts() -> None:
    assert "nothing accepts connections on pacs.example.org:104" in explain.connection_refused(W)
    assert "within 3 s" in explain.connect_timeout(W, 3.0)
    assert "did not answer the association request within 2 s" in (
        explain.association_timeout(W, 2.0))
    assert "raise the node's dimse_timeout" in explain_dimse.no_response(W, 30, "C-GET")


def test_dropped_association_mentions_tls_either_way() -> None:
    assert "expect TLS" in explain.association_dropped(W, tls=False)
    assert "TLS certificate" in explain.association_dropped(W, tls=True)


def test_certificate_refused_names_the_ca() -> None:
    text = explain.certificate_refused(W, "self-signed certificate", "/etc/ca.pem")
    assert "self-signed certificate" in text and "/etc/ca.pem" in text


def test_connection_lost_keeps_what_arrived() -> None:
    text = explain_dimse.connection_lost(W, 40, 212)
    assert "after 40 of 212 instances" in text and "only what is missing" in text


def test_unknown_destination_told_in_an_error_comment() -> None:
    text = explain_dimse.retrieve_status(W, "move", 0xC000, 0, 0,
                                         comment="Unknown modality for AET: LIGHTBOX")
    assert text.startswith("the PACS does not know AE LIGHTBOX: register AE LIGHTBOX")
    assert "0xC000: disk full" in explain_dimse.retrieve_status(W, "move", 0xC000, 0, 0,
                                                                comment="disk full")


# --- A TLS node: its C-MOVE comes back to our DICOM TLS port (PS3.15 B.9) ------------

W_TLS = explain.Where(peer_aet="PACS", host="pacs.example.org", port=2762, our_aet="LIGHTBOX",
                      our_host="10.0.0.5", our_port=2762, our_tls=True)


def test_a_tls_node_is_told_to_register_our_tls_port() -> None:
    text = explain_dimse.retrieve_status(W_TLS, "move", 0xA801, 0, 0)
    assert text == ("the PACS does not know AE LIGHTBOX: register AE LIGHTBOX, host 10.0.0.5, "
                    "port 2762 (DICOM TLS) on the PACS, or use C-GET")
    assert "port 2762 (DICOM TLS) on the PACS" in explain_dimse.move_never_connected(W_TLS)
    failed = explain_dimse.retrieve_status(W_TLS, "move", 0xB000, 0, 3)
    assert "10.0.0.5:2762" in failed and "client certificate signed by our tls-ca" in failed


def test_a_tls_node_without_our_tls_settings_says_what_to_set() -> None:
    text = explain_dimse.move_needs_tls(W_TLS)
    assert "lightbox config set tls-cert F tls-key F tls-ca F" in text
    assert "port 2762 (DICOM TLS)" in text and text.endswith("which needs none of this")


def test_where_names_the_tls_port_for_a_tls_node() -> None:
    from viewer.core.settings import NetworkSettings
    from viewer.net.connection import where
    from viewer.net.nodes import NodeRecord

    local = NetworkSettings(bind_address="10.0.0.5", port=11113, tls_port=2763)
    plain = NodeRecord("p", "PACS", "pacs.example.org", 104)
    secure = NodeRecord("s", "PACS", "pacs.example.org", 2762, tls_ca="/ca.pem")
    assert (where(plain, local).our_port, where(plain, local).our_tls) == (11113, False)
    assert (where(secure, local).our_port, where(secure, local).our_tls) == (2763, True)


def test_a_refused_pacs_certificate_names_our_ca() -> None:
    text = explain_dimse.client_certificate_refused(W_TLS, "certificate verify failed", "/ca.pem")
    assert text.startswith("the PACS connected to our DICOM TLS port 2762, but its "
                           "certificate was refused (certificate verify failed)")
    assert "signed by the CA in /ca.pem (our tls-ca)" in text


def test_nothing_to_retrieve_says_what_to_check() -> None:
    assert explain_dimse.nothing_to_retrieve("study 1.2.3") == (
        "the PACS has nothing for study 1.2.3: check the UIDs with lightbox query")
    assert "check the UIDs and --patient-id" in explain_dimse.nothing_to_retrieve("study 1.2.3",
                                                                                  True)


def test_a_move_port_held_by_another_retrieve() -> None:
    text = explain_dimse.move_port_busy(11113, 120)
    assert text.startswith("another Lightbox retrieve of this home is using port 11113 for "
                           "C-MOVE")
    assert text.endswith("retry when it ends, or use --method get")


def test_cancel_after_one_instance() -> None:
    assert explain_dimse.retrieve_status(W, "get", 0xFE00, 1, 0).startswith(
        "cancelled after 1 instance;")


def test_a_tls_node_calling_back_to_the_plain_port_is_told_the_tls_port() -> None:
    text = explain_dimse.move_callback_refused(W_TLS, "pacs", "PACS", "10.0.0.5", "LIGHTBOX", "tls")
    assert text.startswith("the PACS connected back to our plain DICOM port, but node pacs "
                           "uses DICOM TLS, so it was refused: register AE LIGHTBOX")
    assert "(DICOM TLS) on the PACS" in text


def test_a_move_that_reached_us_but_sent_nothing_does_not_blame_the_network() -> None:
    text = explain_dimse.move_sent_nothing(W, 0xA702, 12)
    assert text == (
        "the PACS reached Lightbox's storage SCP (AE LIGHTBOX at 10.0.0.5:11113) but could "
        "not send the instances (12 instances failed, status 0xA702): check which SOP "
        "classes and transfer syntaxes its storage SCU proposes (lightbox conformance lists "
        "those Lightbox accepts), or use C-GET (--method get)")
    assert "(status 0xA700: busy)" in explain_dimse.move_sent_nothing(W, 0xA700, 0, "busy")


@pytest.mark.peer
def test_a_plain_node_at_a_tls_port_names_the_peer_in_the_log(
        tls: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    # A TLS port closes the connection on a plain A-ASSOCIATE-RQ (PS3.8 9.2, Sta5): the
    # socket has lost the peer's address by then, the log line must not.
    caplog.set_level(logging.INFO, logger="viewer.net")
    peer = PynetdicomPeer(aet="TLSQR",
                          ssl_context=server_ssl_context(tls["server"], tls["server-key"]))
    try:
        node = NodeRecord("tlsplain", "TLSQR", "127.0.0.1", peer.port, acse_timeout=5.0)
        with pytest.raises(PeerError, match="it may expect TLS"):
            echo(node, NetworkSettings(ae_title="LIGHTBOX", bind_address="127.0.0.1"))
    finally:
        peer.stop()
    # At INFO: the PeerError's explanation is what the user reads (-v shows this too).
    dropped = [r.getMessage() for r in caplog.records
               if "without releasing the association" in r.getMessage()
               and r.levelno == logging.INFO]
    assert dropped == [
        f"association with AE TLSQR at 127.0.0.1:{peer.port}: the peer closed the connection "
        "without releasing the association (PS3.8 9.2, Sta5)"]


@pytest.mark.parametrize(("reason", "verify", "says"), [
    ("TLSV1_ALERT_UNKNOWN_CA", None, "it refused our server certificate (it does not trust"),
    ("CERTIFICATE_VERIFY_FAILED", "certificate has expired",
     "its client certificate was refused (certificate has expired)"),
    ("WRONG_VERSION_NUMBER", None, "it did not speak TLS"),
    ("NO_SHARED_CIPHER", None, "no BCP 195 cipher suite in common"),
    ("SOMETHING_NEW", None, "SOMETHING_NEW"),
])
def test_a_failed_incoming_tls_handshake_says_which_side_refused(
        reason: str, verify: str | None, says: str) -> None:
    # The storage SCP's log said "refused a DICOM TLS connection" when the peer had
    # refused our certificate (it sent the UNKNOWN_CA alert).
    assert explain.incoming_tls_failure(reason, verify).startswith(says)

