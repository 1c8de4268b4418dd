"""The domain model: typed, immutable values that flow one way through the stages.

    parse    ──► LabReport      what the SIL said, nothing dropped (unknown segments kept verbatim)
    mapping  ──► MappedReport   the same report with LOINC codes, UCUM units, CR-BIO chapters
    pipeline ──► Artifacts      the CR-BIO document, its PDF/A copy, the XDM zip and the e-mail

Modules: ``values`` (HL7 data types, result values), ``report`` (the parsed report),
``mapped`` (after mapping), ``delivery`` (the lab, the ids we assign, recipients, artifacts).

Conventions
- Timestamps stay HL7 DTM strings as sent (``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``):
  precision matters in a lab report and a ``datetime`` would invent it. The parser checks
  them (:mod:`connector.parse.timestamps`); the CDA stage writes them as TS
  (:mod:`connector.cda.timestamps`).
- Numbers stay :class:`~decimal.Decimal` together with the text as sent, so ``1.950``
  keeps its three decimals.
- Every element that comes from a segment keeps that segment's text in ``raw``
  (excluded from ``repr``) so nothing is lost; unknown segments go to
  ``LabReport.other_segments``. ``repr`` of these values must never be logged:
  they hold patient data. Log ``report_id`` instead.
- Values with more than three fields are keyword-only: a positional mix-up between two ids
  or two times would type-check and be wrong.
"""

from .delivery import (
    Artifacts,
    DocumentIdentity,
    LabIdentity,
    Lifecycle,
    Recipient,
    RecipientKind,
    UnresolvedRecipient,
)
from .mapped import MappedReport, MappedResult, ReferenceRange
from .report import (
    DocumentFlags,
    EmbeddedDocument,
    LabReport,
    MessageHeader,
    Order,
    Participant,
    Patient,
    Result,
    Specimen,
)
from .values import (
    INS_OIDS,
    INS_TEST_OIDS,
    RPPS_OID,
    Address,
    Coded,
    CodedValue,
    Comment,
    DateValue,
    Encapsulated,
    Identifier,
    IdentityStatus,
    Numeric,
    Organization,
    PersonName,
    Practitioner,
    PreviousResult,
    RawSegment,
    ResultValue,
    StructuredNumeric,
    Text,
)

__all__ = [
    "INS_OIDS",
    "INS_TEST_OIDS",
    "RPPS_OID",
    "Address",
    "Artifacts",
    "Coded",
    "CodedValue",
    "Comment",
    "DateValue",
    "DocumentFlags",
    "DocumentIdentity",
    "EmbeddedDocument",
    "Encapsulated",
    "Identifier",
    "IdentityStatus",
    "LabIdentity",
    "LabReport",
    "Lifecycle",
    "MappedReport",
    "MappedResult",
    "MessageHeader",
    "Numeric",
    "Order",
    "Organization",
    "Participant",
    "Patient",
    "PersonName",
    "Practitioner",
    "PreviousResult",
    "RawSegment",
    "Recipient",
    "RecipientKind",
    "ReferenceRange",
    "Result",
    "ResultValue",
    "Specimen",
    "StructuredNumeric",
    "Text",
    "UnresolvedRecipient",
]

from . import delivery, mapped, outcomes, report, transfer, values

# Workers receive these pickled, a mapped report per build: the fast reducer (see transfer.py).
transfer.register(values, report, mapped, delivery, outcomes)
