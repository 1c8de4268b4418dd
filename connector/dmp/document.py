"""What the pipeline hands the DMP stage, and the DMP's rules on it before anything is built.

A DMP document is a CDA (ours, or the SIL's own in shape B) with the report it came from
(patient identity, MetaDMPMSS flags) and its ids. The DMP takes only a qualified INS
(dmp.md §4.1) and only a root-only OID as the document uniqueId ("the DMP does not support
OID^extension", IG profils-messages): :func:`plain_oid_identity` turns the connector's
``root^extension`` ids into such OIDs, deterministically, so the store can mint them once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from connector.errors import DmpRefused
from connector.model import DocumentIdentity, LabIdentity, LabReport

__all__ = [
    "DmpAction",
    "DmpDocument",
    "LocalCode",
    "MaskingFlag",
    "dmp_requested",
    "is_plain_oid",
    "plain_oid",
    "plain_oid_identity",
    "refuse_in_indirect_mode",
    "z01_requested",
]

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
MAX_OID_LENGTH = 64  # HL7 / XDS practice for an OID used alone as an identifier


class LocalCode(StrEnum):
    """Our own ZAM^Z01 ERR-5 codes, for refusals that happen before or instead of the DMP's answer."""

    INS_NOT_QUALIFIED = "PFI_INS_NON_QUALIFIE"
    NOT_PLAIN_OID = "PFI_ID_DOCUMENT_NON_OID"
    STRUCTURE_MISMATCH = "PFI_STRUCTURE_AUTEUR"
    FORBIDDEN_INDIRECT = "PFI_INTERDIT_AUTH_INDIRECTE"
    NOT_IN_DMP = "PFI_DOCUMENT_ABSENT_DMP"
    RETRIES_EXHAUSTED = "PFI_DMP_INJOIGNABLE"
    BAD_RESPONSE = "PFI_REPONSE_DMP_ILLISIBLE"
    CDA_UNREADABLE = "PFI_CDA_ILLISIBLE"  # the document to feed cannot be read back (store, input pruned)


class MaskingFlag(StrEnum):
    """MetaDMPMSS flags (ORU OBX-3) → DMP confidentiality codes (JDV_J58, 1.2.250.1.213.1.1.4.13)."""

    MASQUE_PS = "MASQUE_PS"
    INVISIBLE_PATIENT = "INVISIBLE_PATIENT"
    INVISIBLE_REP_LEGAUX = "INVISIBLE_REP_LEGAUX"

    @property
    def dmp_code(self) -> str:
        return "INVISIBLE_REPRESENTANTS_LEGAUX" if self is MaskingFlag.INVISIBLE_REP_LEGAUX else self.value


class DmpAction(StrEnum):
    """What the SIL can ask of the DMP, and whether the indirect authentication of a lab allows it (F526)."""

    FEED = "feed"  # TD2.1
    REPLACE = "replace"  # TD2.1 + RPLC
    DELETE = "delete"  # TD3.3c
    ARCHIVE = "archive"  # TD3.3d: not in indirect mode
    CHANGE_MASKING = "change_masking"  # TD3.3a/b (MODIF_CONF_CODE=Y): not in indirect mode


_FORBIDDEN = {
    DmpAction.ARCHIVE: "archiving a DMP document (TD3.3d) is not allowed in indirect authentication",
    DmpAction.CHANGE_MASKING: "changing the masking of a document already in the DMP (MODIF_CONF_CODE, "
                              "TD3.3a/b) is not allowed in indirect authentication: send a replacement instead",
}


def refuse_in_indirect_mode(action: DmpAction, *, report_id: str) -> None:
    """DmpRefused with the reason the SIL gets in its Z01 when a lab's indirect authentication cannot do it."""
    if action in _FORBIDDEN:
        raise DmpRefused(f"report {report_id}: {_FORBIDDEN[action]}", code=LocalCode.FORBIDDEN_INDIRECT)


def is_plain_oid(value: str) -> bool:
    return len(value) <= MAX_OID_LENGTH and _OID.match(value) is not None


