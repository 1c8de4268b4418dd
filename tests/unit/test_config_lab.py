"""The lab's new keys: an IANA time zone, the biologist stand-in switch, distinct identifier OIDs."""

from __future__ import annotations

import pytest

from connector.config import parse_config
from connector.config.settings import lab_identity
from connector.errors import ConfigError


def test_defaults_are_europe_paris_and_no_standin() -> None:
    lab = lab_identity(parse_config("mode: test\n", source="c.yaml"))
    assert lab.timezone == "Europe/Paris" and lab.biologist_standin is False


def test_the_old_fixed_offset_still_loads() -> None:
    assert parse_config("mode: test\nlab: {timezone: '+0100'}\n", source="c.yaml").lab.timezone == "+0100"


@pytest.mark.parametrize(("text", "key", "expected"), [
    ("lab:\n  timezone: Europe/Pari\n", "lab.timezone", "IANA time zone"),
    ("lab:\n  biologist_standin: true\n", "lab.biologist_standin", "biologist_rpps"),
    ("lab:\n  oid_root: 1.2.250.1.9\n  ipp_oid: 1.2.250.1.9.5\n", "lab.ipp_oid", "practitioner"),
])
def test_errors_name_line_key_and_expectation(text: str, key: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config("mode: test\n" + text, source="c.yaml")
    message = str(error.value)
    assert message.startswith("c.yaml:") and f"[{key}]" in message and expected in message


def test_standin_with_a_biologist_reaches_the_lab_identity() -> None:
    config = parse_config("mode: test\nlab: {biologist_standin: true, biologist_rpps: '10000000002'}\n",
                          source="c.yaml")
    assert lab_identity(config).biologist_standin
