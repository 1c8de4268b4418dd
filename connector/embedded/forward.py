"""Shape B: forward the SIL's own CDA (ANS "Transmission de documents CDA en HL7v2") as the PFI.

    LabReport.documents ─► check (lifecycle, XML, XSD, PID-3 = recordTarget, MetaDMPMSS matrix)
                        ─► IHE_XDM.ZIP (SIL's ids, RPLC for C) ─► e-mail (CORPSMAIL_*, X-MSS-MES)

Nothing is rebuilt from results: the document sent is the SIL's, byte for byte, and its
ids are the SIL's (read from the header). :func:`check_embedded` needs no directory or
store, so the intake can call it before answering the SIL (AE with the reason).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from connector.cda import XsdValidator
from connector.errors import CdaBuildError, InputError, RoutingError
from connector.model import (
    INS_OIDS,
    Artifacts,
    LabIdentity,
    LabReport,
    Lifecycle,
    MappedReport,
    Recipient,
    RecipientKind,
)
from connector.package import (
    MessageSettings,
    build_email_bytes,
    build_xdm,
    envid_for,
    message_id_for,
)
from connector.package._times import parse_instant
from connector.package.message import DEFAULT_BODY
from connector.pdf import pdf_filename
from connector.send.routing import flag_decision  # the one copy of the matrix

from .document import SilDocument, read_document

__all__ = ["LIFECYCLES", "MAX_DOCUMENTS", "artifacts_from_embedded", "check_embedded", "lifecycle"]

LIFECYCLES = ("F", "C", "D")  # OBX-11 of the document OBX: new, replaces, delete
MAX_DOCUMENTS = 2  # one report version as CDA N1 and/or N3 (IG "acteurs-transactions", note 4)
ALLOWED_COMBINATIONS = (
    "professionals + patient: MASQUE_PS=N INVISIBLE_PATIENT=N INVISIBLE_REP_LEGAUX=N DESTMSSANTEPS=Y "
    "DESTMSSANTEPAT=Y; professionals only: MASQUE_PS=N INVISIBLE_PATIENT=Y INVISIBLE_REP_LEGAUX=N "
    "DESTMSSANTEPS=Y DESTMSSANTEPAT=N; patient only: INVISIBLE_PATIENT=N CONNEXION_SECRETE=N DESTDMP=N "
    "DESTMSSANTEPS=N DESTMSSANTEPAT=Y"
)
# Stated in the body as well as in the metadata (docs/spec/mssante.md §1.2, replace/delete).
REPLACE_NOTICE = "Ce document remplace la version précédente du compte rendu (id {previous}).\n\n"
DELETE_NOTICE = (
    "DEMANDE DE SUPPRESSION : le compte rendu joint (id {document}) est annulé par le laboratoire "
    "et doit être retiré du dossier du patient.\n\n"
)


def _where(report: LabReport) -> str:
    return f"{report.source or 'input'} report {report.report_id}"


def lifecycle(report: LabReport) -> str:
    """"F" new, "C" replaces, "D" delete: the OBX-11 shared by the report's document OBX."""
    if not report.documents:
        raise InputError("a document OBX (11502-2, ED) for the CDA-in-HL7 flow",
                         source=_where(report), segment="OBX", field="OBX-5")
    statuses = {(d.status.strip().upper() or "F") for d in report.documents}
    if not statuses <= set(LIFECYCLES):
        raise InputError("OBX-11 F (new), C (replaces) or D (delete) on the document OBX",
                         source=_where(report), segment="document OBX", field="OBX-11")
    if len(statuses) > 1:
        raise InputError("the same OBX-11 on every document OBX (N1 and N3 are one report version)",
                         source=_where(report), segment="document OBX", field="OBX-11")
    return statuses.pop()


