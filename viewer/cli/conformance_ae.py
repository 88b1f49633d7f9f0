"""What both AEs of the Conformance Statement's networking chapter share (PS3.2 A.4.2).

Their names, the SOP class and presentation context tables in PS3.2's layout, and the
association policies (PS3.2 A.4.2.x.2), which differ only by the side that accepts.
"""

from __future__ import annotations

from viewer.cli.conformance_facts import Facts, UidRow
from viewer.cli.conformance_text import table
from viewer.net import accept_loop, fastpath

QR_AE = "Query/Retrieve SCU AE"
STORAGE_AE = "Storage SCP AE"


def sop_table(rows: list[tuple[UidRow, bool, bool]]) -> str:
    """SOP class table in PS3.2's layout: name, UID and the roles taken."""
    return table(
        ("SOP Class Name", "SOP Class UID", "SCU", "SCP"),
        [(r.name, r.uid, "Yes" if scu else "No", "Yes" if scp else "No") for r, scu, scp in rows],
    )


def context_table(rows: list[tuple[UidRow, tuple[UidRow, ...], str, str]]) -> str:
    """Presentation context table in PS3.2's layout: one line per transfer syntax."""
    out = []
    for abstract, syntaxes, role, ext_neg in rows:
        for i, ts in enumerate(syntaxes):
            first = i == 0
            out.append(
                (
                    abstract.name if first else "",
                    abstract.uid if first else "",
                    ts.name,
                    ts.uid,
                    role if first else "",
                    ext_neg if first else "",
                )
            )
    return table(
        ("Abstract Syntax Name", "UID", "Transfer Syntax Name", "UID", "Role",
         "Extended Negotiation"),
        out,
    )


def mib(size: int) -> str:
    """A size in whole MiB, as the statement gives PDU limits."""
    return f"{size // (1024 * 1024)} MiB"


def association_policies(f: Facts, acceptor: bool) -> str:
    n = f.network
    p = n.policy
    general = (
        "The DICOM Application Context Name `1.2.840.10008.3.1.1.1` is the only one "
        f"proposed or accepted. The maximum PDU length announced is {n.settings_max_pdu} bytes "
        "(setting `max-pdu`; 0 means unlimited); PDUs sent are limited to what the peer "
        "announces. A P-DATA-TF PDU longer than the maximum announced (tolerated up to "
        f"{mib(fastpath.CONTROL_PDU_LIMIT)} for peers that overrun a smaller one), or any "
        f"other PDU longer than {mib(fastpath.CONTROL_PDU_LIMIT)}, is not read: the "
        "association is aborted (A-ABORT, PS3.8 9.3.8) and the connection closed. Once a "
        "PDU has begun to arrive, no further byte for the network timeout closes the "
        "connection too."
    )
    if acceptor:
        general += (
            " A new connection to the "
            f"{STORAGE_AE} must deliver its whole A-ASSOCIATE-RQ (after the TLS handshake, "
            f"on the DICOM TLS port) within the ARTIM timeout, {p.artim_timeout:g} s from "
            "the connection's acceptance (PS3.8 9.1.5), however steadily it sends; "
            "otherwise the connection is closed. An A-ASSOCIATE-RQ that proposes more than "
            f"{n.max_contexts} presentation contexts, or presentation context IDs that are "
            "not distinct odd integers from 1 to 255 (PS3.8 9.3.2.2), is rejected: Result 1 "
            "(rejected-permanent), Source 2 (DICOM UL service-provider, ACSE related "
            "function), Reason 1 (no reason given)."
        )
    number = (
        f"The {STORAGE_AE} accepts at most {p.max_associations} simultaneous associations; "
        "one beyond them is rejected with Result 2 (rejected-transient), Source 3 (DICOM "
        "UL service-provider, presentation related function), Reason 2 (local limit "
        "exceeded). "
        "Connections that have not yet delivered their A-ASSOCIATE-RQ do not count against "
        f"this limit; at most {p.max_pending_connections} of them are held at once. Of "
        "those places, connections from addresses of no configured node take at most "
        f"{accept_loop.PENDING_STRANGERS}, and once more than half are taken one address "
        f"gets at most {accept_loop.PENDING_PER_ADDRESS}. A new connection beyond one of "
        "these bounds takes the place of the oldest connection still awaiting its "
        "A-ASSOCIATE-RQ that it competes with (of its own address when that address holds "
        "its share; past the strangers' places, of the stranger address holding most of "
        "them; otherwise of the address holding most places), which is closed when the new "
        "one is accepted, before the new one's TLS handshake; a connection whose "
        "A-ASSOCIATE-RQ has been read is never closed for another."
        if acceptor
        else "One association per user operation; several operations (for example a search "
        "while a retrieve runs) may run at the same time, each on its own association."
    )
    ident = table(
        ("Implementation Class UID", "Implementation Version Name"),
        [(f.implementation_class_uid, f.implementation_version_name)],
    )
    return "\n\n".join(
        [
            "**General.** " + general,
            "**Number of Associations.** " + number,
            "**Asynchronous Nature.** Asynchronous operations are not negotiated: at most "
            "one outstanding operation per association.",
            "**Implementation Identifying Information.** Sent in every A-ASSOCIATE-RQ and "
            "A-ASSOCIATE-AC (PS3.7 D.3.3.2) and written as (0002,0012) and (0002,0013) in "
            "every file Lightbox writes. The UID is a UUID-derived UID under the `2.25` root "
            "(PS3.5 B.2), fixed for the project; the version name changes with each release "
            "that changes DICOM behaviour.\n\n" + ident,
        ]
    )
