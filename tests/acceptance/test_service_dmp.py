"""The DMP channel as an operator meets it: the queue paused by a cause of ours (and said so in the log, the
metrics, `connector show` and `status`), resumed after a restart; production refusing demo certificates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connector.dmp import make_demo_pki
from connector.dmp.pki import DemoPki
from tests.dmp.double import APPROVED, DmpDouble, Fault
from tests.dmp.support import write_pki
from tests.ledger.dmp_oru import embedded, report_id, sil_cda, sil_unique_id
from tests.support.service import ServiceProcess, Site, cli, cli_json, http_get, wait_for, write_site
from tests.support.smtp import SmtpServer


@pytest.fixture(scope="module")
def pki() -> DemoPki:
    return make_demo_pki(structure_id="1999999999", structure_name="Laboratoire de démonstration")


@pytest.fixture
def site(tmp_path: Path, shared_ref: Path, pki: DemoPki) -> Iterator[tuple[Site, DmpDouble]]:
    ref = shared_ref / "dmp"
    if not (ref / "wsdl-schema").is_dir():
        pytest.skip(f"the DMP reference artefacts are absent ({ref})")
    for folder in ("site", "smtp"):
        (tmp_path / folder).mkdir(mode=0o700)
    lab_site = write_site(tmp_path / "site", None, metrics=True, retry_first_seconds=1.0, retry_max_seconds=4.0)
    with SmtpServer(tmp_path / "smtp") as smtp, \
            DmpDouble(ca=pki.ca.cert, server_cert_pem=pki.server.cert_pem, server_key_pem=pki.server.key_pem,
                      scratch=tmp_path / "double", ref=ref) as double:
        lab_site.configure(
            smtp={"host": "127.0.0.1", "port": smtp.port, "tls": {"cafile": str(smtp.pki.ca),
                                                                  "certfile": str(smtp.pki.client)}},
            dmp={"enabled": True, "base_url": double.base_url, "homologation_number": "TEST-HOMOLOGATION",
                 "read_timeout": 1.0, **write_pki(pki, tmp_path / "dmp-pki")})
        yield lab_site, double


def test_a_refused_certificate_pauses_the_queue_until_it_is_fixed(site: tuple[Site, DmpDouble]) -> None:
    lab, double = site
    double.inject(Fault.INVALID_CERTIFICATE)
    rid = report_id("SVC0001")
    with ServiceProcess(lab) as service:
        service.start()
        lab.drop_file("SVC0001.hl7", embedded("SVC0001", sil_cda(patient=1, series=1, version=1), patient=1,
                                              series=1, status="F"))
        paused = wait_for(lambda: service.has_event("dmp.paused"), timeout=30, what="dmp.paused")
        assert paused["code"] == "DMPInvalidCertificate" and "paused" in paused["reason"]
        assert lab.metrics_port is not None
        _, metrics = http_get(lab.metrics_port, "/metrics")
        assert "connector_dmp_paused 1.0" in metrics and 'connector_dmp_feeds{state="to_send"} 1.0' in metrics
        shown = cli_json("show", rid, "--config", lab.config)
        assert shown["dmp"]["state"] == "to_send" and "paused" in shown["dmp"]["reason"]
        assert cli_json("status", "--config", lab.config)["dmp"]["counts"] == {"to_send": 1}
        assert not list(lab.zam.glob("*Z01*"))  # not the document's fault: no Z01
        assert service.stop() == 0
        service.start()  # the certificate was renewed: the queue goes again at the next start
        wait_for(lambda: lab.query("SELECT 1 FROM dmp_feed WHERE state = 'sent'"), timeout=30, what="the feed")
        wait_for(lambda: list(lab.zam.glob(f"{rid}-Z01-Y-*.hl7")), timeout=30, what="the ZAM^Z01 Y")
        assert service.stop() == 0
    assert [e.status for e in double.by_unique_id(sil_unique_id(1, 1))] == [APPROVED]
    shown = cli_json("show", rid, "--config", lab.config)
    assert shown["dmp"]["state"] == "sent" and shown["dmp"]["unique_id"] == sil_unique_id(1, 1)
    assert [e["event"] for e in shown["events"] if e["event"].startswith("dmp.")][-1] == "dmp.sent"


def test_production_refuses_demo_certificates_at_start_naming_the_key(site: tuple[Site, DmpDouble]) -> None:
    lab, _ = site
    config = yaml.safe_load(lab.config.read_text(encoding="utf-8"))
    config["mode"] = "production"
    config["identity"] = {}
    config["dmp"]["structure_id"] = "1123456789"
    config["dmp"]["base_url"] = "https://lps2.dmp.gouv.fr/si-dmp-server/v2/services"
    lab.config.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = cli("run", "--config", lab.config)
    assert result.returncode == 2
    assert "[dmp.auth_cert_file]" in result.stderr and "TEST or demo certificate" in result.stderr
