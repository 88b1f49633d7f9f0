"""Chapter 3 of the Conformance Statement: networking (PS3.2 A.4), from the net layer's tables.

The values in the tables are those of :mod:`viewer.net.policy`, :mod:`viewer.net.scp`,
:mod:`viewer.net.retrieve` and :mod:`viewer.net.receiver`, gathered by
:mod:`viewer.cli.conformance_facts`; the prose describes what those modules do.
"""

from __future__ import annotations

from viewer.cli.conformance_facts import Facts, NetworkFacts, UidRow
from viewer.cli.conformance_text import Section, seconds, syntax_rows, table
from viewer.net import accept_loop, fastpath, query, receiver, retrieve

QR_AE = "Query/Retrieve SCU AE"
STORAGE_AE = "Storage SCP AE"

DATA_FLOW = """```
 Local real-world activity        Lightbox AE                Remote real-world activity
 ---------------------------      --------------------       --------------------------
 "Check the connection"  ------>                  C-ECHO --> PACS answers C-ECHO
 "Search for studies"    ------>  Query/Retrieve   C-FIND --> PACS searches its archive
 "Retrieve a study"      ------>  SCU AE           C-GET  --> PACS sends the instances back
                          <------ (stores, shows)  <-- C-STORE  over the same association
                                                   C-MOVE --> PACS opens an association to
 "Receive instances"     <------  Storage SCP AE   <-- C-STORE  the Storage SCP AE
 (imported into the local         (listens on          <-- C-ECHO   (remote verification)
  store and shown)                 the storage port)
```"""


def _sop_table(rows: list[tuple[UidRow, bool, bool]]) -> str:
    return table(
        ("SOP Class Name", "SOP Class UID", "SCU", "SCP"),
        [(r.name, r.uid, "Yes" if scu else "No", "Yes" if scp else "No") for r, scu, scp in rows],
    )


def _context_table(rows: list[tuple[UidRow, tuple[UidRow, ...], str, str]]) -> str:
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


def _all_models(n: NetworkFacts) -> list[UidRow]:
    return [row for models in (n.find_models, n.move_models, n.get_models) for _, row in models]


def implementation_model(f: Facts) -> list[Section]:
    """PS3.2 A.4.1: data flow, functional definitions, sequencing."""
    n = f.network
    return [
        Section("3", "Networking", ""),
        Section("3.1", "Implementation Model", ""),
        Section(
            "3.1.1",
            "Application Data Flow",
            DATA_FLOW
            + "\n\nLightbox has two Application Entities that share one AE title "
            f"(default `{n.default_ae_title}`): the {QR_AE}, which initiates every "
            f"association for verification, query and retrieve, and the {STORAGE_AE}, "
            "which accepts associations from the PACS for C-MOVE sub-operations and for "
            "verification.",
        ),
        Section(
            "3.1.2",
            "Functional Definition of AEs",
            f"**{QR_AE}.** Started by the user (the study browser's search and retrieve "
            "commands, or `lightbox echo`, `lightbox query` and `lightbox retrieve`). It "
            "opens one association per operation, runs it on a worker thread so the display "
            "stays responsive, and releases it when the operation ends. Query results are "
            "shown as they arrive. A retrieve of a study or series of which nothing is stored "
            "asks one C-FIND at the request's level for SOP Classes in Study and the "
            "instance count (none for a first C-MOVE of a whole study); when some of it is "
            "stored, or a pass left instances missing, it lists the instances with C-FIND "
            "at SERIES and IMAGE level and skips those already in the local store. It "
            "fetches with C-GET or C-MOVE as configured per node (`get`, "
            "`move`, or `auto`: C-GET first, C-MOVE when the PACS refuses C-GET or sends "
            "nothing over it). Instances received over C-GET are written to the local store "
            "as they arrive.\n\n"
            f"**{STORAGE_AE}.** Listens on the configured port (default "
            f"{n.default_port}) and, when a server certificate is configured, on the DICOM "
            f"TLS port (default {n.default_tls_port}): while a C-MOVE runs, for as long as "
            "`lightbox listen` runs, and from start-up to quit when `always-listen` is set. "
            "For a C-MOVE from a node that uses TLS the PACS must send to the TLS port; a "
            "Storage SCP AE started for that C-MOVE listens with TLS only. "
            "It accepts associations only from configured "
            "nodes, writes each received data set unchanged after a File Meta Information "
            "header to the incoming folder, and hands it to the local store's importer on a "
            "worker thread. When another Lightbox process of the same home folder already "
            "runs it, a C-MOVE is sent to that one (recorded in `listener.json`), which "
            "stores what arrives.",
        ),
        Section(
            "3.1.3",
            "Sequencing of Real-World Activities",
            "A retrieve is preceded by a query (the user picks a study, series or instances "
            "from query results, or names their UIDs). For C-MOVE the Storage SCP AE is "
            "started before the C-MOVE request is sent (unless it already runs) and stays up "
            "until the final C-MOVE response and every announced instance has been received. "
            "Cancelling sends C-CANCEL on the running operation; if the PACS does not end "
            f"it within {n.policy.cancel_grace:g} s the association is aborted.",
        ),
    ]


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"


