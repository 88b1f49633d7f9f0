"""Chapters 4 to 7 of the Conformance Statement: media, character sets, security, annexes.

Media roles follow from the transfer syntaxes the installed decoders read (a profile is
claimed for reading only when every image transfer syntax it allows decodes), character
sets from pydicom's codec table, the security profile from :mod:`viewer.net.policy`, the
attributes from the ``viewer.dicom`` source, and the display consistency from
:mod:`viewer.imaging`.
"""

from __future__ import annotations

from dataclasses import dataclass

from viewer.cli.conformance_facts import Facts
from viewer.cli.conformance_text import Section, syntax_rows, table
from viewer.media import fileids

EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_SYNTAXES = (
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless SV1
)
J2K_SYNTAXES = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91")

# PS3.11 Annex D (STD-GEN-CD), and the DVD, USB/flash and BD general purpose profiles with
# the transfer syntaxes each allows for images (PS3.11 D.x.2, as dcmtk's dcmmkdir checks).
_PROFILES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("STD-GEN-CD", "General Purpose CD-R Interchange", (EXPLICIT_LE,)),
    ("STD-GEN-DVD-JPEG", "General Purpose DVD Interchange with JPEG",
     (EXPLICIT_LE, *JPEG_SYNTAXES)),
    ("STD-GEN-DVD-J2K", "General Purpose DVD Interchange with JPEG 2000",
     (EXPLICIT_LE, *J2K_SYNTAXES)),
    ("STD-GEN-USB-JPEG", "General Purpose USB Media Interchange with JPEG",
     (EXPLICIT_LE, *JPEG_SYNTAXES)),
    ("STD-GEN-USB-J2K", "General Purpose USB Media Interchange with JPEG 2000",
     (EXPLICIT_LE, *J2K_SYNTAXES)),
    ("STD-GEN-MMC-JPEG", "General Purpose MMC/SD/CF Interchange with JPEG",
     (EXPLICIT_LE, *JPEG_SYNTAXES)),
    ("STD-GEN-MMC-J2K", "General Purpose MMC/SD/CF Interchange with JPEG 2000",
     (EXPLICIT_LE, *J2K_SYNTAXES)),
    ("STD-GEN-BD-JPEG", "General Purpose BD Interchange with JPEG", (EXPLICIT_LE, *JPEG_SYNTAXES)),
    ("STD-GEN-BD-J2K", "General Purpose BD Interchange with JPEG 2000",
     (EXPLICIT_LE, *J2K_SYNTAXES)),
)

# PS3.3 C.12.1.1.2 Tables C.12-2 to C.12-5: what each defined term is.
_CHARSET_NAMES = {
    "6": "Default repertoire (ASCII)",
    "100": "Latin alphabet No. 1 (ISO 8859-1)",
    "101": "Latin alphabet No. 2 (ISO 8859-2)",
    "109": "Latin alphabet No. 3 (ISO 8859-3)",
    "110": "Latin alphabet No. 4 (ISO 8859-4)",
    "144": "Cyrillic (ISO 8859-5)",
    "127": "Arabic (ISO 8859-6)",
    "126": "Greek (ISO 8859-7)",
    "138": "Hebrew (ISO 8859-8)",
    "148": "Latin alphabet No. 5 (ISO 8859-9)",
    "203": "Latin alphabet No. 9 (ISO 8859-15)",
    "13": "Japanese katakana and romaji (JIS X 0201)",
    "166": "Thai (TIS 620-2533)",
    "87": "Japanese kanji (JIS X 0208)",
    "159": "Japanese supplementary kanji (JIS X 0212)",
    "149": "Korean (KS X 1001)",
    "58": "Simplified Chinese (GB 2312)",
    "192": "Unicode in UTF-8",
    "GB18030": "Chinese (GB 18030)",
    "GBK": "Chinese (GBK)",
}


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """A PS3.11 application profile and whether Lightbox reads it."""

    name: str
    title: str
    syntaxes: tuple[str, ...]
    readable: bool


def media_profiles(f: Facts) -> tuple[MediaProfile, ...]:
    """The general purpose profiles, readable when all their transfer syntaxes decode."""
    decodable = {r.uid for r in f.decodable_syntaxes}
    return tuple(
        MediaProfile(name, title, syntaxes, all(s in decodable for s in syntaxes))
        for name, title, syntaxes in _PROFILES
    )


