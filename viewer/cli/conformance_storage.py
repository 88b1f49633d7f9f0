"""The Storage SCP AE of the Conformance Statement (PS3.2 A.4.2.2), and the chapter's
network interfaces and configuration (PS3.2 A.4.3, A.4.4).

The values are those of :mod:`viewer.net.policy`, :mod:`viewer.net.scp` and
:mod:`viewer.net.receiver`, gathered by :mod:`viewer.cli.conformance_facts`; the prose
describes what those modules do.
"""

from __future__ import annotations

from viewer.cli.conformance_ae import (
    QR_AE,
    STORAGE_AE,
    association_policies,
    context_table,
    mib,
    sop_table,
)
from viewer.cli.conformance_facts import Facts
from viewer.cli.conformance_text import Section, seconds, syntax_rows, table
from viewer.net import accept_loop, fastpath, receiver


def storage_ae(f: Facts) -> list[Section]:
    """PS3.2 A.4.2.2: the Storage SCP AE."""
    n = f.network
    sops = [(n.verification, False, n.scp_accepts_verification)]
    sops += [(r, False, True) for r in n.scp_storage_classes]
    accepted = [(n.verification, n.query_syntaxes, "SCP", "None")]
    accepted += [(r, n.storage_syntaxes, "SCP", "None") for r in n.scp_storage_classes[:1]]
    ts_table = table(("Transfer Syntax Name", "UID"), syntax_rows(n.storage_syntaxes))
    return [
        Section("3.2.2", STORAGE_AE, ""),
        Section(
            "3.2.2.1",
            "SOP Classes",
            f"The {STORAGE_AE} provides Standard Conformance to the following SOP Classes."
            "\n\n" + sop_table(sops),
        ),
        Section("3.2.2.2", "Association Policies", association_policies(f, acceptor=True)),
        Section(
            "3.2.2.3",
            "Association Initiation Policy",
            f"The {STORAGE_AE} initiates no associations.",
        ),
        Section(
            "3.2.2.4",
            "Association Acceptance Policy",
            "An association is accepted only when its calling AE title is one of a "
            "configured node's (its AE title, or the AE title it sends from when that is "
            "set) and it comes from that node's host address. Otherwise it is "
            "rejected: Result 1 (rejected-permanent), Source 1 (DICOM UL service-user), "
            "Reason 3 (calling AE title not recognised). The called AE title must be "
            "Lightbox's AE title, or the calling AE title a node uses towards its PACS; "
            "otherwise the association is rejected with Result 1, Source 1, Reason 7 "
            "(called AE title not recognised). C-STORE requests from an association that "
            "passed this check are "
            f"answered 0x{receiver.STORE_NOT_AUTHORIZED:04X} (not authorized) if the check no "
            "longer holds.\n\n"
            "**Accepted Presentation Contexts.** Verification with the transfer syntaxes "
            "below, and every Storage SOP Class of 3.2.2.1 with each of the storage transfer "
            "syntaxes; the table shows the first storage class, the others are accepted "
            "identically. From a configured node, any other abstract syntax that is a "
            "private UID (such as Siemens CSA Non-Image, 1.3.12.2.1107.5.9.1) or names no "
            "other DICOM service is accepted as a Storage SOP Class too, with the same "
            "transfer syntaxes (with one object's context refused, a PACS fails a whole C-MOVE). "
            "The SCP role only; SCP/SCU Role Selection is not needed.\n\n"
            "**Transfer Syntax Selection Policy.** Of the transfer syntaxes a context "
            "proposes, the first in the order of the table below is accepted: uncompressed "
            "first, which every sender can send (PS3.5 10.1), as dcmtk's storescp does; a "
            "sender that proposes a compressed syntax beside them may be unable to "
            "compress (dcmtk's dcmqrscp proposes RLE for every file and fails each "
            "uncompressed one sent on RLE). For the second C-MOVE of a Lightbox retrieve "
            "(what a first one failed to bring: a sender that sends every instance of a "
            "SOP class on the first context accepted for it, and cannot decompress a "
            "file, cannot send a series that mixes encodings on one syntax), the lossless "
            "compressed transfer syntaxes come first, on the SCP started for that C-MOVE "
            "or, on the always-on SCP, for that PACS's associations only.\n\n"
            + context_table(accepted)
            + "\n\nStorage transfer syntaxes (every Storage SOP Class):\n\n"
            + ts_table
            + "\n\nThe video transfer syntaxes (MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265) are "
            "accepted so that a study arrives whole, since a sender has no other form of "
            "a video to send: such instances are stored and listed, but not displayed "
            "(4.2.2)."
            + "\n\n**SOP Specific Conformance for the Storage SOP Classes.** Level of "
            "Support: 2 (Full): the received data set is stored byte for byte as it came "
            "over the network, with a File Meta Information header (Lightbox's "
            "implementation identity, the transfer syntax of the presentation context, the "
            "calling AE title as Source Application Entity Title); nothing is coerced and "
            "private attributes are kept. Digital signatures are kept but not verified. An "
            "instance whose SOP Instance UID is already stored is not stored twice: with the "
            "same content it counts as already present (the data sets are compared after "
            "their File Meta Information, and decoded when the transfer syntaxes differ, so "
            "the same instance sent again compressed is the same); with different content "
            "the stored file is kept, and the received one is set aside "
            "in the incoming folder, named in the log with the reason and counted by "
            "`lightbox listen` as not imported. The C-STORE response is sent before the "
            "store has compared, so such an instance, and one the store refuses for another "
            "reason (no Study or Series Instance UID, a study already stored for another "
            "Patient ID), is answered with Success all the same: a sender that deletes "
            "what it sent should keep an archive copy (see Storage Commitment below). "
            "Objects are kept until the user deletes them. Success is returned once the "
            "data set has been written to the incoming folder (the operating system's "
            "cache) and the file marked complete; should Lightbox end before storing it, "
            "the next Lightbox process to receive into that folder stores it. The store "
            "flushes each file to disk, renames it into place, flushes the "
            "name and records it, in batches of what arrived within "
            f"{receiver.BATCH_WAIT * 1000:.0f} ms (at most {receiver.BATCH_FILES} "
            "instances). `lightbox listen` and the always-on Storage SCP AE flush the "
            "database record too before the next batch; for the C-MOVE sub-operations of "
            "Lightbox's own retrieves it reaches the disk with the database's next "
            "checkpoint (a retrieve after a power cut fetches what was not recorded). "
            "Storage Commitment (PS3.4 J) is not supported: a sender that deletes its copy "
            "once a transfer succeeded should keep it in an archive. Status codes returned: "
            f"0x{receiver.STORE_SUCCESS:04X} (success), "
            f"0x{receiver.STORE_OUT_OF_RESOURCES:04X} (out of resources: the file could not be "
            f"written), 0x{receiver.STORE_CANNOT_UNDERSTAND:04X} (cannot understand: no data set), "
            f"0x{receiver.STORE_DATA_SET_MISMATCH:04X} (data set does not match SOP class: its "
            "SOP Class or SOP Instance UID is not the one the request names; nothing is "
            f"stored), 0x{receiver.STORE_NOT_AUTHORIZED:04X} (not authorized). The Move Originator "
            "Message ID links received instances to the C-MOVE that caused them.\n\n"
            "**SOP Specific Conformance for the Verification SOP Class.** C-ECHO is "
            "answered with Success (0x0000).",
        ),
    ]


