"""The "done when" check of issue 15: what `connector build --dmp` writes, read with nothing of the connector.

The request is split by hand at its MIME boundary, the signatures are verified by xmlsec1 (the
C library, not signxml which the double uses) when it is installed, the XDS.b schema is the
official XSD with the XOP includes resolved, and the DMP's rules are read off the XML.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
NS = {"s": "http://www.w3.org/2003/05/soap-envelope", "a": "http://www.w3.org/2005/08/addressing",
      "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
      "saml": "urn:oasis:names:tc:SAML:2.0:assertion", "ds": "http://www.w3.org/2000/09/xmldsig#",
      "xdsb": "urn:ihe:iti:xds-b:2007", "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
      "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0", "xop": "http://www.w3.org/2004/08/xop/include"}
ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
PLAIN_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build-dmp")
    result = subprocess.run([sys.executable, "-m", "connector", "build", "--dmp",
                             str(ROOT / "tests/data/oru/13_ins_qualified.hl7"),
                             str(ROOT / "tests/data/oru/14_ins_validated_not_qualified.hl7"), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert "no DMP request: the INS is not qualified" in result.stderr  # the second report: said, not written
    folders = sorted(p.parent for p in out.glob("*/dmp-request.mime"))
    assert len(folders) == 1 and len(list(out.iterdir())) == 2
    assert oct(folders[0].joinpath("dmp-request.mime").stat().st_mode & 0o777) == "0o600"
    return folders[0]


def _split(data: bytes) -> tuple[dict[str, str], list[tuple[dict[str, str], bytes]]]:
    head, _, body = data.partition(b"\r\n\r\n")
    first = head.decode("ascii")
    assert first.startswith("Content-Type: multipart/related;") and "\r\n" not in first
    params = dict(re.findall(r'(\S+?)="([^"]*)"', first))
    marker = b"--" + params["boundary"].encode()
    chunks = body.split(marker)
    assert chunks[0] == b"" and chunks[-1].startswith(b"--")
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        raw_headers, _, content = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in raw_headers.decode("ascii").split("\r\n"))
        parts.append((headers, content))
    return params, parts


@pytest.fixture(scope="module")
def request_parts(built: Path) -> tuple[dict[str, str], list[tuple[dict[str, str], bytes]]]:
    return _split((built / "dmp-request.mime").read_bytes())


def _envelope(request_parts: tuple[dict[str, str], list[tuple[dict[str, str], bytes]]]) -> etree._Element:
    params, parts = request_parts
    root_headers, root = next((h, c) for h, c in parts if h["Content-ID"] == params["start"])
    assert root_headers["Content-Type"].startswith("application/xop+xml")
    assert 'type="application/soap+xml"' in root_headers["Content-Type"]
    return etree.fromstring(root, PARSER)


def _attachment(request_parts: tuple[dict[str, str], list[tuple[dict[str, str], bytes]]], href: str) -> bytes:
    return next(c for h, c in request_parts[1] if h["Content-ID"] == f"<{href.removeprefix('cid:')}>")


def test_http_content_type_is_mtom_with_the_iti41_action(request_parts: tuple) -> None:  # type: ignore[type-arg]
    params, parts = request_parts
    assert params["type"] == "application/xop+xml" and params["start-info"] == "application/soap+xml"
    assert params["action"] == ITI41 and len(parts) == 3


def test_soap12_with_ws_addressing(request_parts: tuple) -> None:  # type: ignore[type-arg]
    env = _envelope(request_parts)
    assert env.tag == "{http://www.w3.org/2003/05/soap-envelope}Envelope"
    action = env.find("s:Header/a:Action", NS)
    assert action is not None and action.text == ITI41
    assert action.get("{http://www.w3.org/2003/05/soap-envelope}mustUnderstand") == "true"
    assert (env.findtext("s:Header/a:MessageID", namespaces=NS) or "").startswith("urn:uuid:")
    assert env.findtext("s:Header/a:ReplyTo/a:Address", namespaces=NS) == \
        "http://www.w3.org/2005/08/addressing/anonymous"


def _xmlsec_verify(xml: bytes, cert_b64: str, tmp: Path, *id_attrs: str, ignore_manifests: bool = False) -> None:
    if shutil.which("xmlsec1") is None:
        pytest.skip("xmlsec1 not installed (tests/install-servers.sh installs it)")
    cert = tmp / "cert.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\n" + cert_b64.strip() + "\n-----END CERTIFICATE-----\n")
    doc = tmp / "signed.xml"
    doc.write_bytes(xml)
    args = ["xmlsec1", "--verify", "--pubkey-cert-pem", str(cert)]
    for attr in id_attrs:
        args += ["--id-attr:" + attr.split("@")[0], attr.split("@")[1]]
    if ignore_manifests:
        args.append("--ignore-manifests")
    result = subprocess.run([*args, str(doc)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and "OK" in result.stderr, result.stderr


def test_vihf_attributes_and_signature(request_parts: tuple, tmp_path: Path) -> None:  # type: ignore[type-arg]
    assertion = _envelope(request_parts).find("s:Header/wsse:Security/saml:Assertion", NS)
    assert assertion is not None
    attrs = {a.get("Name"): [(v[0].get("code") if len(v) else v.text) for v in a.iterfind("saml:AttributeValue", NS)]
             for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)}
    assert attrs["Authentification_Mode"] == ["INDIRECTE"]
    assert attrs["Identifiant_Structure"] == ["1999999999"]  # 1 + the demo lab's FINESS
    assert attrs["Secteur_Activite"] == ["SA25^1.2.250.1.71.4.2.4"]
    assert attrs["urn:oasis:names:tc:xacml:2.0:subject:role"] == ["AUTOMATE"]
    resource = attrs["urn:oasis:names:tc:xacml:2.0:resource:resource-id"]
    assert resource == ["285057512004242^^^&1.2.250.1.213.1.4.8&ISO^NH"]
    assert attrs["Ressource_URN"] == ["urn:dmp"]
    assert attrs["urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"] == ["normal"]
    for name in ("VIHF_Version", "LPS_Nom", "LPS_Version", "LPS_ID_HOMOLOGATION_DMP",
                 "urn:oasis:names:tc:xspa:1.0:subject:subject-id"):
        assert attrs[name] and attrs[name][0], name
    assert [etree.QName(c).localname for c in assertion][:2] == ["Issuer", "Signature"]
    cert = assertion.findtext("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) or ""
    _xmlsec_verify(etree.tostring(assertion), cert, tmp_path, "ID@urn:oasis:names:tc:SAML:2.0:assertion:Assertion")


def test_xds_schema_with_xop_resolved(request_parts: tuple, shared_ref: Path) -> None:  # type: ignore[type-arg]
    xsd = shared_ref / "dmp" / "wsdl-schema" / "schema" / "IHE" / "XDS.b_DocumentRepository.xsd"
    if not xsd.is_file():
        pytest.skip(f"the DMP XSDs are absent ({xsd})")
    body = _envelope(request_parts).find("s:Body/xdsb:ProvideAndRegisterDocumentSetRequest", NS)
    assert body is not None
    for include in list(body.iter("{http://www.w3.org/2004/08/xop/include}Include")):
        holder = include.getparent()
        assert holder is not None
        holder.remove(include)
        holder.text = base64.b64encode(_attachment(request_parts, include.get("href", ""))).decode()
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    assert schema.validate(body), schema.error_log.last_error


def test_dmp_metadata_rules_and_byte_equal_cda(request_parts: tuple, built: Path,  # type: ignore[type-arg]
                                               tmp_path: Path) -> None:
    body = _envelope(request_parts).find("s:Body/xdsb:ProvideAndRegisterDocumentSetRequest", NS)
    assert body is not None
    objects = body.find("lcm:SubmitObjectsRequest/rim:RegistryObjectList", NS)
    assert objects is not None
    package = objects.find("rim:RegistryPackage", NS)
    assert package is not None
    entries = {e.get("id"): e for e in objects.iterfind("rim:ExtrinsicObject", NS)}
    assoc = [(a.get("associationType", "").rsplit(":", 1)[-1], a.get("sourceObject"), a.get("targetObject"))
             for a in objects.iterfind("rim:Association", NS)]
    signs = [(s, t) for kind, s, t in assoc if kind == "signs"]
    assert len(entries) == 2 and signs == [(signs[0][0], package.get("id"))]
    signature_id = signs[0][0]
    (document_id,) = set(entries) - {signature_id}
    assert {t for kind, s, t in assoc if kind == "HasMember" and s == package.get("id")} == set(entries)

    def ext(node: etree._Element, scheme: str) -> str:
        found = node.find(f"rim:ExternalIdentifier[@identificationScheme='urn:uuid:{scheme}']", NS)
        return found.get("value", "") if found is not None else ""

    def codes(node: etree._Element, scheme: str) -> list[str]:
        return [c.get("nodeRepresentation", "") for c in
                node.iterfind(f"rim:Classification[@classificationScheme='urn:uuid:{scheme}']", NS)]

    ins = "285057512004242^^^&1.2.250.1.213.1.4.8&ISO^NH"
    assert ext(package, "6b5aea1a-874d-4603-a4bc-96a0a7b38446") == ins
    for entry in entries.values():
        assert ext(entry, "58a6f841-87b3-4a3e-92fd-a8ffeff98427") == ins
        assert PLAIN_OID.match(ext(entry, "2e82c1f6-a085-4c72-9da3-8640a32e42ab"))
        assert codes(entry, "f4f85eac-e6cb-4883-b524-f2705394840f")[0] == "N"
        assert codes(entry, "a09d5840-386c-46f2-b5ad-9c3699a4309d")
    doc, sig = entries[document_id], entries[signature_id]
    assert codes(doc, "a09d5840-386c-46f2-b5ad-9c3699a4309d") == ["urn:ihe:lab:xd-lab:2008"]
    assert codes(sig, "a09d5840-386c-46f2-b5ad-9c3699a4309d") == ["http://www.w3.org/2000/09/xmldsig#"]
    assert codes(doc, "f0306f51-975f-434e-a61c-c59651d33983") == ["11502-2"]
    assert PLAIN_OID.match(ext(package, "96fdda7c-d067-4183-912e-bf5ee74998a8"))

    holders = {d.get("id"): d.find("xop:Include", NS).get("href", "") for d in body.iterfind("xdsb:Document", NS)}
    cda = _attachment(request_parts, holders[document_id])
    assert cda == (built / "cda.xml").read_bytes()  # byte-equal to the cda.xml written beside it
    cda_root = etree.fromstring(cda, PARSER)
    cda_id = cda_root.find("{urn:hl7-org:v3}id")
    assert cda_id is not None and cda_id.get("extension") is None
    assert cda_id.get("root") == ext(doc, "2e82c1f6-a085-4c72-9da3-8640a32e42ab")

    xades = _attachment(request_parts, holders[signature_id])
    sig_root = etree.fromstring(xades, PARSER)
    manifest = {r.get("URI"): r for r in sig_root.iterfind("ds:Object/ds:Manifest/ds:Reference", NS)}
    doc_ref = manifest[f"urn:oid:{cda_id.get('root')}"]
    assert f"urn:oid:{ext(package, '96fdda7c-d067-4183-912e-bf5ee74998a8')}" in manifest
    c14n = etree.tostring(cda_root.getroottree(), method="c14n", with_comments=True)
    assert doc_ref.findtext("ds:DigestValue", namespaces=NS) == base64.b64encode(hashlib.sha256(c14n).digest()).decode()
    cert = sig_root.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS) or ""
    _xmlsec_verify(xades, cert, tmp_path, "Id@Manifest", "Id@http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
                   ignore_manifests=True)
