"""The service as a lab runs it: `python -m connector run --config F` against the Postfix + Dovecot
operator simulator, watched with the operator commands and the metrics endpoint, stopped with SIGTERM."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.simulator.plugin import OperatorSim
from tests.support.paths import E2E
from tests.support.ports import free_port
from tests.support.proxy import TcpProxy
from tests.support.service import ServiceProcess, Site, cli_json, http_get, wait_for, write_site

pytestmark = pytest.mark.simulator

# Drop → DSN applied is ~1–2 s on loopback (work loop 1 s, IMAP poll 0.5 s); the bound stops a hang.
FLOW_TIMEOUT_SECONDS = 30.0


def unique_oru(prefix: str) -> bytes:
    """The three-recipient ORU with a run-unique MSH-10 (the simulator's mailboxes are shared)."""
    return (E2E / "three_recipients.hl7").read_bytes().replace(b"E2E0001", (prefix + uuid.uuid4().hex[:10]).encode())


def only_report(site: Site) -> str:
    return wait_for(lambda: next(iter(site.reports()), None), timeout=FLOW_TIMEOUT_SECONDS, what="a report")


def test_drop_to_delivered_with_status_show_metrics_and_health(
        operator_sim: OperatorSim, tmp_path: Path, service_factory: Callable[[Site], ServiceProcess]) -> None:
    site = write_site(tmp_path, operator_sim)
    service = service_factory(site)
    message = unique_oru("ACC")
    site.drop_file("report.hl7", message)
    report_id = only_report(site)
    wait_for(lambda: site.reports()[report_id] in ("delivered", "read"), timeout=FLOW_TIMEOUT_SECONDS,
             what=f"{report_id} delivered (now {site.reports()[report_id]})")
    assert not list(site.drop.iterdir())
    control_id = message.split(b"|", 10)[9].decode()
    # Found from what the SIL knows: its MSH-10, the filler order number, the file it dropped.
    for query in (control_id, f"DOS{control_id}", "report.hl7"):
        assert cli_json("show", query, "--config", site.config)["report_id"] == report_id, query
    assert cli_json("mappings", "unmapped", "--config", site.config) == []  # the demo mappings cover this message

    status = cli_json("status", "--config", site.config)
    assert status["counts"].get("delivered") == 1, status
    shown = cli_json("show", report_id, "--config", site.config)
    assert shown["report_id"] == report_id and shown["state"] == "delivered"
    timeline = [e["event"] for e in shown["events"]]
    assert "report.sent" in timeline and "report.delivered" in timeline, timeline
    assert {r["address"] for r in shown["recipients"]} == {"dr.x@hopital.test", "dr.y@cabinet.test",
                                                            "inconnu@hopital.test"}

    code, text = http_get(site.metrics_port, "/metrics")
    assert code == 200 and 'connector_reports{state="delivered"} 1.0' in text
    assert http_get(site.metrics_port, "/healthz")[0] == 200
    assert http_get(site.metrics_port, "/readyz")[0] == 200

    assert service.stop() == 0
    assert service.has_event("service.stopped")
    assert "Traceback" not in service.stderr()


def test_unreachable_smtp_waits_with_a_reason_then_retry_delivers(
        operator_sim: OperatorSim, tmp_path: Path, service_factory: Callable[[Site], ServiceProcess]) -> None:
    port = free_port()  # nothing listens here until the proxy opens it
    site = write_site(tmp_path, operator_sim, smtp_port=port, imap=True, retry_first_seconds=600)
    service = service_factory(site)
    site.drop_file("report.hl7", unique_oru("RTY"))
    report_id = only_report(site)
    wait_for(lambda: site.reports()[report_id] == "waiting", timeout=FLOW_TIMEOUT_SECONDS,
             what=f"{report_id} waiting (now {site.reports()[report_id]})")

    status = cli_json("status", "--config", site.config)
    assert status["counts"].get("waiting") == 1
    oldest = status["oldest_in_progress"]
    assert oldest["report_id"] == report_id and oldest["state"] == "waiting"
    assert oldest["reason"], "a waiting report must say why"
    waiting = service.has_event("report.waiting")
    assert waiting and waiting["report_id"] == report_id

    # A restart keeps the waiting report (its state and reason are in the store, not in memory).
    assert service.stop() == 0
    service = service_factory(site)
    assert site.reports()[report_id] == "waiting"

    with TcpProxy((operator_sim.smtp_host, operator_sim.submission_port), port=port):
        # The next attempt is 10 minutes away: only `connector retry` brings it forward.
        assert cli_json("retry", report_id, "--config", site.config) == {"retried": [report_id]}
        wait_for(lambda: site.reports()[report_id] in ("delivered", "read"), timeout=FLOW_TIMEOUT_SECONDS,
                 what=f"{report_id} delivered after retry (now {site.reports()[report_id]})")
    assert service.stop() == 0


def test_sigterm_while_idle_stops_cleanly(tmp_path: Path, service_factory: Callable[[Site], ServiceProcess]) -> None:
    site = write_site(tmp_path, None)
    service = service_factory(site)

    started = time.monotonic()
    assert service.stop() == 0
    assert time.monotonic() - started < 5.0
    assert service.has_event("service.stopping") and service.has_event("service.stopped")
    assert "Traceback" not in service.stderr()