def interfaces_and_configuration(f: Facts) -> list[Section]:
    """PS3.2 A.4.3 and A.4.4."""
    n = f.network
    p = n.policy
    params = [
        ("TCP connection timeout", seconds(p.connect_timeout), "per node (`nodes.toml`)"),
        ("ACSE timeout (association request/release)", seconds(p.acse_timeout),
         "per node (`nodes.toml`)"),
        ("DIMSE timeout (wait for each DIMSE message)", seconds(p.dimse_timeout),
         "per node (`lightbox node edit NAME --timeout S`)"),
        ("ARTIM timeout (Storage SCP: from a connection's acceptance to its whole "
         "A-ASSOCIATE-RQ, TLS handshake included)", seconds(p.artim_timeout), "no"),
        ("Network timeout (an idle association; no further byte once a PDU has begun)",
         seconds(p.network_timeout), "no"),
        ("Grace after C-CANCEL before A-ABORT", seconds(p.cancel_grace), "no"),
        ("Maximum PDU size received", f"{n.settings_max_pdu} bytes", "yes (`max-pdu`)"),
        ("Longest PDU read before the association is aborted",
         f"the maximum PDU size received, at least {mib(fastpath.CONTROL_PDU_LIMIT)} "
         f"(P-DATA-TF); {mib(fastpath.CONTROL_PDU_LIMIT)} (other PDUs)", "no"),
        ("Maximum simultaneous associations accepted", str(p.max_associations), "no"),
        ("Maximum connections awaiting their A-ASSOCIATE-RQ", str(p.max_pending_connections),
         "no"),
        ("... of them from addresses of no configured node", str(accept_loop.PENDING_STRANGERS),
         "no"),
        ("... of them from one address, once more than half are taken",
         str(accept_loop.PENDING_PER_ADDRESS), "no"),
        ("Presentation contexts per association", f"at most {n.max_contexts}", "no"),
        ("Storage SCP listens", f"on {n.default_bind_address}:{n.default_port}",
         "yes (`bind-address`, `port`)"),
        ("Storage SCP listens with DICOM TLS",
         f"on {n.default_bind_address}:{n.default_tls_port} once `tls-cert`, `tls-key` and "
         "`tls-ca` are set", "yes (`tls-port`; 0 turns it off)"),
        ("Storage SCP runs", "only while a C-MOVE needs it, or during `lightbox listen`",
         "yes (`always-listen`: from start-up to quit)"),
    ]
    return [
        Section(
            "3.3",
            "Network Interfaces",
            "Lightbox uses the TCP/IP stack of the operating system over whatever physical "
            "interface it provides (PS3.8 chapter 9). IPv4 and IPv6 are both supported "
            "(node hosts may be names, IPv4 or bracketed IPv6 addresses). Host names are "
            "resolved with the system resolver (DNS); no other protocol is used. DICOM over "
            "TLS is described in chapter 6.",
        ),
        Section("3.4", "Configuration", ""),
        Section(
            "3.4.1",
            "AE Title/Presentation Address Mapping",
            "**Local AE Titles.**\n\n"
            + table(
                ("Application Entity", "Default AE Title", "Default TCP/IP Port"),
                [(QR_AE, n.default_ae_title, "(ephemeral)"),
                 (STORAGE_AE, n.default_ae_title, str(n.default_port)),
                 (f"{STORAGE_AE} (DICOM TLS)", n.default_ae_title, str(n.default_tls_port))],
            )
            + "\n\nSet with `lightbox config set ae-title NAME` and `lightbox config set "
            "port N` (stored in `settings.toml` in the Lightbox home folder); the TLS port "
            "with `lightbox config set tls-port N tls-cert F tls-key F tls-ca F`. A port "
            "below 1024 needs administrator rights.\n\n"
            "**Remote AE Titles.** Each PACS is a node: a name, its AE title, host and port, "
            "an optional calling AE title to use towards it, the AE title it sends from "
            "when that is not its own (many PACS store with another), the retrieve method (`get`, "
            "`move`, `auto`), timeouts and TLS files (`lightbox node add`; stored in "
            "`nodes.toml`). The PACS must know Lightbox's AE title, host and port for C-MOVE "
            "(the TLS port for a node that uses TLS). Every system that sends to the "
            "Storage SCP AE (a PACS's C-MOVE, a modality pushing images) must be a node "
            "whose host is the address it connects from and whose AE title (or sending AE "
            "title) is the one it calls with: an association from a known AE title at "
            "another address is rejected as a calling AE title not recognised, and the log "
            "names the node and the address it was expected from.",
        ),
        Section(
            "3.4.2",
            "Parameters",
            table(("Parameter", "Default value", "Configurable"), params),
        ),
    ]
