"""The three requests the DMP feed sends, each exactly as it goes over HTTP.

    build_td21   TD2.1 ITI-41 (new document, or a new version with RPLC): MTOM, VIHF, XAdES
    build_td31b  TD3.1b ITI-18 GetDocuments by uniqueId, ObjectRef: plain SOAP
    build_td33c  TD3.3c ITI-57 UpdateAvailabilityStatus → Deleted: plain SOAP

``build_td21_request`` gives the TD2.1 as one byte string, its first line the HTTP
Content-Type: what ``connector build --dmp`` writes as ``dmp-request.mime``. The builders
are pure: times and the WS-Addressing MessageID come in as arguments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from connector.errors import DmpRefused, InputError
from connector.package import CdaHeader, header_from_tree
from connector.xmlsafe import parse_xml

from .document import DmpDocument
from .metadata import DOCUMENT, SIGNATURE, build_submission, document_ids
from .mtom import XOP_INCLUDE, Attachment, multipart_related, soap_content_type
from .registry import EntryStatus, delete_body, get_documents_body
from .settings import DmpCredentials, DmpSettings
from .soap import Action, Service, envelope
from .vihf import VihfSubject, build_vihf
from .xades import build_xades
from .xds import XDSB

__all__ = ["DmpRequest", "build_td21", "build_td21_request", "build_td31b", "build_td33c", "read_cda_header"]


@dataclass(frozen=True, kw_only=True)
class DmpRequest:
    action: Action
    message_id: str  # WS-Addressing urn:uuid:…, echoed in the response's RelatesTo
    content_type: str
    body: bytes = field(repr=False)

    @property
    def service(self) -> Service:
        return self.action.service

    def as_mime(self) -> bytes:
        """The HTTP body with its Content-Type as the first header: a self-contained MIME entity."""
        return f"Content-Type: {self.content_type}\r\n\r\n".encode() + self.body


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def read_cda_header(doc: DmpDocument) -> CdaHeader:
    try:
        return header_from_tree(parse_xml(doc.cda, source=f"report {doc.report_id} CDA"), report_id=doc.report_id)
    except InputError as exc:
        raise DmpRefused(str(exc), code="PFI_CDA_ILLISIBLE") from None


def _xml(node: etree._Element) -> bytes:
    return etree.tostring(node, xml_declaration=True, encoding="UTF-8")


def _to(settings: DmpSettings, action: Action) -> str:
    return settings.repository_url if action.service is Service.REPOSITORY else settings.registry_url


def build_td21(doc: DmpDocument, *, settings: DmpSettings, credentials: DmpCredentials, now: datetime,
               message_id: str, replaces_entry: str | None = None, header: CdaHeader | None = None) -> DmpRequest:
    """TD2.1 for ``doc``; with ``replaces_entry`` (the current version's entryUUID) a replacement (RPLC)."""
    doc.check_actions()
    header = header or read_cda_header(doc)
    submission = build_submission(doc, header=header, structure_id=settings.structure_id,
                                  source_oid=settings.source_oid, submitted=now, replaces_entry=replaces_entry)
    ids = document_ids(doc.unique_id)
    xades = build_xades(credentials=credentials, submission_set_uid=ids.submission_set, document_uid=doc.unique_id,
                        cda=doc.cda, signed_at=now, digest=settings.digest)
    body = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB})
    body.append(submission)
    cids = {DOCUMENT: f"document.{doc.unique_id}@dmp", SIGNATURE: f"signature.{ids.signature}@dmp"}
    for object_id, cid in cids.items():
        holder = etree.SubElement(body, f"{{{XDSB}}}Document", id=object_id)
        etree.SubElement(holder, f"{{{XOP_INCLUDE}}}Include", nsmap={"xop": XOP_INCLUDE}, href=f"cid:{cid}")
    assertion = build_vihf(settings, credentials, VihfSubject(doc.ins_cx(), doc.secret_connection), issued_at=now)
    action = Action.PROVIDE_AND_REGISTER
    soap = envelope(action=action, message_id=message_id, to=_to(settings, action), assertion=assertion, body=body)
    content_type, data = multipart_related(
        root=_xml(soap), root_id=f"root.{uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex}@dmp", action=action.value,
        attachments=(Attachment(cids[DOCUMENT], doc.cda), Attachment(cids[SIGNATURE], xades)), seed=message_id)
    return DmpRequest(action=action, message_id=message_id, content_type=content_type, body=data)


def build_td21_request(doc: DmpDocument, *, settings: DmpSettings, credentials: DmpCredentials, now: datetime,
                       message_id: str | None = None, replaces_entry: str | None = None) -> bytes:
    """The TD2.1 exactly as it would be POSTed, its first line the HTTP Content-Type (``dmp-request.mime``)."""
    return build_td21(doc, settings=settings, credentials=credentials, now=now,
                      message_id=message_id or new_message_id(), replaces_entry=replaces_entry).as_mime()


def _plain(action: Action, body: etree._Element, *, settings: DmpSettings, credentials: DmpCredentials,
           subject: VihfSubject, now: datetime, message_id: str) -> DmpRequest:
    assertion = build_vihf(settings, credentials, subject, issued_at=now)
    soap = envelope(action=action, message_id=message_id, to=_to(settings, action), assertion=assertion, body=body)
    return DmpRequest(action=action, message_id=message_id, content_type=soap_content_type(action.value),
                      body=_xml(soap))


def build_td31b(doc: DmpDocument, unique_id: str, *, settings: DmpSettings, credentials: DmpCredentials,
                now: datetime, message_id: str) -> DmpRequest:
    """TD3.1b: the entryUUID(s) of ``unique_id`` in the patient's DMP (the VIHF names the patient)."""
    return _plain(Action.STORED_QUERY, get_documents_body((unique_id,)), settings=settings, credentials=credentials,
                  subject=VihfSubject(doc.ins_cx(), doc.secret_connection), now=now, message_id=message_id)


def build_td33c(doc: DmpDocument, entry_uuid: str, *, settings: DmpSettings, credentials: DmpCredentials,
                now: datetime, message_id: str, original: EntryStatus = EntryStatus.APPROVED,
                header: CdaHeader | None = None) -> DmpRequest:
    """TD3.3c: delete (logically) the DMP entry ``entry_uuid`` of ``doc``."""
    header = header or read_cda_header(doc)
    body = delete_body(doc, header=header, entry_uuid=entry_uuid, source_oid=settings.source_oid, submitted=now,
                       original=original)
    return _plain(Action.UPDATE_DOCUMENT_SET, body, settings=settings, credentials=credentials,
                  subject=VihfSubject(doc.ins_cx(), doc.secret_connection), now=now, message_id=message_id)