def _association_policies(f: Facts, acceptor: bool) -> str:
    n = f.network
    p = n.policy
    general = (
        "The DICOM Application Context Name `1.2.840.10008.3.1.1.1` is the only one "
        f"proposed or accepted. The maximum PDU length announced is {n.settings_max_pdu} bytes "
        "(setting `max-pdu`; 0 means unlimited); PDUs sent are limited to what the peer "
        "announces. A P-DATA-TF PDU longer than the maximum announced (tolerated up to "
        f"{_mib(fastpath.CONTROL_PDU_LIMIT)} for peers that overrun a smaller one), or any "
        f"other PDU longer than {_mib(fastpath.CONTROL_PDU_LIMIT)}, is not read: the "
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
        f"The {STORAGE_AE} accepts at most {p.max_associations} simultaneous associations. "
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


def qr_ae(f: Facts) -> list[Section]:
    """PS3.2 A.4.2.1: the Query/Retrieve SCU AE."""
    n = f.network
    sops = [(n.verification, True, False)] + [(r, True, False) for r in _all_models(n)]
    sops += [
        (cls, False, True) for cls, _ in n.get_storage_contexts
    ]
    qs = n.query_syntaxes
    contexts_find = [(r, qs, "SCU", "None") for _, r in n.find_models]
    contexts_move = [(r, qs, "SCU", "None") for _, r in n.move_models]
    contexts_get = [(r, qs, "SCU", "None") for _, r in n.get_models]
    contexts_get += [(cls, ts, "SCP", "SCP/SCU Role Selection (SCP role)")
                     for cls, ts in n.get_storage_contexts]
    key_rows = []
    for level, keys in n.query_keys:
        for k in keys:
            if k.keyword == "SpecificCharacterSet":
                continue
            key_rows.append((level, k.name, k.keyword, k.tag, k.vr, _matching(k.keyword)))
    return [
        Section("3.2", "AE Specifications", ""),
        Section("3.2.1", QR_AE, ""),
        Section(
            "3.2.1.1",
            "SOP Classes",
            f"The {QR_AE} provides Standard Conformance to the following SOP Classes. The "
            "storage classes in the SCP role are those it accepts over a C-GET association "
            "(the classes proposed when the PACS did not list the study's classes; otherwise "
            "exactly the classes the PACS listed).\n\n" + _sop_table(sops),
        ),
        Section("3.2.1.2", "Association Policies", _association_policies(f, acceptor=False)),
        Section("3.2.1.3", "Association Initiation Policy", ""),
        Section(
            "3.2.1.3.1",
            "Activity: Verify Communication",
            "Triggered by the user (`lightbox echo NODE`, or the node settings' test "
            "button). One C-ECHO on a new association, which is then released. Failures "
            "are explained to the user (refused connection, rejected AE title, timeout, TLS "
            "failure).\n\n"
            + _context_table([(n.verification, qs, "SCU", "None")]),
        ),
        Section(
            "3.2.1.3.2",
            "Activity: Query",
            "Triggered by a search in the study browser or `lightbox query`. Levels: "
            "PATIENT (Patient Root only), STUDY, SERIES, IMAGE; queries below STUDY carry "
            "one value for each unique key above the level (hierarchical query, no "
            "relational extended negotiation).\n\n"
            + _context_table(contexts_find)
            + "\n\n"
            + _find_conformance(n, key_rows),
        ),
        Section(
            "3.2.1.3.3",
            "Activity: Retrieve with C-MOVE",
            "The Move Destination is Lightbox's own AE title, which must be configured on "
            "the PACS with Lightbox's host and storage port. The identifier holds the Query/"
            "Retrieve Level and the unique keys (Study, Series, SOP Instance UIDs; Patient "
            "ID in the Patient Root model); when some instances of a request are already "
            "stored, only the missing ones are requested at IMAGE level.\n\n"
            + _context_table(contexts_move)
            + "\n\n"
            + _retrieve_conformance(move=True),
        ),
        Section(
            "3.2.1.3.4",
            "Activity: Retrieve with C-GET",
            "The association proposes the GET model and one storage context per SOP class "
            "with the SCP role (SCP/SCU Role Selection, PS3.7 D.3.3.4). The classes are those "
            "the PACS reported (SOP Classes in Study, or SOP Class UID at IMAGE level); "
            f"when it does not report them, the {len(n.get_storage_contexts)} classes "
            "below. Instances still missing after that are fetched on further "
            "associations: the compressed contexts alone for the classes already "
            "proposed (a PACS may send every instance of a class on the first context it "
            "accepted), and, while the PACS does not say the missing instances' classes, "
            "the storage classes of 3.2.2.1 not yet proposed, uncompressed, 127 per "
            "association. At most "
            f"{n.max_contexts - 1} storage contexts are proposed next to the GET model "
            f"(PS3.8 allows {n.max_contexts} presentation contexts per association); when "
            "many classes must fit, fewer compressed transfer syntaxes are proposed per "
            "class. The video Storage SOP Classes (Video Endoscopic, Microscopic and "
            "Photographic Image) are proposed with one context per video transfer syntax "
            "too, when the PACS reports them.\n\n"
            + _context_table(contexts_get)
            + "\n\n"
            + _retrieve_conformance(move=False),
        ),
        Section(
            "3.2.1.4",
            "Association Acceptance Policy",
            f"The {QR_AE} accepts no associations. C-STORE requests arriving over its own "
            "C-GET association are handled as in 3.2.2.4.",
        ),
    ]


# What the user can put in each QuerySpec field, and the key it fills (query.build_identifier);
# PS3.4 C.2.2.2 matching types. Every other key is sent empty (universal matching: return it).
_FILTERS = {
    "patient_name": ("PatientName", "Single Value, Wild Card (`*`, `?`)"),
    "patient_id": ("PatientID", "Single Value, Wild Card"),
    "study_date": ("StudyDate", "Single Value, Range (`A-`, `-B`, `A-B`)"),
    "accession_number": ("AccessionNumber", "Single Value, Wild Card"),
    "study_description": ("StudyDescription", "Single Value, Wild Card"),
    "modality": ("ModalitiesInStudy", "Single Value, Wild Card"),
    "study_uids": ("StudyInstanceUID", "Single Value, List of UID"),
    "series_uids": ("SeriesInstanceUID", "Single Value, List of UID"),
    "sop_uids": ("SOPInstanceUID", "Single Value, List of UID"),
}


def _matching(keyword: str) -> str:
    """Matching types Lightbox may send for a key (PS3.4 C.2.2.2)."""
    fields = query.QuerySpec.__dataclass_fields__
    missing = set(_FILTERS) - set(fields)
    if missing:
        raise RuntimeError(f"QuerySpec lost the filters {sorted(missing)}: update _FILTERS")
    filters = {key: kinds for key, kinds in _FILTERS.values()}
    filters["Modality"] = filters["ModalitiesInStudy"]  # below STUDY level (build_identifier)
    if keyword in filters:
        return "Universal, " + filters[keyword]
    return "Universal (return key)"


def _find_conformance(n: NetworkFacts, rows: list[tuple[str, str, str, str, str, str]]) -> str:
    pending = ", ".join(f"0x{c:04X}" for c in query.PENDING)
    return "\n\n".join(
        [
            "**SOP Specific Conformance for the FIND SOP Classes.** Every query carries the "
            "keys below (empty value = return key); the user's filters set values on some "
            "of them. Specific Character Set (0008,0005) is always sent as "
            f"`{n.query_charset}`, so any name can be searched; each response is decoded "
            "with the Specific Character Set it carries itself.",
            table(("Level", "Attribute Name", "Keyword", "Tag", "VR", "Matching types used"),
                  rows),
            f"Responses: Pending ({pending}) responses are shown as they arrive; Success "
            f"(0x{query.SUCCESS:04X}) ends the query; Cancel (0x{query.CANCELLED:04X}) "
            "follows a C-CANCEL, which is sent when the user stops the search; a Cancel "
            "without it, or a failure status after some matches, marks the list as "
            "incomplete (what arrived is shown, and the user is told); any failure status "
            "is reported with its code, what it means (Out of Resources 0xA700: narrow the "
            "query) and the peer's error comment. "
            "Optional keys the PACS leaves empty or absent are shown as unknown. No "
            "extended negotiation (relational queries, fuzzy matching, combined date-time "
            "matching) is proposed.",
        ]
    )


def _retrieve_conformance(move: bool) -> str:
    codes = [
        f"Pending: the sub-operation counters (Remaining, Completed, Failed, Warning) are "
        f"shown as progress; Success 0x0000: done; Warning 0x{retrieve.WARNING:04X}: the "
        "failed instances (Failed SOP Instance UID List) are named and the received ones "
        f"kept; Cancel 0x{retrieve.CANCELLED:04X}: after the user's C-CANCEL",
    ]
    if move:
        codes.append(
            f"0x{retrieve.MOVE_DESTINATION_UNKNOWN:04X} (Move Destination unknown): the user "
            "is told to register Lightbox's AE title, host and port on the PACS"
        )
    codes.append(
        "0xA701/0xA702 (out of resources) and other failures: reported with the code; "
        "instances received before the failure stay in the store, and a later retrieve "
        "fetches only the missing ones"
    )
    return "**SOP Specific Conformance.** " + "; ".join(codes) + "."


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
            "\n\n" + _sop_table(sops),
        ),
        Section("3.2.2.2", "Association Policies", _association_policies(f, acceptor=True)),
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
            + _context_table(accepted)
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
            "same content it counts as already present; with different content the stored "
            "file is kept and the conflict is reported. "
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
            f"0x{receiver.STORE_NOT_AUTHORIZED:04X} (not authorized). The Move Originator "
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
         f"the maximum PDU size received, at least {_mib(fastpath.CONTROL_PDU_LIMIT)} "
         f"(P-DATA-TF); {_mib(fastpath.CONTROL_PDU_LIMIT)} (other PDUs)", "no"),
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
            "(the TLS port for a node that uses TLS).",
        ),
        Section(
            "3.4.2",
            "Parameters",
            table(("Parameter", "Default value", "Configurable"), params),
        ),
    ]


def networking(f: Facts) -> list[Section]:
    """The whole networking chapter."""
    return [
        *implementation_model(f),
        *qr_ae(f),
        *storage_ae(f),
        *interfaces_and_configuration(f),
    ]
