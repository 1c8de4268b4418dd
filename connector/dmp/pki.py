"""A throwaway organisation PKI for the demo and the tests, made in memory at run time (never shipped).

IGC-Santé gives a structure two organisation certificates with the same subject DN: an
"authentification client" one (ORG AUTH_CLI, for mTLS) and a "signature/cachet" one
(ORG SIGN, for the VIHF and XAdES signatures). :func:`make_demo_pki` issues the same pair,
plus a server certificate for a loopback DMP double, from a demo CA whose name says it is
not IGC-Santé, so that production refuses it (:func:`is_test_certificate`).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEMO_CA_MARK", "DemoPki", "IssuedCert", "is_test_certificate", "make_demo_pki", "pem_of_key"]

# The organisational unit every demo certificate carries: production refuses it.
DEMO_CA_MARK = "DEMO lab-results-connector (not IGC-Sante)"
# IGC-Santé's test authorities are named "TEST AC IGC-SANTE …", OU "IGC-SANTE TEST".
_TEST_WORDS = ("TEST", "DEMO")


@dataclass(frozen=True, slots=True)
class IssuedCert:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey = field(repr=False)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return pem_of_key(self.key)


@dataclass(frozen=True, slots=True)
class DemoPki:
    """``ca`` signs the rest; ``auth`` and ``sign`` share the organisation's DN, ``server`` is for loopback."""

    ca: IssuedCert
    auth: IssuedCert
    sign: IssuedCert
    server: IssuedCert


def pem_of_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common: str, unit: str, org: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
        x509.NameAttribute(NameOID.COMMON_NAME, common),
    ])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _issue(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: IssuedCert | None, *,
           extensions: list[tuple[x509.ExtensionType, bool]], now: datetime.datetime) -> IssuedCert:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    for ext, critical in extensions:
        builder = builder.add_extension(ext, critical=critical)
    cert = builder.sign((issuer.key if issuer else key), hashes.SHA256())
    return IssuedCert(cert, key)


def _usage(*, signature: bool, non_repudiation: bool, encipherment: bool, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signature, content_commitment=non_repudiation,
                         key_encipherment=encipherment, data_encipherment=False, key_agreement=False,
                         key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False)


def make_demo_pki(*, structure_id: str, structure_name: str,
                  now: datetime.datetime | None = None) -> DemoPki:
    """A demo CA and the organisation's AUTH_CLI + SIGN pair (same DN, OU = the structure id), plus a server cert."""
    now = now or datetime.datetime.now(datetime.UTC)
    ca_key = _key()
    ca = _issue(_name("DEMO AC ORGANISATIONS", DEMO_CA_MARK, "lab-results-connector"), ca_key, None, now=now,
                extensions=[(x509.BasicConstraints(ca=True, path_length=0), True),
                            (_usage(signature=False, non_repudiation=False, encipherment=False, cert_sign=True),
                             True)])
    org = _name(structure_name, structure_id, DEMO_CA_MARK)
    leaf = (x509.BasicConstraints(ca=False, path_length=None), True)
    auth = _issue(org, _key(), ca, now=now, extensions=[
        leaf, (_usage(signature=True, non_repudiation=False, encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])
    sign = _issue(org, _key(), ca, now=now, extensions=[
        leaf, (_usage(signature=True, non_repudiation=True, encipherment=False), True)])
    server = _issue(_name("localhost", DEMO_CA_MARK, "DMP double"), _key(), ca, now=now, extensions=[
        leaf, (_usage(signature=True, non_repudiation=False, encipherment=True), True),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)])
    return DemoPki(ca=ca, auth=auth, sign=sign, server=server)


def is_test_certificate(cert: x509.Certificate) -> bool:
    """True for IGC-Santé TEST authorities' certificates and for our demo ones (refused in production)."""
    for name in (cert.issuer, cert.subject):
        for attr in name:
            if attr.oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME, NameOID.ORGANIZATION_NAME):
                value = str(attr.value).upper()
                if any(word in value.split() or value.startswith(word + " ") for word in _TEST_WORDS):
                    return True
    return False
