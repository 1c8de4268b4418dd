"""Lab IT breaks a mapping file while the service runs: the edit is refused with file:line, the service
keeps running on the last good version, and `connector mappings check --dir` says the same, exit 1."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.paths import E2E
from tests.support.service import ServiceProcess, Site, cli, wait_for, write_site

# The service looks at the mapping files every 5 s (connector.service.RELOAD_INTERVAL_SECONDS).
RELOAD_TIMEOUT_SECONDS = 15.0
GOOD_LINE = "    unit: 10*9/L          # le SIL envoie G/L (voir units.yaml)"


def break_unit(path: Path) -> int:
    """Write the G/L trap (UCUM gauss per litre) in place of 10*9/L; the 1-based line changed."""
    lines = path.read_text(encoding="utf-8").split("\n")
    index = lines.index(GOOD_LINE)
    lines[index] = "    unit: G/L"
    path.write_text("\n".join(lines), encoding="utf-8")
    return index + 1


@pytest.mark.parametrize("breakage", ["ucum_trap", "invalid_yaml"])
def test_broken_mapping_is_refused_with_file_line_and_the_service_keeps_running(
        tmp_path: Path, service_factory: Callable[[Site], ServiceProcess], breakage: str) -> None:
    site = write_site(tmp_path, None)
    service = service_factory(site)
    target = site.mappings / "hematologie.yaml"
    time.sleep(1.1)  # a different mtime even on a coarse file system
    if breakage == "ucum_trap":
        line = break_unit(target)
        where = f"hematologie.yaml:{line}"
    else:
        text = target.read_text(encoding="utf-8")
        target.write_text(text + "\ntests: [unclosed\n", encoding="utf-8")
        where = "hematologie.yaml:"

    rejected = wait_for(lambda: service.has_event("mappings.rejected"), timeout=RELOAD_TIMEOUT_SECONDS,
                        what="the mappings.rejected log line")
    assert where in rejected["reason"], rejected
    assert service.proc is not None and service.proc.poll() is None, "the service must keep running"
    assert not service.has_event("mappings.reloaded")

    # The last good mappings still build reports (no SMTP here: built, then waiting for a server).
    site.drop_file("report.hl7", (E2E / "three_recipients.hl7").read_bytes())
    wait_for(lambda: site.query("SELECT 1 FROM reports WHERE message_id IS NOT NULL"), timeout=15,
             what="the report built with the last good mappings")

    check = cli("mappings", "check", "--dir", site.mappings, "--config", site.config)
    assert check.returncode == 1, check.stdout + check.stderr
    assert where in check.stdout
    if breakage == "ucum_trap":
        assert "[tests.GB.unit]" in check.stdout and "10*9/L" in check.stdout

    assert service.stop() == 0
    assert "Traceback" not in service.stderr()
