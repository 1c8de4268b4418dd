"""Identifiers the connector writes under the lab's OID: one arc per kind, and ids that fit XDS.

Every kind of identifier has its own arc under ``lab.oid_root`` so two kinds can never be read
as one (a specimen number equal to an order number, a local test code equal to a document id):

    <oid_root>.1  ClinicalDocument/id (= XDS uniqueId), minted by the store or the offline build
    <oid_root>.2  order numbers (inFulfillmentOf/order/id)
    <oid_root>.3  document sets (setId)
    <oid_root>.5  the SIL's own practitioner ids (prescribers, samplers without RPPS/ADELI)
    <oid_root>.6  specimen numbers (SPM-2)
    <oid_root>.7  the lab's local test code system (codes without LOINC, in ``translation``)

``.4`` is left out on purpose: it is the IPP authority of the example configurations
(``lab.ipp_oid``), and the IPP keeps the SIL's own PID-3 authority when it sends one.

XDS (IHE ITI TF-3 4.2.3.2.26): a DocumentEntry.uniqueId ``oid^extension`` has an extension of at
most 16 characters and is at most 64 characters in all; the CDA id is that uniqueId, so document
extensions are 16 hexadecimal digits.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum

__all__ = [
    "MAX_UNIQUE_ID",
    "MAX_UNIQUE_ID_EXTENSION",
    "IdKind",
    "document_extension",
    "offline_extension",
    "oid_for",
    "overlapping_arcs",
    "unique_id_problem",
]

MAX_UNIQUE_ID = 64
MAX_UNIQUE_ID_EXTENSION = 16


class IdKind(StrEnum):
    """Kinds of identifiers minted under the lab's OID; the value is the arc."""

    DOCUMENT = "1"
    ORDER = "2"
    SET = "3"
    PRACTITIONER = "5"
    SPECIMEN = "6"
    LOCAL_CODE = "7"


def oid_for(oid_root: str, kind: IdKind) -> str:
    return f"{oid_root}.{kind.value}"


def overlapping_arcs(oid_root: str, ipp_oid: str) -> list[str]:
    """Names of the connector's arcs that ``ipp_oid`` would share (a configuration error)."""
    return [kind.name.lower() for kind in IdKind if oid_for(oid_root, kind) == ipp_oid] + (
        ["the lab's root OID"] if ipp_oid == oid_root else []
    )


def document_extension(report_id: str) -> str:
    """A document id extension of 16 hexadecimal digits for a report id (``r-`` + 16 hex, or longer)."""
    digits = report_id.removeprefix("r-")
    if len(digits) <= MAX_UNIQUE_ID_EXTENSION and digits.isalnum():
        return digits
    return hashlib.sha256(report_id.encode("utf-8")).hexdigest()[:MAX_UNIQUE_ID_EXTENSION]


def offline_extension(report_id: str, message: bytes) -> str:
    """For ``connector build``: the report id *and* the message bytes, so two SIL messages that reuse an
    MSH-10 get distinct ids while the same bytes built twice give the same ones."""
    digest = hashlib.sha256(message).hexdigest()
    return hashlib.sha256(f"{report_id}|{digest}".encode()).hexdigest()[:MAX_UNIQUE_ID_EXTENSION]


def unique_id_problem(root: str, extension: str) -> str | None:
    """None when ``root^extension`` is a valid XDS uniqueId, else what is expected."""
    whole = f"{root}^{extension}" if extension else root
    if len(extension) > MAX_UNIQUE_ID_EXTENSION:
        return f"a uniqueId extension of at most {MAX_UNIQUE_ID_EXTENSION} characters (IHE ITI TF-3 4.2.3.2.26)"
    if len(whole) > MAX_UNIQUE_ID:
        return f"a uniqueId of at most {MAX_UNIQUE_ID} characters (IHE ITI TF-3 4.2.3.2.26)"
    return None
