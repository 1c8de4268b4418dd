"""DMP answers → :class:`DmpOutcome`: RegistryResponse status and errors, SOAP 1.2 faults, HTTP statuses.

An answer may be plain SOAP or MTOM (``multipart/related``, whose root part is the envelope).
Anything that is not a SOAP envelope (a proxy's HTML page, an empty body) is a transient
failure: the request is retried, it is never taken for a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.policy import HTTP

from lxml import etree

from connector.errors import InputError
from connector.xmlsafe import parse_xml

from .outcome import DmpOutcome, DmpStatus
from .soap import SOAP, WSA
from .xds import QUERY, RIM, RS

__all__ = ["DmpAnswer", "RegistryError", "SoapFault", "classify", "read_answer", "soap_part"]

SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
_TRANSIENT_HTTP = {408, 429, 502, 503, 504}
# Codes that say the DMP could not take the request now, not that the document is wrong.
_TRANSIENT_CODES = ("Busy", "OutOfResources")
# Codes that no retry fixes and that concern every document: our certificates, our structure.
_CONFIG_CODES = {"DMPInvalidCertificate"}


@dataclass(frozen=True, slots=True)
class RegistryError:
    code: str
    severity: str = ""
    location: str = ""  # codeContext is not kept: the DMP's free text may quote patient data


@dataclass(frozen=True, slots=True)
class SoapFault:
    code: str  # soap:Sender / soap:Receiver (local name)
    subcode: str  # e.g. DMPInvalidCertificate


@dataclass(frozen=True, kw_only=True)
class DmpAnswer:
    """One parsed answer. ``body_tag`` is the local name of the Body's child."""

    http_status: int
    body_tag: str = ""
    status: str = ""
    errors: tuple[RegistryError, ...] = ()
    fault: SoapFault | None = None
    relates_to: str = ""
    object_refs: tuple[str, ...] = ()

    @property
    def success(self) -> bool:
        return self.status == SUCCESS and self.fault is None


def soap_part(content_type: str, body: bytes) -> bytes:
    """The SOAP envelope of a plain or MTOM body (the ``start`` part, else the first)."""
    if not content_type.lower().startswith("multipart/"):
        return body
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=HTTP)
    start = message.get_param("start", header="content-type")
    parts = [p for p in message.iter_parts()] if message.is_multipart() else []
    for part in parts:
        if start and part.get("Content-ID", "").strip() == str(start).strip():
            return bytes(part.get_payload(decode=True) or b"")
    return bytes(parts[0].get_payload(decode=True) or b"") if parts else b""


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def read_answer(http_status: int, content_type: str, body: bytes) -> DmpAnswer | None:
    """The parsed answer, or None when the body is not a SOAP 1.2 envelope."""
    try:
        root = parse_xml(soap_part(content_type, body), source="DMP response")
    except (InputError, ValueError):
        return None
    if etree.QName(root).namespace != SOAP or _local(root) != "Envelope":
        return None
    body_node = root.find(f"{{{SOAP}}}Body")
    child = body_node[0] if body_node is not None and len(body_node) else None
    if child is None:
        return None
    relates = root.findtext(f"{{{SOAP}}}Header/{{{WSA}}}RelatesTo") or ""
    if etree.QName(child).namespace == SOAP and _local(child) == "Fault":
        code = (child.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Value") or "").rpartition(":")[2]
        sub = (child.findtext(f"{{{SOAP}}}Code/{{{SOAP}}}Subcode/{{{SOAP}}}Value") or "").rpartition(":")[2]
        return DmpAnswer(http_status=http_status, body_tag="Fault", fault=SoapFault(code, sub),
                         relates_to=relates.strip())
    errors = tuple(
        RegistryError(e.get("errorCode", ""), e.get("severity", "").rpartition(":")[2], e.get("location", ""))
        for e in child.iter(f"{{{RS}}}RegistryError"))
    refs = tuple(r.get("id", "") for r in child.iter(f"{{{RIM}}}ObjectRef"))
    refs += tuple(r.get("id", "") for r in child.iter(f"{{{RIM}}}ExtrinsicObject"))
    if etree.QName(child).namespace not in (RS, QUERY):
        return None
    return DmpAnswer(http_status=http_status, body_tag=_local(child), status=child.get("status", ""),
                     errors=errors, relates_to=relates.strip(), object_refs=tuple(r for r in refs if r))


def classify(http_status: int, content_type: str, body: bytes, *, message_id: str = "") -> DmpOutcome:
    """The outcome of one HTTP exchange (dmp.md §6)."""
    answer = read_answer(http_status, content_type, body)
    if answer is None:
        return DmpOutcome.retry(str(http_status) if http_status >= 400 else "PFI_REPONSE_DMP_ILLISIBLE")
    if message_id and answer.relates_to and answer.relates_to != message_id:
        return DmpOutcome.retry("PFI_REPONSE_DMP_ILLISIBLE")  # an answer to another request: never trust it
    if answer.fault is not None:
        code = answer.fault.subcode or answer.fault.code
        if code in _CONFIG_CODES:
            return DmpOutcome.failed(code, stops_queue=True)
        if (answer.fault.code == "Receiver" and not answer.fault.subcode) or http_status in _TRANSIENT_HTTP:
            return DmpOutcome.retry(code)
        return DmpOutcome.failed(code)
    if answer.success:
        return DmpOutcome(status=DmpStatus.SUCCESS, entry_uuids=answer.object_refs)
    first = answer.errors[0].code if answer.errors else "XDSRegistryError"
    if any(word in e.code for e in answer.errors for word in _TRANSIENT_CODES) or http_status in _TRANSIENT_HTTP:
        return DmpOutcome.retry(first)
    return DmpOutcome.failed(first, stops_queue=first in _CONFIG_CODES)
