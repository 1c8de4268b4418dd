"""Issue 12 at start: production refuses to run without the ANS kit unless validation is turned off,
which is then said at every start and by `connector status`.

The service is the real `connector run` subprocess on a production configuration; nothing is sent
(no report is dropped), so the SMTP side only needs its CA file to exist.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import trustme
import yaml

from connector.cli.common import EXIT_OK, EXIT_USAGE
from tests.support.logs import json_lines
from tests.support.paths import ROOT
from tests.support.service import START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS, cli, cli_env, wait_for


def _production_site(base: Path, **validation: object) -> Path:
    """A production configuration that passes every other start check: CA file, intake and metrics off."""
    (base / "var").mkdir(mode=0o700)
    ca, client = base / "ca.pem", base / "client.pem"
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(ca))
    authority.issue_cert("labo@labo.test").private_key_and_cert_chain_pem.write_to_path(str(client))
    client.chmod(0o600)
    config: dict[str, object] = {
        "mode": "production", "data_dir": "var",
        "intake": {"folder": {"enabled": False}, "mllp": {"enabled": False}},
        "metrics": {"enabled": False},
        "smtp": {"host": "127.0.0.1", "port": 1, "tls": {"cafile": str(ca), "certfile": str(client)}},
    }
    if validation:
        config["validation"] = validation
    path = base / "connector.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _events(log: Path) -> list[str]:
    return [line.get("event", "") for line in json_lines(log.read_text(encoding="utf-8"))] if log.exists() else []


def _run_once(config: Path, log: Path) -> list[str]:
    """Start `connector run`, wait for service.started, stop it with SIGTERM; the events it logged."""
    with log.open("xb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "connector", "run", "--config", str(config)], cwd=ROOT,
                                env=cli_env(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_for(lambda: "service.started" in _events(log) or proc.poll() is not None,
                 timeout=START_TIMEOUT_SECONDS, what="service.started")
        assert proc.poll() is None, f"the service exited {proc.returncode}: {log.read_text()[-2000:]}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    return _events(log)


def test_production_refuses_to_start_without_the_kit(tmp_path: Path) -> None:
    config = _production_site(tmp_path)
    result = cli("run", "--config", config)
    assert result.returncode == EXIT_USAGE, result.stderr
    kit = tmp_path / "var" / "ans-kit"
    assert str(kit) in result.stderr  # where it looked: the data directory's kit
    assert "connector kit install" in result.stderr and "validation.mode: off" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "connector.sqlite").exists()  # refused before the store was opened


def test_a_configured_kit_that_is_not_there_is_named(tmp_path: Path) -> None:
    config = _production_site(tmp_path, ans_kit=str(tmp_path / "nowhere"))
    result = cli("run", "--config", config)
    assert result.returncode == EXIT_USAGE
    assert "[validation.ans_kit]" in result.stderr and str(tmp_path / "nowhere") in result.stderr


def test_validation_off_starts_says_so_at_every_start_and_in_status(tmp_path: Path) -> None:
    config = _production_site(tmp_path, mode="off")
    for run in (1, 2):
        events = _run_once(config, tmp_path / f"service.{run}.log")
        assert events.count("validation.off") == 1, events
        assert events.index("validation.off") < events.index("service.started")
    status = cli("status", "--config", config)
    assert status.returncode == EXIT_OK, status.stderr
    assert "validation: OFF" in status.stdout
    data = json.loads(cli("status", "--config", config, "--json").stdout)
    assert data["validation"]["state"] == "off" and data["validation"]["mode"] == "off"


def test_status_says_when_production_has_no_kit(tmp_path: Path) -> None:
    config = _production_site(tmp_path)
    data = json.loads(cli("status", "--config", config, "--json").stdout)
    assert data["validation"]["state"] == "no-kit"
    assert data["validation"]["kit"] == str(tmp_path / "var" / "ans-kit")
    assert "will not start" in cli("status", "--config", config).stdout