def plain_oid(root: str, extension: str) -> str:
    """One OID for ``root^extension``: digits are appended as an arc; our ``r-<hex>`` report ids as their
    integer; anything else as a 96-bit digest (deterministic, so a rebuild gives the same OID)."""
    if not extension:
        return root
    if extension.isdigit() and (extension == "0" or not extension.startswith("0")):
        return f"{root}.{extension}"
    if re.fullmatch(r"r-[0-9a-f]{1,16}", extension):
        return f"{root}.{int(extension[2:], 16)}"
    return f"{root}.{int.from_bytes(hashlib.sha256(extension.encode()).digest()[:12], 'big')}"


def plain_oid_identity(ids: DocumentIdentity) -> DocumentIdentity:
    """The same document ids with a root-only document id (and replaced id): what a DMP-bound CDA carries."""
    replaces = (plain_oid(*ids.replaces), "") if ids.replaces else None
    return replace(ids, document_id_root=plain_oid(ids.document_id_root, ids.document_id_extension),
                   document_id_extension="", replaces=replaces)


def dmp_requested(report: LabReport, *, discrete_feed: bool) -> bool:
    """Whether this report goes to the DMP: the SIL's DESTDMP=Y (shape B), or, for discrete results, the lab's
    configuration; either way only for a qualified INS."""
    if not report.patient.ins_qualified:
        return False
    if report.documents:
        return bool(report.flags and report.flags.get("DESTDMP"))
    return discrete_feed


def z01_requested(report: LabReport) -> bool:
    """A ZAM^Z01 only when the SIL asked for a receipt (MetaDMPMSS ACK_RECEPTION=Y)."""
    return bool(report.flags and report.flags.get("ACK_RECEPTION"))


@dataclass(frozen=True, kw_only=True)
class DmpDocument:
    """One CDA version for the DMP. Holds patient data: log ``report_id`` only."""

    cda: bytes = field(repr=False)
    report: LabReport = field(repr=False)
    ids: DocumentIdentity
    lab: LabIdentity

    @property
    def report_id(self) -> str:
        return self.report.report_id

    @property
    def unique_id(self) -> str:
        """XDSDocumentEntry.uniqueId: the CDA id, which must be a root-only OID."""
        if self.ids.document_id_extension or not is_plain_oid(self.ids.document_id_root):
            raise DmpRefused(f"report {self.report_id}: the DMP takes only a root-only OID (64 characters at most) "
                             "as ClinicalDocument/id", code=LocalCode.NOT_PLAIN_OID)
        return self.ids.document_id_root

    @property
    def replaced_unique_id(self) -> str | None:
        if self.ids.replaces is None:
            return None
        root, ext = self.ids.replaces
        if ext or not is_plain_oid(root):
            raise DmpRefused(f"report {self.report_id}: the replaced document's id is not a root-only OID",
                             code=LocalCode.NOT_PLAIN_OID)
        return root

    def masking(self) -> tuple[MaskingFlag, ...]:
        flags = self.report.flags
        return tuple(f for f in MaskingFlag if flags is not None and flags.get(f.value))

    @property
    def secret_connection(self) -> bool:
        """CONNEXION_SECRETE=Y: the VIHF carries the confidentiality-code attribute (dmp.md §3)."""
        return bool(self.report.flags and self.report.flags.get("CONNEXION_SECRETE"))

    def ins_cx(self) -> str:
        """The qualified INS as an XDS patientId ``INS^^^&OID&ISO^NH``; DmpRefused otherwise."""
        patient = self.report.patient
        ins = patient.ins
        if ins is None or not patient.ins_qualified:
            raise DmpRefused(f"report {self.report_id}: the DMP takes only a qualified INS (PID-3 INS with PID-32 "
                             "QUAL)", code=LocalCode.INS_NOT_QUALIFIED)
        return f"{ins.value}^^^&{ins.oid}&ISO^NH"

    def check_actions(self) -> None:
        """Refuse what indirect authentication forbids (MODIF_CONF_CODE=Y) before building anything."""
        if self.report.flags and self.report.flags.get("MODIF_CONF_CODE"):
            refuse_in_indirect_mode(DmpAction.CHANGE_MASKING, report_id=self.report_id)
