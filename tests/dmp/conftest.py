"""Fixtures of the DMP double (API documented in tests/dmp/README.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.dmp import DmpClient, DmpCredentials, DmpSettings, RateLimiter
from connector.dmp.pki import DemoPki, make_demo_pki
from tests.dmp.double import DmpDouble
from tests.dmp.support import credentials_of, lab, settings_for, write_pki


@pytest.fixture(scope="session")
def dmp_ref(shared_ref: Path) -> Path:
    path = shared_ref / "dmp"
    if not (path / "wsdl-schema").is_dir() or not (path / "examples").is_dir():
        pytest.skip(f"the DMP reference artefacts are absent ({path})")
    return path


@pytest.fixture(scope="session")
def dmp_pki() -> DemoPki:
    lab_identity = lab()
    return make_demo_pki(structure_id="1" + lab_identity.finess, structure_name=lab_identity.name)


@pytest.fixture(scope="session")
def other_pki() -> DemoPki:
    """A second CA nobody trusts: its certificates are refused by both sides."""
    return make_demo_pki(structure_id="1000000000", structure_name="Autre structure")


@pytest.fixture
def dmp_double(dmp_ref: Path, dmp_pki: DemoPki, other_pki: DemoPki, tmp_path: Path) -> Iterator[DmpDouble]:
    double = DmpDouble(ca=dmp_pki.ca.cert, server_cert_pem=dmp_pki.server.cert_pem,
                       server_key_pem=dmp_pki.server.key_pem, scratch=tmp_path / "double", ref=dmp_ref,
                       untrusted_cert_pem=other_pki.server.cert_pem, untrusted_key_pem=other_pki.server.key_pem,
                       answer_delay=1.6)
    with double:
        yield double


@pytest.fixture
def dmp_pki_files(dmp_pki: DemoPki, tmp_path: Path) -> dict[str, str]:
    return write_pki(dmp_pki, tmp_path / "pki")


@pytest.fixture
def dmp_settings(dmp_double: DmpDouble, dmp_pki_files: dict[str, str]) -> DmpSettings:
    return settings_for(dmp_double.base_url, dmp_pki_files)


@pytest.fixture
def dmp_credentials(dmp_pki: DemoPki) -> DmpCredentials:
    return credentials_of(dmp_pki)


@pytest.fixture
def dmp_client(dmp_settings: DmpSettings, dmp_credentials: DmpCredentials) -> Iterator[DmpClient]:
    # A limiter of its own at the DMP's rate: tests do not wait on each other's bookings.
    client = DmpClient(dmp_settings, dmp_credentials, limiter=RateLimiter(dmp_settings.transactions_per_second))
    yield client
    client.close()
