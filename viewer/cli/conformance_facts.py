"""The facts a DICOM Conformance Statement states, read from the code that implements them.

Nothing here is typed in twice: the presentation contexts, query keys, association limits
and TLS profile come from :mod:`viewer.net.policy` (the tables the network layer builds its
application entities from); the transfer syntaxes a file or a received object can be
decoded in are asked from pydicom's decoder registry with the installed plugins; the
Specific Character Sets are pydicom's codec table after Lightbox's own additions; the
attributes the viewer reads are the DICOM keywords its ``viewer.dicom`` modules name; the
identity is :mod:`viewer.core.identity`. :mod:`viewer.cli.conformance_text` turns these
facts into the PS3.2 document.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType

import pydicom.uid
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_description, dictionary_VR, keyword_dict, tag_for_keyword
from pydicom.pixels.decoders.base import get_decoder

import viewer
import viewer.dicom
from viewer.core import identity
from viewer.core.settings import NetworkSettings
from viewer.imaging import gsdf, pipeline
from viewer.net import policy, retrieve, scp, scp_admission
from viewer.net.policy import AssociationPolicy, TlsProfile


@dataclass(frozen=True, slots=True)
class UidRow:
    """A UID and its name in PS3.6 Table A-1, as pydicom's dictionary spells it."""

    uid: str
    name: str


@dataclass(frozen=True, slots=True)
class AttributeUse:
    """One attribute the viewer reads, and the module that reads it."""

    keyword: str
    tag: str
    vr: str
    modules: tuple[str, ...]
    name: str = ""


