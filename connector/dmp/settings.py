"""What the DMP feed needs from the lab's configuration: endpoint, structure, software, certificates.

Production refuses what only belongs to tests (dmp.md §2, §8): IGC-Santé TEST or demo
certificates, the demo structure and homologation values, a base URL that is not https,
and a signature certificate that is the mTLS one (the DMP answers DMPInvalidCertificate).
The base URL and the service suffixes are configuration because which suffixes the
current platform uses is not settled (dmp.md §1, §9.3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connector.errors import ConfigError

from .pki import is_test_certificate

__all__ = [
    "DEMO_HOMOLOGATION",
    "DEMO_STRUCTURE_ID",
    "DMP_CIPHERS",
    "DmpCredentials",
    "DmpSettings",
    "SignatureDigest",
    "load_credentials",
]

# PDT-INF-579 v4 (10/07/2025): the only suites the DMP's LPS access accepts, TLS 1.2 only.
DMP_CIPHERS = ("ECDHE-RSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-SHA384",
               "ECDHE-RSA-AES256-GCM-SHA384")
DEMO_STRUCTURE_ID = "1999999999"  # 1 + the demo lab's FINESS
DEMO_HOMOLOGATION = "DEMO-NON-HOMOLOGUE"
_STRUCTURE_ID = re.compile(r"^[0-9A-Za-z]{1,20}$")
_KEY = "dmp"


class SignatureDigest(StrEnum):
    """Digest of the VIHF and XAdES signatures. The 2024 IG example uses SHA-256; the 2019 examples SHA-1
    (whether the DMP still takes SHA-1, or already takes SHA-256 for XAdES, is an open question, dmp.md §9.2)."""

    SHA256 = "sha256"
    SHA1 = "sha1"


@dataclass(frozen=True, kw_only=True)
class DmpSettings:
    """Built by ``connector.config.dmp.dmp_settings`` from the ``dmp:`` section, where the defaults live."""

    base_url: str  # e.g. https://lps2.dmp.gouv.fr/si-dmp-server/v2/services
    repository_suffix: str  # ITI-41
    registry_suffix: str  # ITI-18, ITI-57
    structure_id: str  # Identifiant_Structure = Struct_IdNat (1 + FINESS): must equal the authorInstitution
    structure_name: str
    sector: str  # Secteur_Activite (JDV_J61): SA25, laboratoire de biologie médicale
    responsible_id: str  # VIHF NameID: the person responsible for the automated processing
    software_name: str  # LPS_Nom
    software_version: str  # LPS_Version
    homologation_number: str  # LPS_ID_HOMOLOGATION_DMP, from the CNDA
    lps_id: str  # LPS_ID (optional: "")
    source_oid: str  # XDSSubmissionSet.sourceId: the OID of the sending system (the lab's root)
    auth_cert_file: str  # ORG AUTH_CLI certificate (PEM), mTLS
    auth_key_file: str = field(repr=False)
    sign_cert_file: str  # ORG SIGN certificate (PEM, may be followed by its chain): VIHF + XAdES
    sign_key_file: str = field(repr=False)
    ca_file: str  # the CAs the DMP's server certificate must chain to (IGC-Santé only in production)
    vihf_version: str  # every example says 3.0; the IG table says 4.0 (dmp.md §9.2)
    digest: SignatureDigest
    connect_timeout: float
    read_timeout: float  # after the body was sent: past it, the outcome is unknown and checked by TD3.1b
    transactions_per_second: float  # DMP ceiling per structure + software: at most 5

    @property
    def repository_url(self) -> str:
        return self.base_url.rstrip("/") + self.repository_suffix

    @property
    def registry_url(self) -> str:
        return self.base_url.rstrip("/") + self.registry_suffix

    def check(self, *, production: bool, source: str = "") -> None:
        """ConfigError naming the ``dmp.*`` key for a value that cannot work (or is a test value in production)."""

        def fail(message: str, key: str) -> None:
            raise ConfigError(message, path=source, key=f"{_KEY}.{key}")

        url = urlsplit(self.base_url)
        if url.scheme != "https" or not url.hostname:
            fail("expected an https:// base URL of the DMP web services", "base_url")
        for key in ("repository_suffix", "registry_suffix"):
            if not getattr(self, key).startswith("/"):
                fail("expected a path starting with /", key)
        if not _STRUCTURE_ID.match(self.structure_id):
            fail("expected the structure's national id (Struct_IdNat, e.g. 1 + FINESS)", "structure_id")
        for key in ("structure_name", "responsible_id", "software_name", "software_version", "homologation_number",
                    "source_oid"):
            if not getattr(self, key).strip():
                fail("expected a value", key)
        if not 0 < self.transactions_per_second <= 5:
            fail("expected at most 5 transactions per second (the DMP's ceiling per structure)",
                 "transactions_per_second")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            fail("expected timeouts above 0 seconds", "read_timeout" if self.connect_timeout > 0 else "connect_timeout")
        if not production:
            return
        if self.structure_id == DEMO_STRUCTURE_ID:
            fail("the demo structure id cannot be used in production", "structure_id")
        if self.homologation_number == DEMO_HOMOLOGATION:
            fail("the DMP homologation number given by the CNDA is required in production", "homologation_number")
        host = url.hostname or ""
        if host in ("localhost", "127.0.0.1", "::1") or re.search(r"(^|\.)(dev\d*|formation\d*)\.", host):
            fail("a test or training DMP host cannot be used in production", "base_url")
        if self.digest is SignatureDigest.SHA1:
            fail("SHA-1 signatures are for the test platform only", "digest")
        auth = _read_cert(self.auth_cert_file, "auth_cert_file", source)
        sign = _read_cert(self.sign_cert_file, "sign_cert_file", source)
        for key, cert in (("auth_cert_file", auth), ("sign_cert_file", sign)):
            if is_test_certificate(cert):
                fail("an IGC-Santé TEST or demo certificate cannot be used in production", key)
        if auth.public_key() == sign.public_key():
            fail("the signature certificate must be the ORG SIGN one, not the authentication certificate",
                 "sign_cert_file")
        if not self.ca_file:
            fail("a CA bundle (IGC-Santé) is required in production", "ca_file")


@dataclass(frozen=True, slots=True)
class DmpCredentials:
    """The signature key and certificate chain, loaded once (the mTLS files stay paths: ssl reads them)."""

    sign_key: rsa.RSAPrivateKey = field(repr=False)
    sign_chain: tuple[x509.Certificate, ...]  # the signing certificate first

    @property
    def sign_cert(self) -> x509.Certificate:
        return self.sign_chain[0]


def _read_cert(path: str, key: str, source: str) -> x509.Certificate:
    return _read_chain(path, key, source)[0]


def _read_chain(path: str, key: str, source: str) -> tuple[x509.Certificate, ...]:
    try:
        chain = tuple(x509.load_pem_x509_certificates(Path(path).read_bytes()))
    except (OSError, ValueError):
        raise ConfigError("expected a readable PEM certificate file", path=source, key=f"{_KEY}.{key}") from None
    return chain


def load_credentials(settings: DmpSettings, *, source: str = "") -> DmpCredentials:
    chain = _read_chain(settings.sign_cert_file, "sign_cert_file", source)
    try:
        key = serialization.load_pem_private_key(Path(settings.sign_key_file).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        raise ConfigError("expected a readable, unencrypted PEM private key", path=source,
                          key=f"{_KEY}.sign_key_file") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError("expected an RSA key (IGC-Santé organisation certificates are RSA)", path=source,
                          key=f"{_KEY}.sign_key_file")
    if key.public_key() != chain[0].public_key():
        raise ConfigError("the key does not match the signature certificate", path=source,
                          key=f"{_KEY}.sign_key_file")
    return DmpCredentials(sign_key=key, sign_chain=chain)
