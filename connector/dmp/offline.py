"""``connector build --dmp``: write the TD2.1 a report would be fed with, beside its cda.xml.

Only for a qualified INS (dmp.md §4.1); otherwise nothing is written and the reason is given.
Pure apart from the file write: the time is the document's effectiveTime and the
WS-Addressing MessageID derives from the document uniqueId, so only the signatures
(a new demo certificate each run) change between two builds of the same input.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from connector.errors import DmpRefused
from connector.model import DocumentIdentity, LabIdentity, LabReport

from .document import DmpDocument
from .requests import build_td21_request
from .settings import DmpCredentials, DmpSettings

__all__ = ["REQUEST_FILE", "dmp_request_for"]

REQUEST_FILE = "dmp-request.mime"
_NAMESPACE = uuid.UUID("7e1f3a5c-9b2d-5e4f-8a6c-0d2e4f6a8c1e")


def dmp_request_for(report: LabReport, *, cda: bytes, ids: DocumentIdentity, lab: LabIdentity,
                    settings: DmpSettings, credentials: DmpCredentials) -> tuple[bytes | None, str]:
    """(the request bytes, "") or (None, why no request) for one built report."""
    if not report.patient.ins_qualified:
        why = "no INS" if report.patient.ins is None else "the INS is not qualified (PID-32 is not QUAL)"
        return None, f"report {report.report_id}: no DMP request: {why}"
    doc = DmpDocument(cda=cda, report=report, ids=ids, lab=lab)
    try:
        when = datetime.strptime(ids.effective_time, "%Y%m%d%H%M%S%z")
        message_id = f"urn:uuid:{uuid.uuid5(_NAMESPACE, doc.unique_id + '|' + str(ids.version))}"
        return build_td21_request(doc, settings=settings, credentials=credentials, now=when,
                                  message_id=message_id), ""
    except DmpRefused as exc:
        return None, f"no DMP request: {exc}"
    except ValueError:
        return None, f"report {report.report_id}: no DMP request: the document has no effectiveTime with a zone"
