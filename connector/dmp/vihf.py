"""The VIHF: a SAML 2.0 assertion for a lab's indirect authentication, signed with the ORG SIGN certificate.

Attributes per dmp.md §3 and the ANS mapping's 2024 "automate" example: the structure
(Identifiant_Structure, which must match an authorInstitution of the submission), the
sector, the automated processing's responsible person (NameID) and software, the role
AUTOMATE, the patient's INS as resource, normal access, and the DMP homologation number.
The enveloped signature (exclusive C14N, placed right after Issuer as SAML requires) is
signxml's.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.signer import XMLSigner

from .settings import DmpCredentials, DmpSettings, SignatureDigest

__all__ = ["SAML", "VihfSubject", "build_vihf"]

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
DS = "http://www.w3.org/2000/09/xmldsig#"
ROLE_AUTOMATE = ("AUTOMATE", "1.2.250.1.213.1.1.4.6", "AUTOMATE")
PURPOSE_NORMAL = ("normal", "1.2.250.1.213.1.1.4.248", "mode acces VIHF 1.0", "Accès normal")
SECRET_CONNECTION = "INVISIBLE_REPRESENTANTS_LEGAUX^1.2.250.1.213.1.1.4.13"
_NAMESPACE = uuid.UUID("8c1d2e3f-4a5b-5c6d-8e7f-9a0b1c2d3e4f")


@dataclass(frozen=True, slots=True)
class VihfSubject:
    """Per request: the patient's INS as CX (``INS^^^&OID&ISO^NH``) and whether the SIL asked a secret connection."""

    patient_cx: str
    secret_connection: bool = False


class _Signer(XMLSigner):
    """signxml refuses SHA-1 by default; the DMP's test platform may still ask for it (dmp.md §9.2)."""

    def check_deprecated_methods(self) -> None:
        if self.sign_alg is not SignatureMethod.RSA_SHA1:
            super().check_deprecated_methods()  # type: ignore[no-untyped-call]


def _saml(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{SAML}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _attribute(statement: etree._Element, name: str, *values: str) -> None:
    attribute = _saml(statement, "Attribute", Name=name)
    for value in values:
        _saml(attribute, "AttributeValue", value)


def _coded(statement: etree._Element, name: str, tag: str, code: str, system: str, display: str,
           system_name: str = "") -> None:
    value = _saml(_saml(statement, "Attribute", Name=name), "AttributeValue")
    node = etree.SubElement(value, f"{{{HL7}}}{tag}", nsmap={None: HL7})  # type: ignore[dict-item]  # lxml-stubs: default namespace
    node.set("code", code)
    node.set("codeSystem", system)
    if system_name:
        node.set("codeSystemName", system_name)
    node.set("displayName", display)
    node.set(f"{{{XSI}}}type", "CE")


def build_vihf(settings: DmpSettings, credentials: DmpCredentials, subject: VihfSubject, *,
               issued_at: datetime) -> etree._Element:
    """The signed ``saml2:Assertion`` element (to be put in ``wsse:Security``)."""
    instant = issued_at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assertion_id = "_" + str(uuid.uuid5(_NAMESPACE, f"{subject.patient_cx}|{instant}"))
    assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml2": SAML, "xsi": XSI},
                              ID=assertion_id, IssueInstant=instant, Version="2.0")
    _saml(assertion, "Issuer", credentials.sign_cert.subject.rfc4514_string(),
          Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName")
    etree.SubElement(assertion, f"{{{DS}}}Signature", nsmap={"ds": DS}, Id="placeholder")
    _saml(_saml(assertion, "Subject"), "NameID", settings.responsible_id)
    context = _saml(_saml(assertion, "AuthnStatement", AuthnInstant=instant), "AuthnContext")
    _saml(context, "AuthnContextClassRef", "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified")
    statement = _saml(assertion, "AttributeStatement")
    _attribute(statement, "VIHF_Version", settings.vihf_version)
    _attribute(statement, "Authentification_Mode", "INDIRECTE")
    _attribute(statement, "Identifiant_Structure", settings.structure_id)
    _attribute(statement, "Secteur_Activite", f"{settings.sector}^1.2.250.1.71.4.2.4")
    _attribute(statement, "urn:oasis:names:tc:xspa:1.0:subject:subject-id",
               f"{settings.software_name}, {settings.software_name} {settings.software_version}, Laboratoire")
    _coded(statement, "urn:oasis:names:tc:xacml:2.0:subject:role", "Role", *ROLE_AUTOMATE)
    _attribute(statement, "urn:oasis:names:tc:xacml:2.0:resource:resource-id", subject.patient_cx)
    _attribute(statement, "Ressource_URN", "urn:dmp")
    code, system, system_name, display = PURPOSE_NORMAL
    _coded(statement, "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse", "PurposeOfUse", code, system, display,
           system_name)
    if subject.secret_connection:
        _attribute(statement, "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code",
                   SECRET_CONNECTION)
    if settings.lps_id:
        _attribute(statement, "LPS_ID", settings.lps_id)
    _attribute(statement, "LPS_Nom", settings.software_name)
    _attribute(statement, "LPS_Version", settings.software_version)
    _attribute(statement, "LPS_ID_HOMOLOGATION_DMP", settings.homologation_number)

    sha256 = settings.digest is SignatureDigest.SHA256
    signer = _Signer(
        signature_algorithm=SignatureMethod.RSA_SHA256 if sha256 else SignatureMethod.RSA_SHA1,
        digest_algorithm=DigestAlgorithm.SHA256 if sha256 else DigestAlgorithm.SHA1,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed: etree._Element = signer.sign(assertion, key=credentials.sign_key, cert=[credentials.sign_cert],
                                         reference_uri=f"#{assertion_id}", id_attribute="ID")
    return signed
