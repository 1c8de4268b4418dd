"""Bodies of the registry transactions: TD3.1b (ITI-18 GetDocuments, ObjectRef) and TD3.3c (ITI-57 → Deleted).

TD3.1b finds the DMP entryUUID of a document from our uniqueId; indirect authentication may
fetch references only, hence ``returnType="ObjectRef"`` (F526). TD3.3c is the DMP's
example ``TD3.3c_supprimer_request.xml``: a submission set and one UpdateAvailabilityStatus
association from the current status to ``urn:asip:ci-sis:2010:StatusType:Deleted``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

from lxml import etree

from connector.package import CdaHeader

from . import xds
from .document import DmpDocument
from .metadata import SUBMISSION_SET, content_type_of, institution_of, xcn_of
from .xds import RimWriter

__all__ = ["GET_DOCUMENTS", "EntryStatus", "delete_body", "get_documents_body"]

GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
_NAMESPACE = uuid.UUID("2a4c6e80-1b3d-5f70-9c2e-4f6a8b0c2d4e")


class EntryStatus(StrEnum):
    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
    DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


def get_documents_body(unique_ids: tuple[str, ...]) -> etree._Element:
    """``query:AdhocQueryRequest`` GetDocuments by uniqueId, references only."""
    root = etree.Element(f"{{{xds.QUERY}}}AdhocQueryRequest", nsmap={"query": xds.QUERY, "rim": xds.RIM})
    etree.SubElement(root, f"{{{xds.QUERY}}}ResponseOption", returnComposedObjects="true", returnType="ObjectRef")
    query = etree.SubElement(root, f"{{{xds.RIM}}}AdhocQuery", id=GET_DOCUMENTS)
    RimWriter().slot(query, "$XDSDocumentEntryUniqueId", "(" + ",".join(f"'{u}'" for u in unique_ids) + ")")
    return root


def delete_body(doc: DmpDocument, *, header: CdaHeader, entry_uuid: str, source_oid: str, submitted: datetime,
                original: EntryStatus = EntryStatus.APPROVED) -> etree._Element:
    """``lcm:SubmitObjectsRequest`` moving ``entry_uuid`` from ``original`` to Deleted."""
    unique_id, patient_id = doc.unique_id, doc.ins_cx()
    author = header.author
    institution, _ = institution_of(author, doc)
    specialty = (f"{author.specialty.code}^{author.specialty.display}^{author.specialty.system}"
                 if author.specialty else "")
    w = RimWriter()
    root = etree.Element(f"{{{xds.LCM}}}SubmitObjectsRequest", nsmap={"lcm": xds.LCM, "rim": xds.RIM})
    objects = w.el(root, "RegistryObjectList")
    package = w.el(objects, "RegistryPackage", id=SUBMISSION_SET)
    w.slot(package, "submissionTime", submitted.astimezone(UTC).strftime("%Y%m%d%H%M%S"))
    w.name(package, header.title)
    w.author(package, xds.SS_AUTHOR, SUBMISSION_SET, person=xcn_of(author) if author.id_extension else "",
             institution=institution, specialty=specialty)
    w.classification(package, xds.SS_CONTENT_TYPE, SUBMISSION_SET, content_type_of(doc))
    # Inside the package, as in the DMP's examples (ebRIM allows it beside the package too).
    w.el(package, "Classification", classificationNode=xds.SS_NODE, classifiedObject=SUBMISSION_SET,
         id=w.next_id("cla"))
    w.external_id(package, xds.SS_PATIENT_ID, SUBMISSION_SET, patient_id, "XDSSubmissionSet.patientId")
    w.external_id(package, xds.SS_SOURCE_ID, SUBMISSION_SET, source_oid, "XDSSubmissionSet.sourceId")
    w.external_id(package, xds.SS_UNIQUE_ID, SUBMISSION_SET,
                  f"2.25.{uuid.uuid5(_NAMESPACE, 'dmp-delete|' + unique_id).int}", "XDSSubmissionSet.uniqueId")
    w.association(objects, xds.UPDATE_STATUS, SUBMISSION_SET, entry_uuid, OriginalStatus=original.value,
                  NewStatus=EntryStatus.DELETED.value)
    return root