def media(f: Facts) -> list[Section]:
    """PS3.2 A.5: media interchange."""
    profiles = media_profiles(f)
    readable = [p for p in profiles if p.readable]
    extensions = ", ".join(f"`{e}`" for e in getattr(fileids, "_EXTENSIONS", ()))
    return [
        Section("4", "Media Interchange", ""),
        Section(
            "4.1",
            "Implementation Model",
            "```\n"
            " Local real-world activity            Lightbox AE\n"
            " \"Import a CD, DVD, USB drive,  --->  Media FSR AE  ---> local store ---> display\n"
            "  folder or zip file\"                  (reads DICOMDIR and files)\n"
            "```\n\n"
            "The Media File-set Reader AE is started by the user (`Import` in the study "
            "browser, or `lightbox import PATH`). It reads the DICOMDIR when there is one, "
            "and in every case scans the whole medium, so files the DICOMDIR does not list "
            "are imported too. Imported files are copied into the local store unchanged. "
            "Lightbox writes no media (it is not an FSC or FSU).",
        ),
        Section("4.2", "AE Specifications", ""),
        Section(
            "4.2.1",
            "Media FSR AE",
            "**File Meta Information for the Application Entity.** Lightbox writes no "
            "media. Files it writes to its own store (received over the network) carry "
            f"Implementation Class UID `{f.implementation_class_uid}` and Implementation "
            f"Version Name `{f.implementation_version_name}`; imported files keep the meta "
            "information they came with.\n\n"
            "**Real-World Activities.**\n\n"
            + table(
                ("Application Profile Identifier", "Real-World Activity", "Role"),
                [(p.name, "Import media", "FSR") for p in readable],
            )
            + "\n\n**Attributes read from the DICOMDIR** (Basic Directory IOD, PS3.3 F.3); "
            "everything else about an instance is read from the instance's own file:\n\n"
            + table(
                ("Attribute Name", "Keyword", "Tag", "VR"),
                [(a.name, a.keyword, a.tag, a.vr) for a in f.dicomdir_attributes],
            )
            + "\n\n**Options.** Every Storage SOP Class is read from media (any SOP class is "
            "imported; images are displayed when their pixel data decodes). The transfer "
            "syntaxes that decode are listed in 4.2.2. DICOMDIR handling:\n\n"
            "- The DICOMDIR's records are read in sequence order, so a DICOMDIR whose offsets "
            "are wrong, or that has orphan records, still yields every referenced file; "
            "inactive records (Record In-use Flag 0000H) are skipped.\n"
            "- Referenced File IDs are resolved against the medium's real file names: case "
            "is ignored (ISO 9660 and FAT mounts lower-case names), an ISO 9660 version "
            f"`;1` and a trailing `.` are accepted, and so are the extensions {extensions}.\n"
            "- Files named by the DICOMDIR but missing, and files that are not DICOM, are "
            "reported by name and skipped; the rest of the medium is imported.\n"
            "- A medium without DICOMDIR is imported by scanning it; each file's bytes "
            "128-131 (`DICM`, PS3.10 7.1) decide whether it is DICOM. Software on the "
            "medium is never executed.\n"
            "- The transfer syntax of each file is taken from its own File Meta Information, "
            "not from the DICOMDIR record.",
        ),
        Section(
            "4.2.2",
            "Transfer Syntaxes Read",
            "Pixel data in these transfer syntaxes is decoded (as found from the installed "
            "decoders); files in other transfer syntaxes are imported and listed but their "
            "images are not shown.\n\n"
            + table(("Transfer Syntax Name", "UID"), syntax_rows(f.decodable_syntaxes)),
        ),
        Section(
            "4.3",
            "Augmented and Private Application Profiles",
            "None.",
        ),
        Section(
            "4.4",
            "Media Configuration",
            "None: the medium's mount point or folder is chosen by the user.",
        ),
    ]


def _charset_description(term: str) -> str:
    key = term.rsplit(" ", 1)[-1]
    return _CHARSET_NAMES.get(key, "")


