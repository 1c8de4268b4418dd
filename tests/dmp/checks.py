"""What the DMP double checks in every request, as the real DMP does (dmp.md §2–§5).

Each failed check raises :class:`Refusal` carrying the answer the DMP would give: a SOAP 1.2
Fault (transport, WS-Addressing, VIHF, certificate) or a RegistryError (metadata rules).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import HTTP
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod
from signxml.verifier import SignatureConfiguration, XMLVerifier

from connector.xmlsafe import parse_xml

SOAP = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XOP = "http://www.w3.org/2004/08/xop/include"
XDSB = "urn:ihe:iti:xds-b:2007"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
NS = {"s": SOAP, "a": WSA, "wsse": WSSE, "saml": SAML, "ds": DS, "xdsb": XDSB, "lcm": LCM, "rim": RIM,
      "q": QUERY}
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
REQUIRED_VIHF = ("VIHF_Version", "Identifiant_Structure", "Secteur_Activite",
                 "urn:oasis:names:tc:xacml:2.0:subject:role", "urn:oasis:names:tc:xacml:2.0:resource:resource-id",
                 "Ressource_URN", "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse", "LPS_Nom", "LPS_Version",
                 "LPS_ID_HOMOLOGATION_DMP")
SCHEMES = {"patient_de": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
           "unique_de": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
           "patient_ss": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
           "unique_ss": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
           "author_de": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
           "author_ss": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
           "format": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
           "confidentiality": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"}
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@dataclass
class Refusal(Exception):
    """``fault`` set: a SOAP Fault (subcode); else a RegistryError ``code``."""

    code: str
    fault: bool = False
    reason: str = ""


@dataclass
class Vihf:
    structure_id: str
    patient: str  # INS CX ^NH
    attributes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Envelope:
    action: str
    message_id: str
    body: etree._Element
    vihf: Vihf
    parts: dict[str, bytes] = field(default_factory=dict)  # content-id → bytes (MTOM)


def cx_key(cx: str) -> str:
    """A CX without its optional components past CX.5 (the examples append a date in CX.7)."""
    return "^".join(cx.split("^")[:5])


def _local_cid(value: str) -> str:
    return value.strip().removeprefix("cid:").strip("<>")


def read_http(content_type: str, body: bytes) -> tuple[bytes, dict[str, bytes], str]:
    """(SOAP root bytes, attachments by content-id, action param) of a plain or MTOM request."""
    message = message_from_bytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=HTTP)
    assert isinstance(message, EmailMessage)
    action = str(message.get_param("action", "", header="content-type"))
    if message.get_content_type() == "application/soap+xml":
        return body, {}, action
    if message.get_content_type() != "multipart/related":
        raise Refusal("InvalidContentType", fault=True)
    if message.get_param("type", header="content-type") != "application/xop+xml" or \
            message.get_param("start-info", header="content-type") != "application/soap+xml":
        raise Refusal("InvalidMtom", fault=True)
    start = _local_cid(str(message.get_param("start", "", header="content-type")))
    root, parts = b"", {}
    for part in message.iter_parts():
        cid = _local_cid(part.get("Content-ID", ""))
        data = bytes(part.get_payload(decode=True) or b"")
        if cid == start:
            if part.get_content_type() != "application/xop+xml" or part.get_param("type") != "application/soap+xml":
                raise Refusal("InvalidMtom", fault=True)
            root = data
        else:
            parts[cid] = data
    if not root:
        raise Refusal("InvalidMtom", fault=True)
    return root, parts, action


def resolve_xop(body: etree._Element, parts: dict[str, bytes]) -> None:
    """Replace every xop:Include by the base64 of the part it names (the XSD types them base64Binary)."""
    for include in body.iter(f"{{{XOP}}}Include"):
        cid = _local_cid(include.get("href", ""))
        if cid not in parts:
            raise Refusal("XDSMissingDocument", reason="xop:Include names no part")
        parent = include.getparent()
        assert parent is not None
        parent.remove(include)
        parent.text = base64.b64encode(parts[cid]).decode()


def _signing_cert(signature: etree._Element) -> x509.Certificate:
    text = signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS)
    if not text:
        raise Refusal("DMPInvalidCertificate", fault=True)
    return x509.load_der_x509_certificate(base64.b64decode(text))


def check_signature_cert(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """Chains to the trusted CA, and is a *signature* certificate (non-repudiation, not client auth)."""
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception) as exc:
        raise Refusal("DMPInvalidCertificate", fault=True, reason="untrusted") from exc
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if not usage.content_commitment or (eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH in eku):
        raise Refusal("DMPInvalidCertificate", fault=True, reason="Not a valid signature certificate")


def read_envelope(root_bytes: bytes, parts: dict[str, bytes], action_param: str, ca: x509.Certificate) -> Envelope:
    root = parse_xml(root_bytes, source="request")
    if etree.QName(root) != etree.QName(SOAP, "Envelope"):
        raise Refusal("VersionMismatch", fault=True)
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if header is None or body is None or len(body) != 1:
        raise Refusal("InvalidEnvelope", fault=True)
    action = header.find("a:Action", NS)
    message_id = header.findtext("a:MessageID", namespaces=NS) or ""
    reply = header.findtext("a:ReplyTo/a:Address", namespaces=NS)
    if action is None or not message_id.startswith("urn:uuid:") or reply != ANONYMOUS or \
            header.find("a:To", NS) is None or action.get(f"{{{SOAP}}}mustUnderstand") != "true" or \
            header.find("a:ReplyTo", NS).get(f"{{{SOAP}}}mustUnderstand") != "true":  # type: ignore[union-attr]
        raise Refusal("MessageAddressingHeaderRequired", fault=True,
                      reason="A required header representing a Message Addressing Property is not present")
    if (action.text or "") != action_param:
        raise Refusal("ActionMismatch", fault=True)
    assertion = header.find("wsse:Security/saml:Assertion", NS)
    if assertion is None:
        raise Refusal("DMPInvalidVIHF", fault=True, reason="no VIHF")
    vihf = check_vihf(assertion, ca)
    return Envelope(action=action.text or "", message_id=message_id, body=body[0], vihf=vihf, parts=parts)


def check_vihf(assertion: etree._Element, ca: x509.Certificate) -> Vihf:
    children = [etree.QName(c).localname for c in assertion]
    if children[:2] != ["Issuer", "Signature"]:
        raise Refusal("DMPInvalidVIHF", fault=True, reason="Signature must follow Issuer")
    signature = assertion.find("ds:Signature", NS)
    assert signature is not None
    cert = _signing_cert(signature)
    check_signature_cert(cert, ca)
    if assertion.findtext("saml:Issuer", namespaces=NS) != cert.subject.rfc4514_string():
        raise Refusal("DMPInvalidVIHF", fault=True, reason="Issuer is not the signing certificate's DN")
    data = etree.tostring(assertion)
    try:
        XMLVerifier().verify(data, x509_cert=cert, id_attribute="ID",
                             expect_config=SignatureConfiguration(location="./"))
    except Exception as exc:
        raise Refusal("DMPInvalidVIHF", fault=True, reason=f"signature: {type(exc).__name__}") from exc
    attributes: dict[str, list[str]] = {}
    for attr in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS):
        values = []
        for value in attr.iterfind("saml:AttributeValue", NS):
            values.append(value[0].get("code", "") if len(value) else (value.text or ""))
        attributes[attr.get("Name", "")] = values
    mode = attributes.get("Authentification_Mode") or attributes.get("Authentification_mode")
    if mode != ["INDIRECTE"]:
        raise Refusal("DMPInvalidVIHF", fault=True, reason="indirect authentication expected")
    missing = [name for name in REQUIRED_VIHF if not attributes.get(name)]
    if missing or not assertion.findtext("saml:Subject/saml:NameID", namespaces=NS):
        raise Refusal("DMPInvalidVIHF", fault=True, reason=f"missing {missing or 'NameID'}")
    patient = attributes["urn:oasis:names:tc:xacml:2.0:resource:resource-id"][0]
    if not patient.endswith("&ISO^NH") or not any(f"&{oid}&" in patient for oid in INS_OIDS):
        raise Refusal("DMPInvalidVIHF", fault=True, reason="resource-id must be an INS ^NH")
    if attributes["urn:oasis:names:tc:xacml:2.0:subject:role"][0] != "AUTOMATE":
        raise Refusal("DMPInvalidVIHF", fault=True, reason="an automated feed's role is AUTOMATE")
    return Vihf(structure_id=attributes["Identifiant_Structure"][0], patient=patient, attributes=attributes)


class Schemas:
    """The official XDS.b / ebRS XSDs (DMP annex), read in place."""

    def __init__(self, wsdl_schema_dir: Path) -> None:
        self.schema = etree.XMLSchema(etree.parse(str(wsdl_schema_dir / "schema" / "IHE" /
                                                      "XDS.b_DocumentRepository.xsd")))

    def check(self, node: etree._Element, code: str) -> None:
        if not self.schema.validate(node):
            raise Refusal(code, reason=str(self.schema.error_log.last_error))


def _ext(obj: etree._Element, scheme: str) -> str:
    node = obj.find(f"rim:ExternalIdentifier[@identificationScheme='{scheme}']", NS)
    return node.get("value", "") if node is not None else ""


def _slot(node: etree._Element, name: str) -> list[str]:
    return [v.text or "" for v in node.iterfind(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value", NS)]


@dataclass
class Submission:
    unique_id: str
    patient: str
    submission_set_uid: str
    replaces: str  # targetObject of an RPLC association, or ""
    cda: bytes
    confidentiality: tuple[str, ...]


def check_xades(xades: bytes, cda: bytes, unique_id: str, ss_uid: str, ca: x509.Certificate) -> None:
    signature = parse_xml(xades, source="XAdES")
    cert = _signing_cert(signature)
    check_signature_cert(cert, ca)
    config = SignatureConfiguration(expect_references=2, location="./",
                                    default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0)
    try:
        XMLVerifier().verify(xades, x509_cert=cert, expect_config=config)
    except Exception as exc:
        raise Refusal("XDSRepositoryMetadataError", reason=f"XAdES: {type(exc).__name__}") from exc
    refs = {r.get("URI"): r for r in signature.iterfind("ds:Object/ds:Manifest/ds:Reference", NS)}
    doc_ref = refs.get(f"urn:oid:{unique_id}")
    if doc_ref is None or f"urn:oid:{ss_uid}" not in refs:
        raise Refusal("XDSRepositoryMetadataError", reason="XAdES manifest must reference the set and the CDA")
    algo = doc_ref.find("ds:DigestMethod", NS).get("Algorithm", "")  # type: ignore[union-attr]
    hasher = hashlib.sha256 if algo.endswith("sha256") else hashlib.sha1
    c14n = etree.tostring(parse_xml(cda, source="CDA").getroottree(), method="c14n", with_comments=True)
    if doc_ref.findtext("ds:DigestValue", namespaces=NS) != base64.b64encode(hasher(c14n).digest()).decode():
        raise Refusal("XDSRepositoryMetadataError", reason="XAdES manifest digest differs from the CDA")


def check_provide_and_register(env: Envelope, schemas: Schemas, ca: x509.Certificate) -> Submission:
    """TD2.1 rules: XSD (XOP resolved), ids, INS, signs association, author institution = VIHF structure."""
    request = env.body
    if etree.QName(request) != etree.QName(XDSB, "ProvideAndRegisterDocumentSetRequest"):
        raise Refusal("InvalidBody", fault=True)
    documents = {d.get("id", ""): d for d in request.iterfind("xdsb:Document", NS)}
    raw = {}
    for doc_id, holder in documents.items():
        include = holder.find(f"{{{XOP}}}Include")
        if include is None or _local_cid(include.get("href", "")) not in env.parts:
            raise Refusal("XDSMissingDocument")
        raw[doc_id] = env.parts[_local_cid(include.get("href", ""))]
    resolve_xop(request, env.parts)
    schemas.check(request, "XDSRepositoryMetadataError")
    objects = request.find("lcm:SubmitObjectsRequest/rim:RegistryObjectList", NS)
    assert objects is not None
    package = objects.find("rim:RegistryPackage", NS)
    entries = objects.findall("rim:ExtrinsicObject", NS)
    associations = objects.findall("rim:Association", NS)
    if package is None or len(entries) != 2:
        raise Refusal("XDSRegistryMetadataError", reason="one submission set, the CDA and its XAdES")
    ss_id, ss_uid = package.get("id", ""), _ext(package, SCHEMES["unique_ss"])
    signs = [a for a in associations if a.get("associationType") == SIGNS and a.get("targetObject") == ss_id]
    if len(signs) != 1:
        raise Refusal("XDSRegistryMetadataError", reason="a signs association from the XAdES to the set")
    sig_id = signs[0].get("sourceObject", "")
    members = {a.get("targetObject") for a in associations
               if a.get("associationType") == HAS_MEMBER and a.get("sourceObject") == ss_id}
    by_id = {e.get("id", ""): e for e in entries}
    if sig_id not in by_id or members != set(by_id) or set(documents) != set(by_id):
        raise Refusal("XDSRegistryMetadataError", reason="HasMember and Document ids must match the entries")
    doc_id = next(i for i in by_id if i != sig_id)
    patient = _ext(package, SCHEMES["patient_ss"])
    for entry in entries:
        unique = _ext(entry, SCHEMES["unique_de"])
        if "^" in unique or not OID.match(unique) or len(unique) > 64:
            raise Refusal("XDSRegistryMetadataError", reason="uniqueId must be a plain OID")
        if _ext(entry, SCHEMES["patient_de"]) != patient:
            raise Refusal("XDSPatientIdDoesNotMatch")
    if cx_key(patient) != cx_key(env.vihf.patient) or cx_key(patient).split("^")[4:] != ["NH"]:
        raise Refusal("XDSPatientIdDoesNotMatch", reason="patientId must be the VIHF's INS ^NH")
    for owner, scheme in ((package, "author_ss"), *((e, "author_de") for e in entries)):
        institutions = [v for c in owner.iterfind(f"rim:Classification[@classificationScheme='"
                                                  f"{SCHEMES[scheme]}']", NS) for v in _slot(c, "authorInstitution")]
        if not any(i.rsplit("^", 1)[-1] == env.vihf.structure_id for i in institutions):
            raise Refusal("XDSRegistryMetadataError",
                          reason="Aucun AuthorInstitution ne correspond à l'utilisateur du VIHF")
    doc_entry = by_id[doc_id]
    formats = [c.get("nodeRepresentation") for c in doc_entry.iterfind(
        f"rim:Classification[@classificationScheme='{SCHEMES['format']}']", NS)]
    confidentiality = tuple(c.get("nodeRepresentation", "") for c in doc_entry.iterfind(
        f"rim:Classification[@classificationScheme='{SCHEMES['confidentiality']}']", NS))
    if not formats or not confidentiality:
        raise Refusal("XDSRegistryMetadataError", reason="formatCode and confidentialityCode are required")
    unique_id = _ext(doc_entry, SCHEMES["unique_de"])
    check_xades(raw[sig_id], raw[doc_id], unique_id, ss_uid, ca)
    replaces = [a.get("targetObject", "") for a in associations if a.get("associationType") == RPLC]
    return Submission(unique_id=unique_id, patient=patient, submission_set_uid=ss_uid,
                      replaces=replaces[0] if replaces else "", cda=raw[doc_id], confidentiality=confidentiality)


def check_query(env: Envelope, schemas: Schemas) -> list[str]:
    """TD3.1b: GetDocuments by uniqueId, ObjectRef only in indirect mode; the uniqueIds asked."""
    schemas.check(env.body, "XDSRegistryError")
    option = env.body.find("q:ResponseOption", NS)
    if option is None or option.get("returnType") != "ObjectRef":
        raise Refusal("DMPAccessDeniedByRightsService", reason="indirect authentication: references only")
    query = env.body.find("rim:AdhocQuery", NS)
    if query is None or query.get("id") != "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4":
        raise Refusal("XDSUnknownStoredQuery")
    values = _slot(query, "$XDSDocumentEntryUniqueId")
    return re.findall(r"'([^']+)'", ",".join(values))


def check_update(env: Envelope, schemas: Schemas) -> tuple[str, str, str]:
    """TD3.3c: (target entryUUID, OriginalStatus, NewStatus); only Deleted is allowed in indirect mode."""
    schemas.check(env.body, "XDSRegistryMetadataError")
    objects = env.body.find("rim:RegistryObjectList", NS)
    assert objects is not None
    package = objects.find("rim:RegistryPackage", NS)
    updates = [a for a in objects.iterfind("rim:Association", NS)
               if a.get("associationType") == "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"]
    if package is None or len(updates) != 1:
        raise Refusal("XDSRegistryMetadataError", reason="one submission set and one status update")
    new = _slot(updates[0], "NewStatus")
    if new != ["urn:asip:ci-sis:2010:StatusType:Deleted"]:
        raise Refusal("DMPAccessDeniedByRightsService", reason="indirect authentication may only delete")
    if cx_key(_ext(package, SCHEMES["patient_ss"])) != cx_key(env.vihf.patient):
        raise Refusal("XDSPatientIdDoesNotMatch")
    return updates[0].get("targetObject", ""), (_slot(updates[0], "OriginalStatus") or [""])[0], new[0]
