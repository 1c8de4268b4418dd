"""DMP settings: what cannot work is refused with its key; production refuses test certificates and demo values."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connector.dmp import DmpSettings, SignatureDigest, is_test_certificate, load_credentials, make_demo_pki
from connector.dmp.settings import DEMO_HOMOLOGATION
from connector.errors import ConfigError
from tests.dmp.support import settings_for, write_pki


def _cert(folder: Path, name: str, issuer: str) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                                     x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "1750000001")]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def production(tmp_path: Path) -> DmpSettings:
    auth, auth_key = _cert(tmp_path, "LABO-AUTH", "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    sign, sign_key = _cert(tmp_path, "LABO-SIGN", "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    return settings_for("https://lps2.dmp.gouv.fr/si-dmp-server/v2/services",
                        {"auth_cert_file": auth, "auth_key_file": auth_key, "sign_cert_file": sign,
                         "sign_key_file": sign_key, "ca_file": auth},
                        structure_id="1750000001", homologation_number="CNDA-0001")


def test_production_values_pass(production: DmpSettings) -> None:
    production.check(production=True)
    assert production.repository_url.endswith("/si-dmp-server/v2/services/DocumentRepository_Service")


@pytest.mark.parametrize(("change", "key"), [
    ({"structure_id": "1999999999"}, "dmp.structure_id"),
    ({"homologation_number": DEMO_HOMOLOGATION}, "dmp.homologation_number"),
    ({"base_url": "https://lps.dev9.dmp.gouv.fr/si-dmp-server/v2/services"}, "dmp.base_url"),
    ({"base_url": "https://formation3.lps2.dmp.gouv.fr/x"}, "dmp.base_url"),
    ({"base_url": "https://127.0.0.1:8443/x"}, "dmp.base_url"),
    ({"digest": SignatureDigest.SHA1}, "dmp.digest"),
    ({"ca_file": ""}, "dmp.ca_file"),
])
def test_production_refuses_test_values(production: DmpSettings, change: dict[str, object], key: str) -> None:
    production.check(production=False)  # acceptable on a test platform
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(production, **change).check(production=True, source="c.yaml")  # type: ignore[arg-type]
    assert f"[{key}]" in str(err.value) and str(err.value).startswith("c.yaml")


def test_production_refuses_demo_and_igc_sante_test_certificates(production: DmpSettings, tmp_path: Path) -> None:
    pki = make_demo_pki(structure_id="1750000001", structure_name="Labo")
    demo = write_pki(pki, tmp_path / "demo")
    with pytest.raises(ConfigError, match=r"\[dmp.auth_cert_file\].*TEST or demo"):
        dataclasses.replace(production, auth_cert_file=demo["auth_cert_file"]).check(production=True)
    test_cert, _ = _cert(tmp_path, "LABO", "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS")
    with pytest.raises(ConfigError, match=r"\[dmp.sign_cert_file\]"):
        dataclasses.replace(production, sign_cert_file=test_cert).check(production=True)
    assert is_test_certificate(pki.sign.cert)


def test_the_signature_certificate_cannot_be_the_authentication_one(production: DmpSettings) -> None:
    same = dataclasses.replace(production, sign_cert_file=production.auth_cert_file)
    with pytest.raises(ConfigError, match="ORG SIGN"):
        same.check(production=True)


@pytest.mark.parametrize(("change", "key"), [
    ({"base_url": "http://lps2.dmp.gouv.fr/x"}, "dmp.base_url"),
    ({"repository_suffix": "DocumentRepository_Service"}, "dmp.repository_suffix"),
    ({"structure_id": "1 750"}, "dmp.structure_id"),
    ({"transactions_per_second": 6.0}, "dmp.transactions_per_second"),
    ({"read_timeout": 0.0}, "dmp.read_timeout"),
    ({"software_name": " "}, "dmp.software_name"),
])
def test_values_that_cannot_work_are_refused_in_any_mode(production: DmpSettings, change: dict[str, object],
                                                          key: str) -> None:
    with pytest.raises(ConfigError) as err:
        dataclasses.replace(production, **change).check(production=False)  # type: ignore[arg-type]
    assert f"[{key}]" in str(err.value)


def test_credentials_load_and_the_key_must_match(production: DmpSettings) -> None:
    credentials = load_credentials(production)
    assert credentials.sign_cert.subject.rfc4514_string().startswith("OU=1750000001")
    with pytest.raises(ConfigError, match=r"\[dmp.sign_key_file\].*does not match"):
        load_credentials(dataclasses.replace(production, sign_key_file=production.auth_key_file))
