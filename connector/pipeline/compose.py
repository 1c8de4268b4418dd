"""From a parsed report to everything that is sent: the pure middle of the pipeline.

    LabReport ─map─► MappedReport ─► PDF/A ─► CDA (XSD-checked) ─► IHE_XDM.ZIP ─► e-mail

No I/O and no store here: the pipeline's build step and ``connector build`` (offline) both
call :func:`compose_artifacts`; the service supplies ids minted once in the store, so a
rebuild after a crash gives the same document and the same Message-ID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from connector.cda import XsdValidator, build_tree, refuse_without_results, resolve_biologist, serialize
from connector.embedded import artifacts_from_embedded
from connector.errors import CdaBuildError, ReportRefused
from connector.mapping import Mappings, MappingSettings, map_report
from connector.model import (
    Artifacts,
    DocumentIdentity,
    LabIdentity,
    LabReport,
    Lifecycle,
    MappedReport,
    Recipient,
)
from connector.model.labtime import now_ts
from connector.model.oids import unique_id_problem
from connector.model.outcomes import RefusalReason
from connector.package import (
    MessageSettings,
    build_email_bytes,
    build_xdm,
    envid_for,
    header_from_tree,
    message_id_for,
)
from connector.pdf import pdf_filename, render_pdf

from .bounds import check_values

__all__ = ["assemble", "cda_time", "compose_artifacts", "corrects", "prepare", "series_key"]


def compose_artifacts(
    report: LabReport,
    *,
    mappings: Mappings,
    mapping_settings: MappingSettings,
    lab: LabIdentity,
    ids: DocumentIdentity | None,
    recipients: Sequence[Recipient],
    message_settings: MessageSettings,
    xsd: XsdValidator | None,
    message_id: str = "",
    draft: bool = False,
) -> Artifacts:
    """``message_id``: the one this report already has (a rebuild after ``connector retry``), so the
    acknowledgements of the first sends still find it; "" derives it from the document and recipients.
    ``draft``: ``connector build`` (never sent): an e-mail with no recipient is still written, addressed
    ``To: undisclosed-recipients:;``; the service never sets it (a report without recipients waits)."""
    if report.documents:  # shape B: forward the SIL's own CDA with its own ids (`ids` is None), no mapping
        check_values(report, source=report.source)  # what one value may cost (also for reports received before)
        return artifacts_from_embedded(report, lab=lab, recipients=recipients, message_settings=message_settings,
                                       xsd=xsd, message_id_domain=lab.mailbox.rpartition("@")[2] or "connector.invalid",
                                       message_id=message_id, draft=draft)
    if ids is None:
        raise CdaBuildError(f"report {report.report_id}: no document ids for a report the connector builds")
    mapped = prepare(report, mappings=mappings, mapping_settings=mapping_settings)
    return assemble(mapped, report_id=report.report_id, lab=lab, ids=ids, recipients=recipients,
                    message_settings=message_settings, xsd=xsd, message_id=message_id, draft=draft)


def prepare(report: LabReport, *, mappings: Mappings, mapping_settings: MappingSettings) -> MappedReport:
    """The main-process half of a shape-A build when the rest runs in a worker: the value limits, the mapping."""
    check_values(report, source=report.source)
    return map_report(report, mappings, mapping_settings)


def assemble(
    mapped: MappedReport,
    *,
    report_id: str,
    lab: LabIdentity,
    ids: DocumentIdentity,
    recipients: Sequence[Recipient],
    message_settings: MessageSettings,
    xsd: XsdValidator | None,
    message_id: str = "",
    draft: bool = False,
) -> Artifacts:
    """The CPU half of a build, from the mapped report on: PDF/A, CDA (XSD-checked), XDM zip, e-mail.

    Pure on picklable values, so a worker process can run it (issue 16: every core builds); the
    mapping, which needs the live mapping files, stays with the caller.

    Raises :class:`ReportRefused` (with its reason) for a report that cannot be a valid CR-BIO document:
    a document id XDS cannot carry, no identified validating biologist without a stand-in allowed, no
    result left; the header's own refusals (PID-3, PID-5, PID-7, INS traits) come from the CDA builder.
    The stand-in, when one signs, is on ``Artifacts.standin`` for the caller to log and store.
    """
    problem = unique_id_problem(ids.document_id_root, ids.document_id_extension)
    if problem is not None:  # ClinicalDocument/id is the XDS uniqueId: refuse before anything is built
        raise ReportRefused(f"report {report_id}: document id: expected {problem}",
                            reason=RefusalReason.IDENTIFIER_TOO_LONG)
    signer = resolve_biologist(mapped.report, lab)  # held when nobody validated and no stand-in is allowed
    refuse_without_results(mapped)
    pdf = render_pdf(mapped, lab=lab, ids=ids)
    # One tree: the XSD check, the zip's METADATA and the e-mail's subject all read the very
    # tree that is serialised and sent, so they cannot disagree with it.
    root = build_tree(mapped, lab=lab, ids=ids, pdf=pdf)
    if xsd is not None:
        errors = xsd.errors_tree(root)
        if errors:
            # XSD messages name elements and lines of *our* document, not patient values.
            raise CdaBuildError(f"report {report_id}: CDA fails the XSD: {errors[0]}")
    header = header_from_tree(root, report_id=report_id)
    cda = serialize(root)
    xdm = build_xdm(cda, mapped=mapped, lab=lab, ids=ids, recipients=recipients,
                    submission_time=ids.effective_time, header=header)
    domain = (lab.mailbox.rpartition("@")[2] or "connector.invalid")
    message_id = message_id or message_id_for(ids, recipients, domain=domain)
    name = pdf_filename(mapped, ids)
    email = build_email_bytes(mapped=mapped, lab=lab, ids=ids, xdm=xdm, pdf=pdf, pdf_name=name,
                        recipients=recipients, message_id=message_id, settings=message_settings,
                        date=_email_date(ids.effective_time), header=header, draft=draft)
    return Artifacts(mapped=mapped, cda=cda, pdf=pdf, pdf_name=name, xdm=xdm, email=email, message_id=message_id,
                     envid=envid_for(message_id), ids=ids,
                     lifecycle=Lifecycle.REPLACES if ids.replaces else Lifecycle.NEW, standin=signer.standin)


def series_key(report: LabReport) -> str:
    """Documents for the same order form one series (one setId): facility + order number + patient."""
    order = report.orders[0] if report.orders else None
    number = ""
    if order is not None:
        ident = order.filler_number or order.placer_number or order.placer_group
        number = ident.value if ident else ""
    ipp = report.patient.ipp
    if not number:
        return ""
    basis = "|".join((report.header.sending_facility, number, ipp.value if ipp else ""))
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def corrects(report: LabReport) -> bool:
    """A report that carries corrected results (OBX-11 C) replaces the previous version."""
    return any(r.status == "C" for r in report.results) or any(o.status == "C" for o in report.orders)


def cda_time(now: datetime, zone: str) -> str:
    """A CDA TS in the lab's zone at that instant: 20261125231500+0100, 20260715231500+0200 (Europe/Paris)."""
    return now_ts(zone, now)


def _email_date(ts: str) -> datetime | None:
    try:
        base = datetime.strptime(ts[:14], "%Y%m%d%H%M%S")
        zone = ts[14:]
        sign = 1 if zone.startswith("+") else -1
        return base.replace(tzinfo=timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))))
    except (ValueError, IndexError):
        return None
