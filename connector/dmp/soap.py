"""SOAP 1.2 envelopes with WS-Addressing and the VIHF in ``wsse:Security`` (dmp.md §2).

Every request carries MessageID, To, ReplyTo (anonymous) and Action, the last two with
``mustUnderstand``; the DMP answers a missing one with a SOAP Fault. The actions are the
WSDLs' (``soapAction`` = ``wsaw:Action``, SOAP 1.2 bindings).
"""

from __future__ import annotations

from enum import StrEnum

from lxml import etree

__all__ = ["SOAP", "WSA", "WSSE", "Action", "Service", "envelope"]

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"


class Service(StrEnum):
    REPOSITORY = "repository"  # ITI-41
    REGISTRY = "registry"  # ITI-18, ITI-57


class Action(StrEnum):
    PROVIDE_AND_REGISTER = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"  # TD2.1
    STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"  # TD3.1b
    UPDATE_DOCUMENT_SET = "urn:ihe:iti:2010:UpdateDocumentSet"  # TD3.3c

    @property
    def response(self) -> str:
        return {Action.PROVIDE_AND_REGISTER: "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse",
                Action.STORED_QUERY: "urn:ihe:iti:2007:RegistryStoredQueryResponse",
                Action.UPDATE_DOCUMENT_SET: "urn:ihe:iti:2010:UpdateDocumentSet-Response"}[self]

    @property
    def service(self) -> Service:
        return Service.REPOSITORY if self is Action.PROVIDE_AND_REGISTER else Service.REGISTRY


def _wsa(header: etree._Element, tag: str, text: str | None = None, *, must: bool = False) -> etree._Element:
    node = etree.SubElement(header, f"{{{WSA}}}{tag}")
    if must:
        node.set(f"{{{SOAP}}}mustUnderstand", "true")
    if text is not None:
        node.text = text
    return node


def envelope(*, action: Action, message_id: str, to: str, assertion: etree._Element,
             body: etree._Element) -> etree._Element:
    """``soap:Envelope`` with the WS-Addressing headers, the signed VIHF and ``body`` as the Body's child."""
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP, "wsa": WSA})
    header = etree.SubElement(root, f"{{{SOAP}}}Header")
    _wsa(header, "Action", action.value, must=True)
    _wsa(header, "MessageID", message_id)
    _wsa(header, "To", to)
    _wsa(_wsa(header, "ReplyTo", must=True), "Address", ANONYMOUS)
    security = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
    security.append(assertion)
    etree.SubElement(root, f"{{{SOAP}}}Body").append(body)
    return root
