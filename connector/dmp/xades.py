"""The XAdES signature of a DMP submission set (IHE DSG "Source" signature, dmp.md §4.3).

Shape of the DMP's example ``TD2.1_SignatureXades.xml``: a detached ``ds:Signature`` whose
SignedInfo (C14N with comments) signs a Manifest and the XAdES 1.1.1 SignedProperties; the
Manifest references the submission set and the CDA by ``urn:oid:`` uniqueId, the CDA's
digest taken over its C14N-with-comments form. No XML-DSig library builds a Manifest of
external ``urn:oid:`` references, so the structure is written here with lxml's C14N and
``cryptography``; the tests verify the result with signxml and with xmlsec1.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from connector.xmlsafe import parse_xml

from .settings import DmpCredentials, SignatureDigest
from .signing import digest_uri, hash_of, signature_uri

__all__ = ["DS", "XADES", "build_xades"]

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.1.1#"
C14N_WITH_COMMENTS = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903/v1.1.1#SignedProperties"
PURPOSE_SOURCE = "1.2.840.10065.1.12.1.14"  # ASTM E1762 "Source" signature
# The DMP's example gives the submission set's Manifest reference the placeholder digest "AA==":
# a submission set has no bytes of its own to digest (IHE DSG signs it through its uniqueId).
_SUBMISSION_SET_DIGEST = "AA=="
_NAMESPACE = uuid.UUID("5b0e7a1c-2d3f-5e41-8a6b-7c8d9e0f1a2b")


def _digest(data: bytes, digest: SignatureDigest) -> str:
    algo = hashlib.sha256 if digest is SignatureDigest.SHA256 else hashlib.sha1
    return base64.b64encode(algo(data).digest()).decode()


def _ds(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    node = etree.SubElement(parent, f"{{{DS}}}{tag}", attrs)
    if text is not None:
        node.text = text
    return node


def _c14n(node: etree._Element, *, comments: bool) -> bytes:
    """C14N 1.0 of an element with its in-scope namespaces. On a copy: libxml2 canonicalising a subtree in
    place writes a spurious ``xmlns=""`` under a default namespace, so the digest would differ from a verifier's."""
    return etree.tostring(copy.deepcopy(node), method="c14n", with_comments=comments)


def cda_digest(cda: bytes, digest: SignatureDigest) -> str:
    """The Manifest digest of a CDA: its canonical form (C14N 1.0 with comments), as the DMP recomputes it."""
    tree = parse_xml(cda, source="CDA").getroottree()
    return _digest(etree.tostring(tree, method="c14n", with_comments=True), digest)


def build_xades(*, credentials: DmpCredentials, submission_set_uid: str, document_uid: str, cda: bytes,
                signed_at: datetime, digest: SignatureDigest) -> bytes:
    """The signature document (UTF-8 XML bytes) that goes in the submission as ``Signature01``."""
    # An xs:ID (an NCName): the example's bare UUID, which may start with a digit, is not schema-valid.
    sig_id = "sig-" + str(uuid.uuid5(_NAMESPACE, f"{document_uid}|{signed_at.isoformat()}"))
    # The ds prefix (the example uses a default namespace): lxml cannot undeclare a default namespace for the
    # no-namespace SignatureProperties below, which would then be read back as ds elements.
    signature = etree.Element(f"{{{DS}}}Signature", nsmap={"ds": DS}, Id=sig_id)
    signed_info = _ds(signature, "SignedInfo")
    _ds(signed_info, "CanonicalizationMethod", Algorithm=C14N_WITH_COMMENTS)
    _ds(signed_info, "SignatureMethod", Algorithm=signature_uri(digest))
    manifest_ref = _ds(signed_info, "Reference", Type=MANIFEST_TYPE, URI="#IHEManifest")
    props_ref = _ds(signed_info, "Reference", Type=SIGNED_PROPERTIES_TYPE, URI="#S0-SignedProperties")
    value = _ds(signature, "SignatureValue")
    cert_der = credentials.sign_cert.public_bytes(Encoding.DER)
    _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509Certificate", base64.b64encode(cert_der).decode())

    manifest = _ds(_ds(signature, "Object"), "Manifest", Id="IHEManifest")
    ss_ref = _ds(manifest, "Reference", URI=f"urn:oid:{submission_set_uid}")
    _ds(ss_ref, "DigestMethod", Algorithm=digest_uri(digest))
    _ds(ss_ref, "DigestValue", _SUBMISSION_SET_DIGEST)
    doc_ref = _ds(manifest, "Reference", URI=f"urn:oid:{document_uid}")
    _ds(_ds(doc_ref, "Transforms"), "Transform", Algorithm=C14N_WITH_COMMENTS)
    _ds(doc_ref, "DigestMethod", Algorithm=digest_uri(digest))
    _ds(doc_ref, "DigestValue", cda_digest(cda, digest))

    # In no namespace, as in the DMP's example: ds:SignatureProperty may not hold bare text, ds:Object may.
    properties = etree.SubElement(_ds(signature, "Object"), "SignatureProperties")
    purpose = etree.SubElement(properties, "SignatureProperty", Id="purposeOfSignature", Target=f"#{sig_id}")
    purpose.text = PURPOSE_SOURCE

    qualifying = etree.SubElement(_ds(signature, "Object"), f"{{{XADES}}}QualifyingProperties",
                                  nsmap={None: XADES},  # type: ignore[dict-item]
                                  Target=f"#{sig_id}")
    signed_props = etree.SubElement(qualifying, f"{{{XADES}}}SignedProperties", Id="S0-SignedProperties")
    sig_props = etree.SubElement(signed_props, f"{{{XADES}}}SignedSignatureProperties")
    etree.SubElement(sig_props, f"{{{XADES}}}SigningTime").text = (
        signed_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"))
    signing_certs = etree.SubElement(sig_props, f"{{{XADES}}}SigningCertificate")
    for cert in credentials.sign_chain:
        entry = etree.SubElement(signing_certs, f"{{{XADES}}}Cert")
        cert_digest = etree.SubElement(entry, f"{{{XADES}}}CertDigest")
        etree.SubElement(cert_digest, f"{{{XADES}}}DigestMethod", Algorithm=digest_uri(digest))
        etree.SubElement(cert_digest, f"{{{XADES}}}DigestValue").text = _digest(
            cert.public_bytes(Encoding.DER), digest)
        issuer_serial = etree.SubElement(entry, f"{{{XADES}}}IssuerSerial")
        _ds(issuer_serial, "X509IssuerName", cert.issuer.rfc4514_string())
        _ds(issuer_serial, "X509SerialNumber", str(cert.serial_number))
    policy = etree.SubElement(sig_props, f"{{{XADES}}}SignaturePolicyIdentifier")
    etree.SubElement(policy, f"{{{XADES}}}SignaturePolicyImplied")

    # Same-document references without transforms are digested over their C14N 1.0 form (XML-DSig 4.3.3.2).
    for ref, target in ((manifest_ref, manifest), (props_ref, signed_props)):
        _ds(ref, "DigestMethod", Algorithm=digest_uri(digest))
        _ds(ref, "DigestValue", _digest(_c14n(target, comments=False), digest))
    to_sign = _c14n(signed_info, comments=True)
    raw = credentials.sign_key.sign(to_sign, padding.PKCS1v15(), hash_of(digest))
    value.text = base64.b64encode(raw).decode()
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")