def check_embedded(report: LabReport, *, lab: LabIdentity, xsd: XsdValidator | None = None) -> SilDocument:
    """Every check that needs neither directory nor store; returns the document to forward (N3, else N1).

    Raises :class:`InputError` (the SIL sent something wrong), :class:`CdaBuildError` (XSD) or
    :class:`RoutingError` (MetaDMPMSS combination outside the matrix), never with patient data.
    """
    state = lifecycle(report)
    where = _where(report)
    total = len(report.documents)
    if total > MAX_DOCUMENTS:
        raise InputError(f"at most {MAX_DOCUMENTS} document OBX (CDA N1 and N3 of one report)",
                         source=where, segment="document OBX", field="OBX-5")
    docs = [read_document(d, label=f"document OBX {i + 1} of {total}", source=where)
            for i, d in enumerate(report.documents)]
    n3 = [d for d in docs if d.structured]
    n1 = [d for d in docs if not d.structured]
    if len(n3) > 1 or len(n1) > 1:
        raise InputError("one CDA N1 and/or one CDA N3, not two of a level", source=where,
                         segment="document OBX", field="OBX-5")
    chosen = (n3 or n1)[0]
    pdf = chosen.pdf or next((d.pdf for d in docs if d.pdf is not None), None)
    if pdf is None:
        raise InputError("a PDF copy: section 55108-5 of the N3 (observationMedia B64) or an N1 document",
                         source=where, segment=chosen.label, field="OBX-5")
    _check_lifecycle(state, chosen, where)
    if xsd is not None:
        errors = xsd.errors(chosen.data)
        if errors:  # XsdValidator drops quoted values: lines and rules only
            raise CdaBuildError(f"report {report.report_id}: the SIL's CDA ({chosen.label}) fails the XSD: {errors[0]}")
    _check_patient(report, chosen, lab, where)
    if report.flags is not None:
        try:
            flag_decision(report)
        except RoutingError as exc:
            raise RoutingError(f"{exc}; the SIL must send one of: {ALLOWED_COMBINATIONS}") from None
    return dataclasses.replace(chosen, pdf=pdf)


def _check_lifecycle(state: str, doc: SilDocument, where: str) -> None:
    replaces = doc.identity.replaces is not None
    if state == "C" and not replaces:
        raise InputError("a CDA with relatedDocument typeCode RPLC (parentDocument/id) when OBX-11 is C",
                         source=where, segment=doc.label, field="OBX-11")
    if state == "F" and replaces:
        raise InputError("OBX-11 C for a CDA that replaces another (relatedDocument RPLC), not F",
                         source=where, segment=doc.label, field="OBX-11")


def _check_patient(report: LabReport, doc: SilDocument, lab: LabIdentity, where: str) -> None:
    """PID-3 must equal CDA recordTarget/patientRole/id (IG shape B): same INS, same IPP."""
    patient = report.patient
    cda_ins = next(((r, e) for r, e in doc.patient_ids if r in INS_OIDS and e), None)
    pid_ins = (patient.ins.oid, patient.ins.value) if patient.ins is not None else None
    if cda_ins is not None and cda_ins != pid_ins:
        raise InputError("the INS of the CDA recordTarget/patientRole/id (same value and OID) in PID-3",
                         source=where, segment="PID", field="PID-3")
    if cda_ins is not None and not patient.ins_qualified:
        raise InputError("a qualified identity (PID-32 QUAL) when the CDA carries the INS",
                         source=where, segment="PID", field="PID-32")
    if cda_ins is None and patient.ins_qualified:
        raise InputError("the qualified INS of PID-3 also in the CDA recordTarget/patientRole/id",
                         source=where, segment=doc.label, field="OBX-5")
    matched = cda_ins is not None
    ipp = patient.ipp
    if ipp is not None:
        roots = {ipp.oid, lab.ipp_oid} - {""}
        for root, ext in doc.patient_ids:
            if root in roots:
                if ext != ipp.value:
                    raise InputError("the IPP of the CDA recordTarget/patientRole/id (same authority) in PID-3",
                                     source=where, segment="PID", field="PID-3")
                matched = True
    if not matched:
        raise InputError("a PID-3 identifier (INS, or IPP with its authority OID) equal to a CDA "
                         "recordTarget/patientRole/id", source=where, segment="PID", field="PID-3")


