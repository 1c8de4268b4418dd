"""The ``dmp:`` section: defaults written once (config/schema.py), taken from ``lab:`` where empty, refused with
file, line and key when they cannot work, and in production when they are test or demo values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from connector.config import DmpConfig, parse_config
from connector.config.settings import dmp_settings
from connector.dmp import DmpSettings, SignatureDigest, make_demo_pki
from connector.dmp.pki import DemoPki
from connector.errors import ConfigError
from tests.dmp.support import write_pki


@pytest.fixture(scope="module")
def pki() -> DemoPki:
    return make_demo_pki(structure_id="1999999999", structure_name="Laboratoire de démonstration")


def _config(tmp_path: Path, pki: DemoPki, *, mode: str = "test", **dmp: object) -> str:
    files = write_pki(pki, tmp_path / "pki")
    (tmp_path / "ca.pem").write_bytes(pki.ca.cert_pem)
    section = {"enabled": True, "base_url": "https://dmp.test/si-dmp-server/v2/services",
               "homologation_number": "HOMOLOGATION-1", "responsible_id": "810000000002", **files, **dmp}
    return yaml.safe_dump({"mode": mode, "smtp": {"tls": {"cafile": str(tmp_path / "ca.pem")}}, "dmp": section})


def test_every_setting_has_its_default_once_in_the_schema() -> None:
    configured = {f.name for f in dataclasses.fields(DmpConfig)} - {"enabled", "discrete_feed"}
    assert configured == {f.name for f in dataclasses.fields(DmpSettings)}
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(DmpSettings))


def test_empty_values_come_from_the_lab_section() -> None:
    config = parse_config("mode: test\nlab: {finess: '123456789', name: Labo X, oid_root: 1.2.250.1.5, "
                          "biologist_rpps: '10000000002'}\n", source="c.yaml")
    settings = dmp_settings(config)
    assert (settings.structure_id, settings.structure_name, settings.source_oid) == ("1123456789", "Labo X",
                                                                                      "1.2.250.1.5")
    assert settings.responsible_id == "810000000002" and settings.software_name == "lab-results-connector"
    assert settings.digest is SignatureDigest.SHA256 and settings.transactions_per_second == 5.0
    given_values = parse_config("mode: test\ndmp: {structure_id: '1000000001', software_name: LIS-X}\n")
    assert (dmp_settings(given_values).structure_id, dmp_settings(given_values).software_name) == ("1000000001",
                                                                                                    "LIS-X")


def test_a_disabled_feed_needs_nothing(tmp_path: Path) -> None:
    config = parse_config("mode: production\nsmtp: {tls: {cafile: ca.pem}}\n", source="c.yaml")
    assert not config.dmp.enabled and not config.dmp.discrete_feed


def test_an_enabled_feed_in_test_mode_with_the_demo_pki(tmp_path: Path, pki: DemoPki) -> None:
    config = parse_config(_config(tmp_path, pki), source="c.yaml")
    assert config.dmp.enabled and dmp_settings(config).auth_cert_file.endswith("auth_cert.pem")


@pytest.mark.parametrize(("change", "key", "words"), [
    ({"base_url": "http://dmp.test/x"}, "dmp.base_url", "https://"),
    ({"repository_suffix": "DocumentRepository_Service"}, "dmp.repository_suffix", "starting with /"),
    ({"transactions_per_second": 6}, "dmp.transactions_per_second", "at most 5"),
    ({"digest": "md5"}, "dmp.digest", "sha256, sha1"),
    ({"read_timeout": -1}, "dmp.read_timeout", "greater than 0"),
    ({"homologation_number": ""}, "dmp.homologation_number", "expected a value"),
    ({"structure_id": "1 999"}, "dmp.structure_id", "Struct_IdNat"),
])
def test_values_that_cannot_work_are_refused_with_their_line(tmp_path: Path, pki: DemoPki,
                                                             change: dict[str, object], key: str, words: str) -> None:
    text = _config(tmp_path, pki, **change)
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="c.yaml")
    assert err.value.key == key and words in str(err.value)
    subkey = key.split(".")[1]
    assert err.value.line == next(n for n, t in enumerate(text.splitlines(), 1) if t.startswith(f"  {subkey}:"))


@pytest.mark.parametrize(("change", "key"), [
    ({"structure_id": "1999999999"}, "dmp.structure_id"),  # the demo lab's structure
    ({"structure_id": "1123456789", "base_url": "https://formation1.lps2.dmp.gouv.fr/x"}, "dmp.base_url"),
    ({"structure_id": "1123456789", "digest": "sha1"}, "dmp.digest"),
    ({"structure_id": "1123456789"}, "dmp.auth_cert_file"),  # a demo certificate
])
def test_production_refuses_test_and_demo_values_naming_the_key(tmp_path: Path, pki: DemoPki,
                                                                change: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_config(tmp_path, pki, mode="production", **change), source="c.yaml")
    assert err.value.key == key and err.value.line is not None


@given(rate=st.floats(-10, 10).map(lambda x: round(x, 3)) | st.sampled_from([0.0, 5.0, 5.001, 1e-3]))
def test_only_a_rate_within_the_dmp_ceiling_is_taken(rate: float) -> None:
    text = (f"mode: test\ndmp: {{enabled: true, base_url: 'https://dmp.test', homologation_number: H, "
            f"responsible_id: R, transactions_per_second: {rate:.3f}}}\n")
    if 0 < rate <= 5:
        assert parse_config(text, source="c.yaml").dmp.transactions_per_second == rate
    else:
        with pytest.raises(ConfigError, match="transactions_per_second"):
            parse_config(text, source="c.yaml")
