"""What a query or retrieve that did not fully succeed means, in words that say what to check.

Once the association is up (:mod:`viewer.net.explain` covers getting there): the final
DIMSE status of a C-FIND, C-GET or C-MOVE (PS3.4 C.4), a C-MOVE whose PACS never connects
back to our storage SCP, is refused there or sends nothing once connected, and a transfer
cut short by silence, a lost connection or a full disk. The functions take plain values,
so each case is tested without a network.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.uid import UID

from viewer.net.explain import Where
from viewer.net.nodes import format_address


def no_final_response(w: Where, operation: str, arrived: int, seconds: float | None) -> str:
    """Every expected instance arrived, but the final C-GET/C-MOVE response never did.

    PS3.4 C.4.2.3 / C.4.3.3: the final response follows the last sub-operation; a PACS
    that stops answering (``seconds`` is the DIMSE timeout) or drops the association
    (``seconds`` None) before sending it failed, but nothing is missing.
    """
    how = (f"no answer for {seconds:g} s" if seconds is not None
           else f"the connection to {w.peer} was lost")
    what = "the one instance" if arrived == 1 else f"all {arrived} instances"
    return (
        f"{what} arrived, but the PACS never sent the final {operation} response ({how}): "
        "nothing is missing, but the PACS did not finish the request"
    )


def no_response(w: Where, seconds: float, operation: str) -> str:
    """A DIMSE response did not come within the DIMSE timeout."""
    return (
        f"the PACS stopped answering the {operation} for {seconds:g} s; what arrived is "
        "kept: retrieve again to fetch the rest, or raise the node's dimse_timeout"
    )


def connection_lost(w: Where, received: int, expected: int | None) -> str:
    """The association ended without a final response (peer died, network dropped)."""
    of = f" of {expected}" if expected else ""
    return (
        f"the connection to {w.peer} was lost after {received}{of} instances; what "
        "arrived is kept: run the same retrieve again to fetch only what is missing"
    )


def request_aborted(w: Where, method: str) -> str:
    """The PACS ended the association as soon as it had our C-GET or C-MOVE request,
    before any response or instance (PS3.8 7.3: an A-ABORT, or a closed connection).

    Orthanc does so for a C-GET it does not allow the calling AE title, and for any
    retrieve from an AE title it does not know: "the connection was lost, run it
    again" sent the user round the same failure.
    """
    if method == "get":
        return (
            f"the PACS ended the association as soon as it received the C-GET request: it "
            f"may not allow C-GET for AE {w.our_aet}, or not know that AE title. Check the "
            "PACS's settings for this AE title, or use --method move"
        )
    return (
        f"the PACS ended the association as soon as it received the C-MOVE request: it "
        f"may not know AE {w.our_aet} or not allow it C-MOVE. Register AE {w.our_aet}, "
        f"host {w.our_host}, {w.our_port_text} on the PACS, or use C-GET"
    )


def query_truncated(count: int) -> str:
    """The PACS ended a C-FIND with Cancel (0xFE00) that we did not ask for.

    PS3.4 C.4.1.1.4: Cancel is the answer to a C-CANCEL only; a PACS that caps its
    results (Orthanc's ``LimitFindResults``) ends that way, so the matches that
    arrived are not all there are.
    """
    results = "1 result" if count == 1 else f"{count} results"
    return (
        f"the PACS stopped after {results} (it may limit query results): the list is "
        "incomplete; narrow the query"
    )


def query_failed(code: int, comment: str, count: int) -> str:
    """A C-FIND ended with a failure status (PS3.4 C.4.1.1.4), after ``count`` matches.

    Out of Resources (0xA700) is how some PACS refuse a query with more matches than
    they will send: narrowing it helps, where checking its keys does not.
    """
    said = f"status 0x{code:04X}" + (f": {comment}" if comment else "")
    if code == 0xA700:
        cause = (f"the PACS ran out of resources ({said}); it may limit how many matches a "
                 "query may have: narrow the query (a date range, a patient ID, a modality)")
    elif code == 0xA900:
        cause = (f"the PACS found the query's keys do not match its model ({said}); "
                 "check the keys of this query level")
    elif code & 0xF000 == 0xC000:
        cause = f"the PACS could not process the query ({said})"
    else:
        cause = f"the PACS refused the query ({said}); check the keys of this query level"
    if not count:
        return cause
    results = "1 result" if count == 1 else f"{count} results"
    return f"{cause}; it stopped after {results}: the list is incomplete"


def move_never_connected(w: Where) -> str:
    """A C-MOVE failed and the PACS never opened an association to our storage SCP."""
    return (
        f"the PACS never connected back to AE {w.our_aet}: it does not know AE {w.our_aet} "
        f"or has another address for it. Register AE {w.our_aet}, host {w.our_host}, "
        f"{w.our_port_text} on the PACS (and let that port through the firewall), or use C-GET"
    )


def move_contexts_refused(w: Where, completed: int,
                          refused: Sequence[tuple[str, str, tuple[str, ...], int]]) -> str:
    """The PACS connected back for a C-MOVE, some instances failed, and it had proposed
    presentation contexts our storage SCP does not accept (PS3.8 9.3.3.2)."""
    parts = []
    for _calling, sop_class, syntaxes, result in refused[:3]:
        name = UID(sop_class).name
        if result == 4:  # transfer syntaxes not supported
            encodings = ", ".join(UID(t).name for t in syntaxes) or "no transfer syntax"
            parts.append(f"{name} in {encodings}")
        else:
            parts.append(f"{name} (not a storage SOP class Lightbox takes)")
    more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
    return (
        f"the PACS connected back to AE {w.our_aet} but could not send some instances "
        f"({_instances(completed)} arrived): it offered {'; '.join(parts)}{more}, which "
        "Lightbox does not accept, and did not send them otherwise. Have the PACS convert "
        "them to a transfer syntax Lightbox accepts (the conformance statement lists them)"
    )


def move_sent_nothing(w: Where, status: int, failed: int, comment: str = "") -> str:
    """A C-MOVE failed with no instance sent, though the PACS reached our storage SCP.

    PS3.4 C.4.2.3: each instance goes in a C-STORE sub-operation on the association the
    PACS opens to the Move Destination. That association was set up, so neither the
    address the PACS has for us nor a firewall is at fault: its storage SCU had no
    accepted presentation context for the instances (a SOP class or transfer syntax it
    did not propose, and it does not convert, PS3.8 9.3.3.2), or it failed otherwise.

    Parameters
    ----------
    w : Where
        Who talks to whom.
    status : int
        The final C-MOVE response's Status (PS3.4 C.4.2.1.5).
    failed : int
        Its Number of Failed Sub-operations.
    comment : str
        Its Error Comment (0000,0902), if any.
    """
    said = f"status 0x{status:04X}" + (f": {comment}" if comment else "")
    counted = f"{_instances(failed)} failed, " if failed else ""
    return (
        f"the PACS reached Lightbox's storage SCP (AE {w.our_aet} at {w.ours}) "
        f"but could not send the instances ({counted}{said}): check which "
        "SOP classes and transfer syntaxes its storage SCU proposes (lightbox conformance "
        "lists those Lightbox accepts), or use C-GET (--method get)"
    )


def move_callback_refused(w: Where, node: str, calling: str, address: str, called: str,
                          reason: str) -> str:
    """The PACS connected back for a C-MOVE and our storage SCP refused it (PS3.8 9.3.4).

    Parameters
    ----------
    w : Where
        Who talks to whom.
    node : str
        The node's name, for the command that fixes it.
    calling, address, called : str
        The refused association's calling AE title, IP address and called AE title.
    reason : str
        ``"node"`` (AE title or address not the node's), ``"called"`` (not our AE title)
        or ``"tls"`` (a node that uses DICOM TLS called our plain port, PS3.15 B.9).
    """
    if reason == "tls":
        return (
            f"the PACS connected back to our plain DICOM port, but node {node} uses DICOM "
            f"TLS, so it was refused: register AE {w.our_aet}, host {w.our_host}, "
            f"{w.our_port_text} on the PACS"
        )
    if reason == "called":
        return (
            f"the PACS connected back to AE {called}, not AE {w.our_aet}, and was refused: "
            f"register AE {w.our_aet}, host {w.our_host}, {w.our_port_text} on the PACS"
        )
    if calling != w.peer_aet:
        return (
            f"the PACS connected back as AE {calling} from {address}, but node {node} is AE "
            f"{w.peer_aet}, so it was refused: if the PACS sends as {calling}, give the "
            f"node that sending AE title (Edit... in the Query/Retrieve tab, or lightbox "
            f"node edit {node} --sending-aet {calling})"
        )
    return (
        f"the PACS connected back from {address}, but node {node} is at {w.host}, so it was "
        f"refused: give the node the address the PACS sends from (Edit... in the "
        f"Query/Retrieve tab, or lightbox node edit {node} --address "
        f"{format_address(w.peer_aet, address, w.port)}), if that is the PACS"
    )


def store_full(where: str) -> str:
    """The disk that received images are written to filled up: the retrieve stopped."""
    return (
        f"the disk of {where} is full, so the retrieve stopped: what was stored is kept. "
        "Free space, then retrieve again to fetch the rest"
    )


def nothing_to_retrieve(what: str, patient_root: bool = False) -> str:
    """The PACS has no match for a retrieve's unique keys.

    A C-FIND at the retrieve's level with the same keys (PS3.4 C.4.1.3.1, C.6.1.2 /
    C.6.2.2) found nothing, so a C-GET or C-MOVE failing with no sub-operations says
    nothing about our AE title or address.

    Parameters
    ----------
    what : str
        The request in words (:meth:`viewer.net.plan.RetrieveRequest.describe`).
    patient_root : bool
        The request used the Patient Root model, whose Patient ID must match too.
    """
    keys = "the UIDs and --patient-id" if patient_root else "the UIDs"
    return f"the PACS has nothing for {what}: check {keys} with lightbox query"


def listener_has_old_title(listening_as: str, configured: str, pid: int) -> str:
    """The home's running storage SCP answers as the AE title it started with, and the
    PACS will call the one set since (PS3.8 9.3.2: a called AE title it does not
    answer to is refused), so our own listener would turn the C-MOVE away."""
    return (
        f"the storage SCP of this home (process {pid}) still answers as AE {listening_as}, "
        f"not as {configured}, the AE title set since it started, so it would refuse the "
        f"PACS: restart lightbox listen (or the application) to take the new title, or use "
        "--method get"
    )


def move_port_busy(port: int, seconds: float) -> str:
    """Another retrieve of the same Lightbox home holds our C-MOVE port (PS3.4 C.4.2)."""
    return (
        f"another Lightbox retrieve of this home is using port {port} for C-MOVE (waited "
        f"{seconds:g} s); retry when it ends, or use --method get"
    )


def client_certificate_refused(w: Where, detail: str, ca: str) -> str:
    """The PACS connected to our TLS port, but its client certificate failed (PS3.15 B.9)."""
    return (
        f"the PACS connected to our DICOM TLS port {w.our_port}, but its certificate was "
        f"refused ({detail}): it must present a client certificate signed by the CA in {ca} "
        "(our tls-ca), or set tls-ca to the CA that signs it"
    )


def move_needs_tls(w: Where) -> str:
    """A C-MOVE from a TLS node, but our storage SCP has no TLS settings (PS3.15 B.9)."""
    return (
        f"this node uses DICOM TLS, so its C-MOVE must come back to our storage SCP over "
        f"TLS, which is not configured: lightbox config set tls-cert F tls-key F tls-ca F "
        f"(tls-ca signs the PACS client certificate) and register AE {w.our_aet}, host "
        f"{w.our_host}, {w.our_port_text} on the PACS; or use C-GET (--method get), "
        "which needs none of this"
    )


def retrieve_status(
    w: Where,
    method: str,
    status: int,
    completed: int,
    failed: int,
    warning: int = 0,
    comment: str = "",
) -> str:
    """Explain the final C-GET/C-MOVE status when the retrieve did not fully succeed.

    Parameters
    ----------
    method : str
        ``get`` or ``move``.
    status : int
        The final response's Status (PS3.4 C.4.2.1.5 / C.4.3.1.4).
    completed, failed, warning : int
        The sub-operation counters of the final response.
    comment : str
        The response's Error Comment (0000,0902), if any.
    """
    if status == 0xA801 or (method == "move" and completed == 0 and
                            _names_unknown_destination(comment, w.our_aet)):
        # PS3.4 C.4.2.1.5: Move Destination unknown; some PACS (Orthanc) answer 0xC000
        # with an Error Comment that says so.
        return (
            f"the PACS does not know AE {w.our_aet}: register AE {w.our_aet}, host "
            f"{w.our_host}, {w.our_port_text} on the PACS, or use C-GET"
        )
    if status == 0xFE00:
        return f"cancelled after {_instances(completed)}; what arrived is kept"
    if status == 0xA900:
        return "the PACS says the request does not match its query model (identifier error)"
    if status in (0xA700, 0xA701, 0xA702) or (status >> 12) == 0xA:
        reason = {
            0xA701: "unable to calculate the number of matches",
            0xA702: "unable to perform the sub-operations",
        }.get(status, "out of resources")
        if completed and failed:
            # It could send, so neither the method nor the network is why: a file it
            # cannot read, or cannot convert to a syntax that was accepted.
            return (
                f"the PACS sent {completed} instances and failed {_instances(failed)} "
                f"({reason}, status 0x{status:04X}): its log says why for each, such as "
                "a file it cannot read or convert; retrieve again to retry them"
            )
        if method == "get":
            return (
                f"the PACS refused the C-GET ({reason}, status 0x{status:04X}) after "
                f"{completed} instances: it may not be able to send this study's storage "
                "classes or transfer syntaxes over C-GET; try --method move"
            )
        return (
            f"the PACS could not send the study ({reason}, status 0x{status:04X}) after "
            f"{completed} instances: if no instance arrived, check that the PACS can open a "
            f"connection to AE {w.our_aet} at {w.ours} (firewall, address "
            f"registered on the PACS{', DICOM TLS' if w.our_tls else ''})"
        )
    if (status >> 12) == 0xC:
        said = f": {comment}" if comment else ""
        return f"the PACS failed to process the retrieve (status 0x{status:04X}{said})"
    if completed == 0 and failed == 0 and warning == 0:
        return (
            "the PACS found nothing to send for this request: check the UIDs with "
            "lightbox query"
        )
    if completed == 0 and failed > 0:
        if method == "move":
            return (
                f"all {failed} instances failed: the PACS could not store them into AE "
                f"{w.our_aet} at {w.ours}; check the address registered "
                "for that AE on the PACS and the firewall"
                + (" and that the PACS uses DICOM TLS with a client certificate signed by "
                   "our tls-ca" if w.our_tls else "") + ", or use C-GET"
            )
        return (
            f"all {failed} instances failed: the PACS could not send them over C-GET "
            "(storage classes or transfer syntaxes not accepted); try --method move"
        )
    if failed:
        return f"{failed} instances failed, {completed} arrived; retrieve again to retry them"
    if status == 0xB000:
        return f"the PACS reported warnings for {warning} instances"
    return f"the PACS ended with status 0x{status:04X}"


def _names_unknown_destination(comment: str, aet: str) -> bool:
    text = comment.lower()
    return bool(text) and "unknown" in text and (
        aet.lower() in text or "destination" in text or "modality" in text)


def _instances(count: int) -> str:
    return f"{count} instance" if count == 1 else f"{count} instances"