def _check_recipients(report: LabReport, recipients: Sequence[Recipient]) -> None:
    """Whoever computed ``recipients``: a masked document never reaches a professional, nor a hidden one the patient."""
    rid = report.report_id
    if not recipients:
        raise RoutingError(f"report {rid}: no recipient for the SIL's document")
    flags = report.flags
    if flags is None:
        return
    if any(r.kind != RecipientKind.PATIENT for r in recipients) and (
        flags.get("MASQUE_PS") or flags.get("DESTMSSANTEPS") is not True
    ):
        raise RoutingError(f"report {rid}: MASQUE_PS=Y or DESTMSSANTEPS not Y, yet a professional is a recipient")
    if any(r.kind == RecipientKind.PATIENT for r in recipients) and (
        flags.get("INVISIBLE_PATIENT") or flags.get("DESTMSSANTEPAT") is not True
    ):
        raise RoutingError(f"report {rid}: INVISIBLE_PATIENT=Y or DESTMSSANTEPAT not Y, yet the patient is a recipient")


def _body(report: LabReport, recipients: Sequence[Recipient], state: str, doc: SilDocument) -> str:
    flags = report.flags
    text = ""
    if flags is not None:
        patient_only = all(r.kind == RecipientKind.PATIENT for r in recipients)
        text = flags.mail_body_patient if patient_only and flags.mail_body_patient.strip() else flags.mail_body_ps
    text = text if text.strip() else DEFAULT_BODY
    ids = doc.identity
    if state == "D":
        document = f"{ids.document_id_root}^{ids.document_id_extension}".rstrip("^")
        return DELETE_NOTICE.format(document=document) + text
    if state == "C" and ids.replaces is not None:
        return REPLACE_NOTICE.format(previous="^".join(p for p in ids.replaces if p)) + text
    return text


def _message_id(doc: SilDocument, recipients: Sequence[Recipient], state: str, domain: str) -> str:
    """F/C: the package's id for the version. D repeats the version's ids, so it needs its own Message-ID."""
    message_id = message_id_for(doc.identity, recipients, domain=domain)
    if state != "D":
        return message_id
    digest = hashlib.sha256(f"delete|{message_id}".encode()).hexdigest()[:40]
    return f"<{digest}.d{doc.identity.version}@{domain}>"


def artifacts_from_embedded(
    report: LabReport,
    *,
    lab: LabIdentity,
    recipients: Sequence[Recipient],
    message_settings: MessageSettings,
    xsd: XsdValidator | None,
    message_id_domain: str,
    message_id: str = "",
) -> Artifacts:
    """The zip and e-mail that forward the SIL's CDA to ``recipients`` (from ``recipients_for``)."""
    doc = check_embedded(report, lab=lab, xsd=xsd)
    if report.flags is not None and report.flags.get("ACK_LECTURE_MSS") is False:
        # The SIL asked for no read acknowledgement for this document: no Disposition-Notification-To.
        message_settings = dataclasses.replace(message_settings, request_mdn=False)
    _check_recipients(report, recipients)
    state = lifecycle(report)
    ids = doc.identity
    # build_xdm/build_email read only ``report`` from it; there are no results of ours to map.
    mapped = MappedReport(report=report, results=())
    xdm = build_xdm(doc.data, mapped=mapped, lab=lab, ids=ids, recipients=recipients,
                    submission_time=ids.effective_time, source_oid=message_settings.source_oid)
    message_id = message_id or _message_id(doc, recipients, state, message_id_domain)
    pdf = doc.pdf or b""
    name = pdf_filename(mapped, ids)
    email = build_email_bytes(mapped=mapped, lab=lab, ids=ids, xdm=xdm, pdf=pdf, pdf_name=name, recipients=recipients,
                        message_id=message_id, settings=message_settings,
                        date=parse_instant(ids.effective_time, default_zone=lab.timezone),
                        body=_body(report, recipients, state, doc))
    return Artifacts(mapped=mapped, cda=doc.data, pdf=pdf, pdf_name=name, xdm=xdm, email=email, message_id=message_id,
                     envid=envid_for(message_id), ids=ids, lifecycle=Lifecycle(state))
