"""`connector run` several times on one PostgreSQL store (issue 16): each instance named and listed by
`connector status`, one IMAP poller in the group taken over when it is killed, a name in use refused,
metrics per instance and for the group. Real processes, a real PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trustme

from tests.support.group import PgSite, write_group
from tests.support.ports import free_port
from tests.support.postgres import PgCluster
from tests.support.service import ServiceProcess, cli_json, http_get, wait_for

pytestmark = pytest.mark.postgres

TAKEOVER_SECONDS = 20.0  # the poller's session ends with its process; the other takes the lock at its next turn


def _metric(site: PgSite, name: str) -> dict[str, float]:
    """``name``'s samples on the instance's /metrics: labels text → value ({} when absent)."""
    assert site.metrics_port is not None
    _, text = http_get(site.metrics_port, "/metrics")
    return {m.group(1) or "": float(m.group(2))
            for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.MULTILINE)}


def _poller(site: PgSite) -> bool:
    return _metric(site, "connector_imap_poller").get("") == 1.0


def _with_imap(sites: list[PgSite], folder: Path) -> None:
    """IMAP on, towards a port nothing listens on: each poll fails, but only the poller tries."""
    port, ca = free_port(), folder / "imap-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    for site in sites:
        site.configure(imap={"enabled": True, "host": "127.0.0.1", "port": port, "username": "labo@labo.test",
                             "poll_seconds": 0.5, "tls": {"cafile": str(ca)}})


def test_instances_are_listed_and_one_polls(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_store()
    sites = write_group(tmp_path / "group", None, store_url=url, names=["alpha", ""], mllp=False)
    _with_imap(sites, tmp_path)
    with ServiceProcess(sites[0]) as alpha, ServiceProcess(sites[1]) as other:
        alpha.start()
        other.start()
        status = cli_json("status", "--config", sites[0].config)
        listed = {i["instance"]: i for i in status["instances"]}
        assert len(listed) == 2 and "alpha" in listed, listed
        assert all(i["alive"] and i["leases"] == 0 for i in listed.values()), listed
        default_name = next(n for n in listed if n != "alpha")
        assert re.fullmatch(r"[A-Za-z0-9._-]+-\d+", default_name), default_name
        assert other.has_event("service.started")["instance"] == default_name  # type: ignore[index]

        pollers = wait_for(lambda: [p for p in (alpha, other) if _poller(p.site)] or None, timeout=TAKEOVER_SECONDS,
                           what="an IMAP poller")
        assert len(pollers) == 1, "one poller in the group"
        holder, survivor = pollers[0], (other if pollers[0] is alpha else alpha)
        group = _metric(survivor.site, "connector_group_instances")
        assert group == {'{state="alive"}': 2.0, '{state="silent"}': 0.0}, group
        assert set(_metric(survivor.site, "connector_group_leases")) == {
            f'{{connector_instance="{n}"}}' for n in listed}

        holder.kill()
        wait_for(lambda: survivor.has_event("imap.poller_taken") and _poller(survivor.site),
                 timeout=TAKEOVER_SECONDS, what="the survivor taking over the IMAP poller")

        assert survivor.stop() == 0
        left = {i["instance"] for i in cli_json("status", "--config", sites[0].config)["instances"]}
        survivor_name = "alpha" if survivor is alpha else default_name
        assert survivor_name not in left, "a clean stop leaves the group"


def test_a_name_in_use_is_refused(pg_cluster: PgCluster, tmp_path: Path) -> None:
    url = pg_cluster.create_store()
    first = write_group(tmp_path / "one", None, store_url=url, names=["alpha"], mllp=False, metrics=False)[0]
    twin = write_group(tmp_path / "two", None, store_url=url, names=["alpha"], mllp=False, metrics=False)[0]
    with ServiceProcess(first) as running, ServiceProcess(twin) as second:
        running.start()
        second.start(wait=False)
        assert second.proc is not None
        assert second.proc.wait(timeout=60) == 2
        assert "instance.name" in second.stderr() and "already running" in second.stderr()
        assert running.proc is not None and running.proc.poll() is None
