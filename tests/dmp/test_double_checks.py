"""The double refuses what the DMP refuses: each check is shown failing on a tampered request."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from lxml import etree

from connector.dmp import DmpCredentials, DmpSettings, build_td21, build_td31b, build_td33c
from connector.dmp.pki import DemoPki
from connector.dmp.requests import DmpRequest
from connector.dmp.transport import Transport
from connector.dmp.vihf import build_vihf
from tests.dmp.double import DmpDouble
from tests.dmp.support import credentials_of, document

NOW = datetime(2026, 11, 20, 9, 15, tzinfo=UTC)


def _td21(settings: DmpSettings, credentials: DmpCredentials) -> DmpRequest:
    return build_td21(document(), settings=settings, credentials=credentials, now=NOW,
                      message_id="urn:uuid:00000000-0000-4000-8000-000000000001")


def _post(settings: DmpSettings, request: DmpRequest, body: bytes | None = None) -> None:
    url = settings.repository_url if request.service.value == "repository" else settings.registry_url
    transport = Transport(settings)
    try:
        transport.post(url, request.content_type, request.body if body is None else body)
    finally:
        transport.close()


def _replace(old: bytes, new: bytes, count: int = 1) -> Callable[[bytes], bytes]:
    def edit(body: bytes) -> bytes:
        assert old in body, old
        return body.replace(old, new, count)
    return edit


def test_an_untampered_request_is_accepted(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                           dmp_credentials: DmpCredentials) -> None:
    _post(dmp_settings, _td21(dmp_settings, dmp_credentials))
    assert [(r.refused, r.reason) for r in dmp_double.received] == [("", "")]


@pytest.mark.parametrize(("name", "edit", "code"), [
    ("VIHF attribute changed after signing", _replace(b"INDIRECTE", b"DIRECTE_X"), "DMPInvalidVIHF"),
    ("structure changed after signing",
     _replace(b"<saml2:AttributeValue>1999999999", b"<saml2:AttributeValue>1999999998"), "DMPInvalidVIHF"),
    ("WS-Addressing ReplyTo missing", lambda b: re.sub(rb"<wsa:ReplyTo.*?</wsa:ReplyTo>", b"", b, count=1),
     "MessageAddressingHeaderRequired"),
    ("uniqueId with an extension", lambda b: re.sub(rb'(registryObject="Document01" value=")([0-9.]+)"',
                                                   rb'\1\2^EXT"', b, count=1), "XDSRegistryMetadataError"),
    ("no signs association", _replace(b"urn:ihe:iti:2007:AssociationType:signs",
                                      b"urn:ihe:iti:2007:AssociationType:XFRM"), "XDSRegistryMetadataError"),
    ("XSD: Classification without scheme", _replace(b'classificationScheme="urn:uuid:a09d5840',
                                                    b'classificationSchemX="urn:uuid:a09d5840'),
     "XDSRepositoryMetadataError"),
    ("CDA changed after the XAdES", _replace(b"<title>Compte rendu", b"<title>Compte-rendu"),
     "XDSRepositoryMetadataError"),
    ("author institution not the VIHF structure",
     lambda b: b.replace(b"ISO^IDNST^^^1999999999", b"ISO^IDNST^^^1999999998"), "XDSRegistryMetadataError"),
    ("patientId not the VIHF INS", lambda b: b.replace(b'value="285057512004242^^^', b'value="185057512004242^^^'),
     "XDSPatientIdDoesNotMatch"),
])
def test_tampered_requests_are_refused(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                       dmp_credentials: DmpCredentials, name: str,
                                       edit: Callable[[bytes], bytes], code: str) -> None:
    request = _td21(dmp_settings, dmp_credentials)
    _post(dmp_settings, request, edit(request.body))
    assert [r.refused for r in dmp_double.received] == [code], (name, dmp_double.received)
    assert dmp_double.entries == {}


def test_vihf_signed_with_the_authentication_certificate_is_refused(
        dmp_double: DmpDouble, dmp_settings: DmpSettings, dmp_pki: DemoPki) -> None:
    wrong = DmpCredentials(sign_key=dmp_pki.auth.key, sign_chain=(dmp_pki.auth.cert,))
    request = build_td21(document(), settings=dmp_settings, credentials=wrong, now=NOW,
                         message_id="urn:uuid:00000000-0000-4000-8000-000000000002")
    _post(dmp_settings, request)
    assert [(r.refused, r.reason) for r in dmp_double.received] == [
        ("DMPInvalidCertificate", "Not a valid signature certificate")]


def test_signature_by_another_ca_is_refused(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                            other_pki: DemoPki) -> None:
    request = build_td21(document(), settings=dmp_settings, credentials=credentials_of(other_pki), now=NOW,
                         message_id="urn:uuid:00000000-0000-4000-8000-000000000003")
    _post(dmp_settings, request)
    assert [r.refused for r in dmp_double.received] == ["DMPInvalidCertificate"]


def test_metadata_query_is_refused_in_indirect_mode(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                                    dmp_credentials: DmpCredentials) -> None:
    request = build_td31b(document(), "1.2.3", settings=dmp_settings, credentials=dmp_credentials, now=NOW,
                          message_id="urn:uuid:00000000-0000-4000-8000-000000000004")
    _post(dmp_settings, request, request.body.replace(b'returnType="ObjectRef"', b'returnType="LeafClass"'))
    assert [r.refused for r in dmp_double.received] == ["DMPAccessDeniedByRightsService"]


def test_archive_is_refused_in_indirect_mode(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                             dmp_credentials: DmpCredentials) -> None:
    request = build_td33c(document(), "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e", settings=dmp_settings,
                          credentials=dmp_credentials, now=NOW,
                          message_id="urn:uuid:00000000-0000-4000-8000-000000000005")
    body = request.body.replace(b"StatusType:Deleted", b"StatusType:Archived")
    _post(dmp_settings, request, body)
    assert [r.refused for r in dmp_double.received] == ["DMPAccessDeniedByRightsService"]


def test_vihf_without_signature_is_refused(dmp_double: DmpDouble, dmp_settings: DmpSettings,
                                           dmp_credentials: DmpCredentials) -> None:
    request = _td21(dmp_settings, dmp_credentials)
    body = re.sub(rb"<ds:Signature .*?</ds:Signature>", b"", request.body, count=1, flags=re.S)
    _post(dmp_settings, request, body)
    assert [r.refused for r in dmp_double.received] == ["DMPInvalidVIHF"]


def test_the_vihf_verifies_outside_the_envelope_too(dmp_settings: DmpSettings,
                                                    dmp_credentials: DmpCredentials) -> None:
    """Exclusive C14N: the assertion's signature does not depend on the envelope it travels in."""
    from signxml.verifier import SignatureConfiguration, XMLVerifier

    from connector.dmp.vihf import VihfSubject

    assertion = build_vihf(dmp_settings, dmp_credentials, VihfSubject("1^^^&1.2.250.1.213.1.4.10&ISO^NH"),
                           issued_at=NOW)
    data = etree.tostring(assertion)
    cert_text = assertion.findtext(".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate") or ""
    assert base64.b64decode(cert_text)
    XMLVerifier().verify(data, x509_cert=dmp_credentials.sign_cert, id_attribute="ID",
                         expect_config=SignatureConfiguration(location="./"))
