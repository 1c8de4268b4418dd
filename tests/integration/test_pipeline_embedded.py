"""The embedded-CDA flow through the pipeline: refused at intake when it cannot be forwarded (the SIL gets
the reason), otherwise forwarded with the SIL's own ids, recorded for a later replace/delete (DMP link)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.config import SmtpConfig, TlsFiles, demo_config
from connector.demo.run import drain
from connector.demo.server import DemoSmtpServer
from connector.send import import_directory
from connector.service.runtime import open_runtime
from connector.states import ReportState

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = ROOT / "tests" / "data" / "embedded"


@pytest.fixture
def runtime(tmp_path: Path):
    with DemoSmtpServer() as server:
        config = demo_config(
            data_dir=str(tmp_path / "var"),
            smtp=SmtpConfig(host=server.host, port=server.port, timeout=10,
                            tls=TlsFiles(cafile=str(server.cafile), certfile=str(server.client_pem))))
        import_directory(ROOT / "connector" / "demo" / "directory.txt", db_path=config.directory_path)
        rt = open_runtime(config)
        rt.server = server  # type: ignore[attr-defined]
        yield rt
        rt.close()


async def test_forwarded_with_the_sils_ids_and_dmp_link(runtime) -> None:
    receipt = runtime.pipeline.receive((EMBEDDED / "b01_n3_new.hl7").read_bytes(), source="b01.hl7")
    assert not receipt.errors and len(receipt.reports) == 1
    await drain(runtime.pipeline)
    report_id = receipt.reports[0]
    assert runtime.store.report(report_id).state is ReportState.SENT
    doc = runtime.store.document_of(report_id)
    assert str(doc["document_root"]).startswith("1.2.250.1.999.2")  # the SIL's OID, not ours
    assert doc["lifecycle"] == "F" and doc["dmp_state"] == "to_send"
    assert len(runtime.server.messages) == 1


@pytest.mark.parametrize("name, words", [
    ("b07_outside_matrix.hl7", "routing matrix"),
    ("b08_pid_mismatch.hl7", "INS"),
    ("b09_doctype.hl7", "DOCTYPE"),
])
def test_refused_at_intake_with_an_actionable_reason(runtime, name: str, words: str) -> None:
    receipt = runtime.pipeline.receive((EMBEDDED / name).read_bytes(), source=name)
    assert receipt.errors and not receipt.reports
    assert words in receipt.errors[0].describe()


async def test_no_directory_entry_waits_and_tells_the_sil_once(runtime) -> None:
    oru = (ROOT / "tests" / "data" / "oru" / "01_nfs.hl7").read_bytes().replace(b"810000000001", b"819999999999")
    receipt = runtime.pipeline.receive(oru, source="unknown_prescriber.hl7")
    await drain(runtime.pipeline)
    row = runtime.store.report(receipt.reports[0])
    assert row.state is ReportState.WAITING and "819999999999" in row.reason
    outbox = runtime.store.pending_outbox()
    assert len(outbox) == 1 and b"ZAM^Z02" in outbox[0][2] and b"510^" in outbox[0][2]
    runtime.store.retry(row.report_id)
    await drain(runtime.pipeline)
    assert len(runtime.store.pending_outbox()) == 1  # told once, not at every retry


async def test_ack_reception_n_asks_for_no_delivery_report(runtime) -> None:
    data = (EMBEDDED / "b01_n3_new.hl7").read_bytes().replace(
        "ACK_RECEPTION^Accusé de réception^MetaDMPMSS||Y".encode(),
        "ACK_RECEPTION^Accusé de réception^MetaDMPMSS||N".encode())
    assert b"ACK_RECEPTION^Accus\xc3\xa9 de r\xc3\xa9ception^MetaDMPMSS||N" in data
    receipt = runtime.pipeline.receive(data, source="b01_no_dsn.hl7")
    await drain(runtime.pipeline)
    assert runtime.store.report(receipt.reports[0]).state is ReportState.SENT
    sent = runtime.server.messages[-1]
    assert not any(o.upper().startswith(("ENVID=", "RET=")) for o in sent.mail_options)
