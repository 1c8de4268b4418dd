"""Issue 13, observation 10: configuration traps are refused when the file is read, naming line and key.

A duplicate key silently ran the last value (``mode: production`` then ``mode: test``: test mode); an
alias bomb ended in "internal MemoryError" with an empty log; port 70000, ``max_connections: 0``,
negative timeouts and sizes, a garbage OID or time zone, a password file readable by others and a
production IMAP without CA were accepted and failed later, or never.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import parse_config
from connector.errors import ConfigError

PRODUCTION = ("mode: production\nsmtp:\n  tls: {cafile: ca.pem}\n")


def refused(text: str, tmp_path: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="c.yaml", base_dir=tmp_path)
    return caught.value


def test_a_duplicate_key_names_both_lines() -> None:
    error = refused("mode: production\ndata_dir: var\nmode: test\n")
    assert error.line == 3 and error.key == "mode" and "line 1" in str(error) and "line 3" in str(error)


def test_a_duplicate_key_in_a_section_or_a_map_is_refused_too() -> None:
    assert refused("intake:\n  mllp:\n    port: 2575\n    port: 2576\n").key == "intake.mllp.port"
    assert refused("identity:\n  status_map: {QUAL: QUAL, QUAL: PROV}\n").key.startswith("identity.status_map")


def test_an_alias_bomb_is_refused_at_once_naming_a_line() -> None:
    lines = ['a0: &a0 "lol"'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = "identity:\n  status_map:\n" + "".join(f"    {line}\n" for line in lines)
    error = refused(bomb)
    assert error.line is not None and 3 <= error.line <= 12 and "aliases" in str(error)


def test_an_alias_that_repeats_a_block_is_still_fine(tmp_path: Path) -> None:
    """yaml.safe_dump writes one shared TLS section as &id001 / *id001: that is not a bomb."""
    text = ("mode: test\nsmtp:\n  tls: &tls {cafile: ca.pem, certfile: c.pem}\n"
            "imap:\n  enabled: false\n  tls: *tls\n")
    assert parse_config(text, base_dir=tmp_path).imap.tls.certfile == "c.pem"


@pytest.mark.parametrize("text, key", [
    ("intake:\n  mllp:\n    port: 70000\n", "intake.mllp.port"),
    ("smtp:\n  port: 0\n", "smtp.port"),
    ("metrics:\n  port: -1\n", "metrics.port"),
    ("intake:\n  mllp:\n    max_connections: 0\n", "intake.mllp.max_connections"),
    ("intake:\n  mllp:\n    max_connections: 4\n    max_connections_per_peer: 8\n",
     "intake.mllp.max_connections_per_peer"),
    ("intake:\n  mllp:\n    idle_timeout: -5\n", "intake.mllp.idle_timeout"),
    ("smtp:\n  timeout: .nan\n", "smtp.timeout"),
    ("imap:\n  poll_seconds: 0\n", "imap.poll_seconds"),
    ("intake:\n  folder:\n    stable_seconds: -1\n", "intake.folder.stable_seconds"),
    ("intake:\n  max_message_bytes: -1\n", "intake.max_message_bytes"),
    ("intake:\n  max_message_bytes: 67108864\n", "intake.max_message_bytes"),  # 64 MiB: over the ceiling
    ("retry:\n  first_seconds: 60\n  max_seconds: 10\n", "retry.max_seconds"),
    ("build:\n  budget_seconds: 0\n", "build.budget_seconds"),
    ("lab:\n  oid_root: not.an.oid\n", "lab.oid_root"),
    ("lab:\n  ipp_oid: 1.2.250.01\n", "lab.ipp_oid"),
    ('lab:\n  timezone: "Europe/Paris"\n', "lab.timezone"),
    ('lab:\n  timezone: "+2500"\n', "lab.timezone"),
    ("sil:\n  zam_host: sil.example\n", "sil.zam_port"),
    ("identity:\n  charset_fallback: {SIL: not-a-codec}\n", "identity.charset_fallback"),
])
def test_values_that_cannot_work_are_refused_naming_the_key(text: str, key: str) -> None:
    error = refused(text)
    assert error.key == key and "expected" in str(error) and error.line is not None


@given(port=st.integers(min_value=-(2**20), max_value=2**20))
def test_any_port_outside_1_to_65535_is_refused(port: int) -> None:
    text = f"mode: test\nintake:\n  mllp:\n    port: {port}\n"
    if 1 <= port <= 65535:
        assert parse_config(text).intake.mllp.port == port
    else:
        assert refused(text).key == "intake.mllp.port"


def test_a_password_file_readable_by_others_is_refused_in_production(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-")
    secret = tmp_path / "imap.secret"
    secret.write_text("s3cret")
    secret.chmod(0o644)
    error = refused(PRODUCTION + "imap:\n  enabled: false\n  password_file: imap.secret\n", tmp_path)
    assert error.key == "imap.password_file" and "chmod 600" in str(error) and "s3cret" not in str(error)
    secret.chmod(0o600)
    parse_config(PRODUCTION + "imap:\n  enabled: false\n  password_file: imap.secret\n", base_dir=tmp_path)


def test_a_missing_password_file_is_refused(tmp_path: Path) -> None:
    assert refused("mode: test\nsmtp:\n  password_file: nowhere.secret\n", tmp_path).key == "smtp.password_file"


def test_production_imap_needs_its_ca_like_smtp() -> None:
    assert refused(PRODUCTION + "imap:\n  enabled: true\n").key == "imap.tls.cafile"


def test_the_example_configuration_still_loads() -> None:
    from connector.config import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "connector.example.yaml")
    assert config.intake.mllp.max_connections_per_peer <= config.intake.mllp.max_connections
