"""deploy/connector.service: well-formed, sandboxed, and matching the example configuration.

systemd-analyze is not assumed to exist where tests run, so the unit is read as INI-ish
``Key=value`` lines (repeated keys accumulate, as systemd does for list settings).
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

from connector.config import load_config

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "connector.service"
EXAMPLE = ROOT / "config" / "connector.example.yaml"
KEY = re.compile(r"^[A-Z][A-Za-z0-9]*$")

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    sections: Unit = {}
    current: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.replace("\\\n", " ").splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert current is not None, f"line {number}: a setting before any [Section]"
        assert sep and KEY.match(key.strip()), f"line {number}: expected Key=value, got {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


@pytest.fixture(scope="module")
def unit() -> Unit:
    return parse_unit(UNIT.read_text(encoding="utf-8"))


def _one(unit: Unit, key: str) -> str:
    values = unit["Service"].get(key)
    assert values, f"[Service] {key}= is missing"
    assert len(set(values)) == 1, f"[Service] {key}= is set to different values: {values}"
    return values[0]


def test_the_parser_rejects_garbage() -> None:
    with pytest.raises(AssertionError, match="Key=value"):
        parse_unit("[Service]\nthis is not a setting\n")


def test_sections(unit: Unit) -> None:
    assert {"Unit", "Service", "Install"} <= set(unit)
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize(("key", "expected"), [
    ("User", "connector"),
    ("ProtectSystem", "strict"),
    ("PrivateTmp", "yes"),
    ("NoNewPrivileges", "yes"),
    ("ProtectHome", "yes"),
    ("UMask", "0077"),
    ("CapabilityBoundingSet", ""),
    ("Restart", "on-failure"),
    ("KillSignal", "SIGTERM"),
])
def test_sandboxing_keys(unit: Unit, key: str, expected: str) -> None:
    assert _one(unit, key) == expected


def test_address_families_and_system_calls(unit: Unit) -> None:
    assert set(_one(unit, "RestrictAddressFamilies").split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert "@system-service" in unit["Service"]["SystemCallFilter"]


def test_stop_timeout_covers_a_graceful_stop(unit: Unit) -> None:
    value = _one(unit, "TimeoutStopSec")
    seconds = int(value.removesuffix("s")) if not value.endswith("min") else int(value[:-3]) * 60
    assert seconds >= 60, "an SMTP submission (30 s timeout) and an IMAP poll must be able to finish"


def test_exec_start_runs_the_service_with_the_etc_config(unit: Unit) -> None:
    exec_start = _one(unit, "ExecStart").split()
    assert PurePosixPath(exec_start[0]).name == "connector" and PurePosixPath(exec_start[0]).is_absolute()
    assert exec_start[1:] == ["run", "--config", "/etc/connector/connector.yaml"]


def test_every_folder_the_example_config_writes_is_writable(unit: Unit) -> None:
    writable = [PurePosixPath(p.lstrip("-")) for v in unit["Service"]["ReadWritePaths"] for p in v.split()]
    writable += [PurePosixPath("/var/lib") / d for v in unit["Service"].get("StateDirectory", []) for d in v.split()]
    config = load_config(EXAMPLE)
    folder = config.intake.folder
    needed = [config.data_dir, folder.drop, folder.archive, folder.quarantine, config.sil.zam_folder]
    for path in filter(None, needed):
        assert any(PurePosixPath(path).is_relative_to(w) for w in writable), f"{path} is read-only under the unit"