def character_sets(f: Facts) -> list[Section]:
    """PS3.2 A.6 (N.1.7 / N.5.7 in the newer template): Specific Character Sets."""
    single = [t for t in f.character_sets if t.startswith("ISO_IR ") or t in ("GB18030", "GBK")]
    extended = [t for t in f.character_sets if t.startswith("ISO 2022 ")]
    rows = [(t, _charset_description(t), "No code extensions") for t in single]
    rows += [(t, _charset_description(t), "ISO 2022 code extensions") for t in extended]
    aliases = ", ".join(f"`{a}`" for a in f.character_set_aliases) or "none"
    return [
        Section(
            "5",
            "Support of Character Sets",
            "Values of Specific Character Set (0008,0005) that Lightbox decodes for display, "
            "in files, in media directories and in C-FIND responses (PS3.3 C.12.1.1.2). A "
            "missing or empty value means the default repertoire. Each data set, each "
            "sequence item with its own (0008,0005), and each C-FIND response is decoded "
            "with its own value.\n\n"
            + table(("Defined Term", "Character Set", "Code Extension"), rows)
            + f"\n\nNon-standard spellings also accepted: {aliases}; misspelled terms such as "
            "`ISO IR 100` or `ISO-IR 100` are read as the defined term they resemble. An "
            "unknown term is read as ISO 8859-1 and a warning is logged; bytes that do not "
            "decode are shown as replacement characters (U+FFFD), and the file is still "
            "imported and displayed.\n\n"
            f"**Queries.** C-FIND identifiers are sent with Specific Character Set "
            f"`{f.network.query_charset}`.\n\n"
            "**Conversion.** None: received and imported objects are stored as they came; "
            "decoding happens only for display.\n\n"
            "**Person Names.** All three component groups (alphabetic, ideographic, "
            "phonetic; PS3.5 6.2.1.1) are kept when a name is indexed and shown. Glyphs are "
            "those of the operating system's fonts.",
        )
    ]


def security(f: Facts) -> list[Section]:
    """PS3.2 A.7 (A.8 in older editions): security profiles, association and application."""
    tls = f.network.tls
    ciphers = "\n".join(f"- `{c}`" for c in tls.ciphers.split(":"))
    return [
        Section("6", "Security", ""),
        Section(
            "6.1",
            "Security Profiles",
            "**BCP 195 TLS Secure Transport Connection Profile** (PS3.15 B.9, non-downgrading)"
            ", per node: when a node has TLS files configured, every association to it runs "
            f"over TLS, minimum version {tls.minimum_version}; the peer's certificate is "
            f"{'always' if tls.verify_peer else 'not'} verified against the node's CA "
            "certificate, its host name is checked against the certificate unless the node "
            "turns that off, and a client certificate is presented when configured. The "
            "Storage SCP AE serves the same profile on its DICOM TLS port (default "
            f"{f.network.default_tls_port}) once a server certificate, its key and a CA are "
            "configured (`tls-cert`, `tls-key`, `tls-ca`): the peer must present a client "
            "certificate signed by that CA, checked during the TLS handshake; a peer without "
            "one, or with one of another CA, is disconnected before any DICOM message. The "
            "Storage SCP AE started for the C-MOVE of a node that uses TLS listens with TLS "
            "only, so the whole retrieve is encrypted; without the TLS settings such a C-MOVE is "
            "refused with a message that says what to set (C-GET needs none). TLS 1.2 "
            "cipher suites offered and accepted (RFC 9325 4.2; the DHE suites with the RFC "
            "7919 ffdhe2048 group; all TLS 1.3 suites are allowed):\n\n"
            + ciphers
            + "\n\nCertificates are not checked for revocation (no CRL, no OCSP), on either "
            "side. The Storage SCP AE does not bind a client certificate to a node: any "
            "certificate signed by `tls-ca`, from a configured node's address with its AE "
            "title, is accepted, so `tls-ca` should be a CA dedicated to the peers that send "
            "to Lightbox; the log names the subject and issuer of the certificate each "
            "association over TLS presented, accepted or refused after the handshake. "
            "Encrypted (passphrase-protected) private keys are not supported: "
            "they are refused, naming the file, when configured and when used; a key file "
            "readable by other users, a certificate that has expired, is not yet valid, "
            "expires within 30 days or has the wrong extended key usage, and a `tls-ca` "
            "without a CA certificate are warned about when set."
            "\n\nNot supported: Audit Trail (ATNA) messages, User Identity Negotiation, "
            "de-identification profiles, digital signature profiles.",
        ),
        Section(
            "6.2",
            "Association Level Security",
            "The Storage SCP AE accepts associations only from configured nodes: the calling "
            "AE title must be a node's AE title and the connection must come from that "
            "node's host address (3.2.2.4); on the TLS port the verified client "
            "certificate is required first. A node that uses DICOM TLS is accepted on the "
            "TLS port only: calling the plain port it is rejected as an unknown calling AE "
            "title (A-ASSOCIATE-RJ 1/1/3), and the log says it must use the TLS port, so "
            "that its TLS cannot be bypassed.",
        ),
        Section(
            "6.3",
            "Application Level Security",
            "Lightbox's home folder (study database, file store, settings) is created "
            "readable by its owner only (mode 0700), and so is everything in it (folders "
            "0700, files 0600, or 0400 for instances received over the network, which are "
            "made read-only once complete so that a crash cannot lose one its sender was "
            "told is stored; whatever the user's umask: the process runs with group and "
            "others' permissions masked, so files it writes elsewhere, such as a rendered "
            "PNG, are private too). A settings or nodes file found writable by others is "
            "made private and a warning asks the user to check it. Patient names and IDs "
            "are not written to logs. Lightbox relies on the operating system's user "
            "accounts and disk encryption; it has no accounts of its own.",
        ),
    ]


