"""The one SSLContext factory: verification on, TLS >= 1.2, trust limited to cafile, production guards."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import trustme

from connector.errors import ConfigError
from connector.send import create_ssl_context
from tests.support.settings import tls_settings


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    leaf = ca.issue_cert("labo@labo.test")
    leaf.cert_chain_pems[0].write_to_path(str(tmp_path / "client.crt"))
    leaf.private_key_pem.write_to_path(str(tmp_path / "client.key"))
    (tmp_path / "client.key").chmod(0o600)
    return {"ca": tmp_path / "ca.pem", "cert": tmp_path / "client.crt", "key": tmp_path / "client.key"}


def test_context_verifies_and_requires_tls12(files: dict[str, Path]) -> None:
    ctx = create_ssl_context(
        tls_settings(cafile=files["ca"], certfile=files["cert"], keyfile=files["key"]), production=True
    )
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(ctx.get_ca_certs()) == 1  # the given CA only, not the system store


def test_verify_false_refused_in_production(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="verification"):
        create_ssl_context(
            tls_settings(cafile=files["ca"], certfile=files["cert"], keyfile=files["key"], verify=False),
            production=True,
        )


def test_verify_false_allowed_for_demo(files: dict[str, Path]) -> None:
    ctx = create_ssl_context(tls_settings(cafile=files["ca"], verify=False), production=False)
    assert ctx.verify_mode is ssl.CERT_NONE


def test_production_needs_a_client_certificate(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="client certificate"):
        create_ssl_context(tls_settings(cafile=files["ca"]), production=True)


def test_group_readable_key_refused_in_production(files: dict[str, Path]) -> None:
    files["key"].chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        create_ssl_context(
            tls_settings(cafile=files["ca"], certfile=files["cert"], keyfile=files["key"]), production=True
        )


def test_missing_or_bad_files_are_config_errors(files: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tls\.cafile"):
        create_ssl_context(tls_settings(cafile=tmp_path / "absent.pem"), production=False)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"tls\.cafile"):
        create_ssl_context(tls_settings(cafile=tmp_path / "junk.pem"), production=False)
    with pytest.raises(ConfigError, match=r"tls\.certfile"):
        create_ssl_context(
            tls_settings(cafile=files["ca"], certfile=files["ca"], keyfile=files["key"]), production=False
        )
