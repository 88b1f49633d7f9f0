"""Chapter 3 of the Conformance Statement: networking (PS3.2 A.4), from the net layer's tables.

This module writes the implementation model (PS3.2 A.4.1) and the Query/Retrieve SCU AE
(A.4.2.1), and puts the chapter together; the Storage SCP AE and the chapter's interfaces
and configuration are in :mod:`viewer.cli.conformance_storage`. The values in the tables
are those of :mod:`viewer.net.policy`, :mod:`viewer.net.scp`, :mod:`viewer.net.retrieve`
and :mod:`viewer.net.receiver`, gathered by :mod:`viewer.cli.conformance_facts`; the
prose describes what those modules do.
"""

from __future__ import annotations

from viewer.cli.conformance_ae import (
    QR_AE,
    STORAGE_AE,
    association_policies,
    context_table,
    sop_table,
)
from viewer.cli.conformance_facts import Facts, NetworkFacts, UidRow
from viewer.cli.conformance_storage import interfaces_and_configuration, storage_ae
from viewer.cli.conformance_text import Section, table
from viewer.net import query, retrieve

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
            "exactly the classes the PACS listed).\n\n" + sop_table(sops),
        ),
        Section("3.2.1.2", "Association Policies", association_policies(f, acceptor=False)),
        Section("3.2.1.3", "Association Initiation Policy", ""),
        Section(
            "3.2.1.3.1",
            "Activity: Verify Communication",
            "Triggered by the user (`lightbox echo NODE`, or the node settings' test "
            "button). One C-ECHO on a new association, which is then released. Failures "
            "are explained to the user (refused connection, rejected AE title, timeout, TLS "
            "failure).\n\n"
            + context_table([(n.verification, qs, "SCU", "None")]),
        ),
        Section(
            "3.2.1.3.2",
            "Activity: Query",
            "Triggered by a search in the study browser or `lightbox query`. Levels: "
            "PATIENT (Patient Root only), STUDY, SERIES, IMAGE. Above its level a query "
            "carries only the unique key of each level, with one value and no wildcard: "
            "the Patient ID in the Patient Root model, the Study and Series Instance UIDs "
            "(hierarchical query, no relational extended negotiation; PS3.4 C.4.1.2.1). "
            "A backslash in a name, ID, accession number or description is refused: "
            "only UID keys are sent as lists of values.\n\n"
            + context_table(contexts_find)
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
            + context_table(contexts_move)
            + "\n\n"
            + _retrieve_conformance(move=True),
        ),
        Section(
            "3.2.1.3.4",
            "Activity: Retrieve with C-GET",
            "The association proposes the GET model and, for each SOP class, one storage "
            "context with the uncompressed transfer syntaxes and one context for each "
            "compressed transfer syntax below, as the 128-context limit allows (a PACS picks "
            "per instance a context whose transfer syntax is the stored one), all with the "
            "SCP role (SCP/SCU Role Selection, PS3.7 D.3.3.4). The classes are those "
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
            + context_table(contexts_get)
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


def networking(f: Facts) -> list[Section]:
    """The whole networking chapter."""
    return [
        *implementation_model(f),
        *qr_ae(f),
        *storage_ae(f),
        *interfaces_and_configuration(f),
    ]
