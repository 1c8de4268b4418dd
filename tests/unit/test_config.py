"""Configuration errors name file, line, key and what was expected; production refuses unsafe settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import load_config, parse_config
from connector.config.settings import imap_settings, secret
from connector.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads() -> None:
    config = load_config(ROOT / "config" / "connector.example.yaml")
    assert config.production and config.lab.finess


def test_imap_implicit_tls_and_timeout_reach_the_mailbox_settings() -> None:
    config = parse_config("mode: test\nimap: {port: 993, starttls: false, timeout: 12, username: u}\n", source="c.yaml")
    settings = imap_settings(config)
    assert (settings.port, settings.starttls, settings.timeout) == (993, False, 12.0)
    assert imap_settings(parse_config("mode: test\n", source="c.yaml")).starttls  # STARTTLS by default


def test_drop_folder_file_names_can_be_kept_out_of_the_logs() -> None:
    assert parse_config("mode: test\n", source="c.yaml").intake.folder.log_names
    config = parse_config("mode: test\nintake: {folder: {log_names: false}}\n", source="c.yaml")
    assert config.intake.folder.log_names is False


def test_unknown_key_names_line_and_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("mode: test\nsmtp:\n  hots: x\n", source="c.yaml")
    assert str(err.value).startswith("c.yaml:3 [smtp.hots]: unknown key")


def test_wrong_type_names_expectation() -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:2 \[smtp.port\]: expected a number"):
        parse_config("mode: test\nsmtp: {port: twenty}\n", source="c.yaml")


def test_yaml_syntax_error_has_a_line() -> None:
    with pytest.raises(ConfigError, match=r"c.yaml:3: not valid YAML"):
        parse_config("mode: test\nsmtp: [a, b\nlab: {}\n", source="c.yaml")


@pytest.mark.parametrize("text, key", [
    ("smtp: {tls: {cafile: ca.pem, verify: false}}", "smtp.tls.verify"),
    ("smtp: {tls: {cafile: ca.pem}}\nidentity: {allow_test_ins: true}", "identity.allow_test_ins"),
    ("smtp: {port: 587}", "smtp.tls.cafile"),
])
def test_production_refuses_unsafe_settings(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"\[{key}\]"):
        parse_config("mode: production\n" + text, source="c.yaml")


def test_secrets_come_from_environment_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    config = parse_config("mode: test\nsmtp: {password_file: pw}\n", base_dir=tmp_path)
    assert secret(config, config.smtp.password_file, "CONNECTOR_SMTP_PASSWORD") == "from-file"
    monkeypatch.setenv("CONNECTOR_SMTP_PASSWORD", "from-env")
    assert secret(config, config.smtp.password_file, "CONNECTOR_SMTP_PASSWORD") == "from-env"