def annexes(f: Facts) -> list[Section]:
    """PS3.2 A.8 (A.9): IOD contents, private attributes, terminology, display consistency."""
    attribute_rows = [
        (a.name, a.keyword, a.tag, a.vr, ", ".join(a.modules)) for a in f.attributes
    ]
    return [
        Section("7", "Annexes", ""),
        Section("7.1", "IOD Contents", ""),
        Section(
            "7.1.1",
            "Created SOP Instances",
            "None. Files received over the network are stored with a File Meta Information "
            "header written by Lightbox (3.2.2.4); their data sets are unchanged.",
        ),
        Section(
            "7.1.2",
            "Usage of Attributes from Received IODs",
            "The attributes Lightbox reads from received and imported objects, and the "
            "module of `viewer.dicom` that reads them (header: indexing and the study "
            "browser; params, frames, pixel_header, palette, overlays: the display pipeline; "
            "geometry: slice order, orientation and measurements; image: frame access).\n\n"
            + table(("Attribute Name", "Keyword", "Tag", "VR", "Read by"), attribute_rows),
        ),
        Section(
            "7.1.3",
            "Attribute Mapping",
            "C-FIND response values are shown as received in the Query/Retrieve panel; "
            "retrieved objects are indexed from their own headers, not from the C-FIND "
            "responses.",
        ),
        Section(
            "7.1.4",
            "Coerced/Modified Fields",
            "None: no attribute of a received or imported object is changed.",
        ),
        Section("7.2", "Data Dictionary of Private Attributes", "Lightbox writes no private "
                "attributes. Private attributes of received objects are stored unchanged."),
        Section("7.3", "Coded Terminology and Templates", "None."),
        Section(
            "7.4",
            "Grayscale Image Consistency",
            "Grayscale images go through Modality LUT, VOI LUT and Presentation LUT into "
            f"P-values ({f.pvalue_bits} bits, PS3.14), composed into one lookup table per "
            "view. The P-values are mapped to the display's digital driving levels in one "
            "of three ways:\n\n"
            "- a display calibrated to the Grayscale Standard Display Function in hardware: "
            "P-values are sent unchanged;\n"
            "- a measured characteristic curve (a monitor file in dcmtk's format: luminance "
            "per DDL and ambient light): Lightbox builds the GSDF table itself, spreading "
            f"the display's JND range (JND index {f.jnd_range[0]} to {f.jnd_range[1]} of "
            "PS3.14's Barten model) evenly over the P-values; the table equals dcmtk's "
            "(`dcmj2pnm +Dm`);\n"
            "- no measurement: a model display (gamma 2.2 between a minimum and maximum "
            "luminance) feeds the same table; this is an approximation.\n\n"
            "Measuring the display (a photometer, PS3.14 Annex C) and the ambient light is "
            "the user's responsibility; Lightbox does not verify conformance of the display.",
        ),
        Section(
            "7.5",
            "Standard Extended, Specialized and Private SOP Classes",
            "None.",
        ),
        Section("7.6", "Private Transfer Syntaxes", "None."),
    ]