@dataclass(frozen=True, slots=True)
class NetworkFacts:
    """What the network layer proposes and accepts (from :mod:`viewer.net.policy`)."""

    default_ae_title: str
    default_port: int
    default_bind_address: str
    default_tls_port: int
    settings_max_pdu: int
    policy: AssociationPolicy
    tls: TlsProfile
    find_models: tuple[tuple[str, UidRow], ...]
    move_models: tuple[tuple[str, UidRow], ...]
    get_models: tuple[tuple[str, UidRow], ...]
    verification: UidRow
    query_syntaxes: tuple[UidRow, ...]
    storage_syntaxes: tuple[UidRow, ...]
    get_storage_contexts: tuple[tuple[UidRow, tuple[UidRow, ...]], ...]
    scp_storage_classes: tuple[UidRow, ...]
    scp_accepts_verification: bool
    query_keys: tuple[tuple[str, tuple[AttributeUse, ...]], ...]
    query_charset: str
    max_contexts: int


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the Conformance Statement says, gathered once."""

    version: str
    implementation_class_uid: str
    implementation_version_name: str
    network: NetworkFacts
    decodable_syntaxes: tuple[UidRow, ...]
    character_sets: tuple[str, ...]
    character_set_aliases: tuple[str, ...]
    attributes: tuple[AttributeUse, ...]
    dicomdir_attributes: tuple[AttributeUse, ...]
    pvalue_bits: int
    jnd_range: tuple[int, int]


def uid_row(uid: str) -> UidRow:
    """Return ``uid`` with its PS3.6 name (pydicom's UID dictionary)."""
    name = pydicom.uid.UID(uid).name
    if name == uid:  # newer than pydicom's dictionary: pynetdicom may know it
        name = scp_admission.class_name(uid) or "(private or unknown)"
    return UidRow(uid, name)


def decodable_transfer_syntaxes() -> tuple[UidRow, ...]:
    """Transfer syntaxes whose pixel data the installed decoders can decode (PS3.5 A.4).

    Asked from pydicom's decoder registry, so the answer follows the plugins that are
    actually installed (pylibjpeg-libjpeg, -openjpeg, -rle) rather than a list.
    """
    rows = []
    for uid in pydicom.uid.AllTransferSyntaxes:
        try:
            available = get_decoder(uid).is_available
        except NotImplementedError:
            available = False
        if available:
            rows.append(uid_row(uid))
    return tuple(rows)


def _models(table: dict[str, str]) -> tuple[tuple[str, UidRow], ...]:
    return tuple((name, uid_row(uid)) for name, uid in table.items())


def _attribute(keyword: str, modules: tuple[str, ...] = ()) -> AttributeUse:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise ValueError(f"{keyword} is not a DICOM keyword")
    text = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return AttributeUse(keyword, text, dictionary_VR(tag), modules, dictionary_description(tag))


def get_storage_contexts() -> tuple[tuple[UidRow, tuple[UidRow, ...]], ...]:
    """Storage contexts a C-GET proposes when the PACS did not list the study's classes.

    Built by the same function the retrieve uses, then grouped per SOP class (a class may
    be proposed in several contexts, one per compressed transfer syntax).
    """
    grouped: dict[str, list[str]] = {}
    for cx in retrieve.storage_contexts(()):
        syntaxes = grouped.setdefault(str(cx.abstract_syntax), [])
        syntaxes += [str(ts) for ts in cx.transfer_syntax if str(ts) not in syntaxes]
    return tuple(
        (uid_row(uid), tuple(uid_row(ts) for ts in syntaxes)) for uid, syntaxes in grouped.items()
    )


def network_facts() -> NetworkFacts:
    """Read the network layer's tables."""
    local = NetworkSettings()
    levels: list[tuple[str, tuple[AttributeUse, ...]]] = [
        ("PATIENT", tuple(_attribute(k) for k in policy.PATIENT_LEVEL_KEYS))
    ]
    for level, keys in policy.QUERY_RETURN_KEYS.items():
        levels.append((level.upper(), tuple(_attribute(k) for k in keys)))
    scp_classes = tuple(uid_row(uid) for uid in scp.SCP_STORAGE_CLASSES)
    return NetworkFacts(
        default_ae_title=local.ae_title,
        default_port=local.port,
        default_bind_address=local.bind_address,
        default_tls_port=local.tls_port,
        settings_max_pdu=local.max_pdu,
        policy=policy.DEFAULT_POLICY,
        tls=policy.TLS_PROFILE,
        find_models=_models(policy.FIND_MODELS),
        move_models=_models(policy.MOVE_MODELS),
        get_models=_models(policy.GET_MODELS),
        verification=uid_row(policy.VERIFICATION),
        query_syntaxes=tuple(uid_row(u) for u in policy.UNCOMPRESSED_SYNTAXES),
        storage_syntaxes=tuple(uid_row(u) for u in policy.STORAGE_TRANSFER_SYNTAXES),
        get_storage_contexts=get_storage_contexts(),
        scp_storage_classes=scp_classes,
        scp_accepts_verification=policy.SCP_ACCEPTS_VERIFICATION,
        query_keys=tuple(levels),
        query_charset=policy.QUERY_CHARACTER_SET,
        max_contexts=policy.MAX_PRESENTATION_CONTEXTS,
    )


def _import_dicom_layer() -> list[str]:
    """Import every ``viewer.dicom`` module (some extend pydicom's tables on import)."""
    names = []
    for info in pkgutil.iter_modules(viewer.dicom.__path__, "viewer.dicom."):
        importlib.import_module(info.name)
        names.append(info.name)
    return sorted(names)


def character_sets() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Defined terms of (0008,0005) that decode, and the misspellings also accepted.

    Read from pydicom's codec table after the ``viewer.dicom`` modules had their say
    (PS3.3 C.12.1.1.2 defined terms; anything else is an alias pydicom tolerates).
    """
    _import_dicom_layer()
    terms, aliases = [], []
    for term in sorted(python_encoding):
        if not term:
            continue
        if term.startswith(("ISO_IR ", "ISO 2022 IR ")) or term in ("GB18030", "GBK"):
            terms.append(term)
        else:
            aliases.append(term)
    return tuple(terms), tuple(aliases)


def _strings(code: CodeType) -> Iterator[str]:
    """Every string constant of a code object and of the code nested in it."""
    stack: list[object] = [code]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, CodeType):
            stack.extend(item.co_consts)
        elif isinstance(item, tuple | frozenset):
            stack.extend(item)


def _keywords_in(modules: list[str]) -> tuple[AttributeUse, ...]:
    """DICOM keywords named as string constants in the compiled code of ``modules``.

    The constants come from the code objects, which a frozen application has even where it
    has no source files; names that a module imports (``from x import Name`` puts "Name"
    among the constants) are left out.
    """
    found: dict[str, set[str]] = {}
    for name in modules:
        short = name.rsplit(".", 1)[1]
        spec = importlib.util.find_spec(name)
        # SourceFileLoader in a venv, PyInstaller's frozen loader in the bundle: both have
        # get_code (importlib.abc.InspectLoader's protocol) without subclassing it.
        get_code = getattr(spec.loader if spec else None, "get_code", None)
        code = get_code(name) if get_code is not None else None
        if code is None:
            raise RuntimeError(f"no code found for {name}")
        imported = {
            key
            for key, value in vars(importlib.import_module(name)).items()
            if getattr(value, "__module__", name) != name
        }
        for text in _strings(code):
            if text and text in keyword_dict and text not in imported:
                found.setdefault(text, set()).add(short)
    rows = [_attribute(k, tuple(sorted(m))) for k, m in found.items()]
    return tuple(sorted(rows, key=lambda r: r.tag))


def attributes_read() -> tuple[AttributeUse, ...]:
    """The attributes the viewer reads from received and imported objects.

    The dicom layer is the only place where a data set is read (PS3.2 asks for the usage of
    attributes from received IODs); its synthetic and demo modules write data, so they are
    not counted.
    """
    modules = [
        name
        for name in _import_dicom_layer()
        if not name.rsplit(".", 1)[1].startswith(("synthetic", "demo"))
    ]
    return _keywords_in(modules)


def dicomdir_attributes() -> tuple[AttributeUse, ...]:
    """The Basic Directory IOD attributes the media reader takes from a DICOMDIR (PS3.3 F)."""
    return _keywords_in(["viewer.media.dicomdir", "viewer.media.dicomdir_records",
                         "viewer.media.dicomdir_truncated"])


def collect() -> Facts:
    """Gather every fact the statement needs."""
    terms, aliases = character_sets()
    return Facts(
        version=viewer.__version__,
        implementation_class_uid=identity.IMPLEMENTATION_CLASS_UID,
        implementation_version_name=identity.IMPLEMENTATION_VERSION_NAME,
        network=network_facts(),
        decodable_syntaxes=decodable_transfer_syntaxes(),
        character_sets=terms,
        character_set_aliases=aliases,
        attributes=attributes_read(),
        dicomdir_attributes=dicomdir_attributes(),
        pvalue_bits=pipeline.PVALUE_BITS,
        jnd_range=(gsdf.JND_MIN, gsdf.JND_MAX),
    )
