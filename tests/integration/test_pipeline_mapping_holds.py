"""Through the real pipeline: a unit with no UCUM form, or a LOINC code its unit contradicts, makes the report
WAIT with a reason lab IT can act on (local code, unit, mapping file), never sent and never quarantined."""

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
ORU = ROOT / "tests" / "data" / "oru"


@pytest.fixture
def runtime(tmp_path: Path):  # type: ignore[no-untyped-def]
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


@pytest.mark.parametrize(("name", "old", "new", "words"), [
    ("01_nfs.hl7", b"|11.2|G/L|", b"|11.2|giga par litre|", ("'GB'", "'giga par litre'", "hematologie.yaml:")),
    ("07_loinc_coded.hl7", b"|0.92|g/L|0.70-1.10|", b"|5.1|mmol/L|3.9-6.1|", ("2345-7", "'mmol/L'", "Mass/volume")),
])
async def test_the_report_waits_with_an_actionable_reason(runtime, name: str, old: bytes, new: bytes,  # type: ignore[no-untyped-def]
                                                          words: tuple[str, ...]) -> None:
    data = (ORU / name).read_bytes()
    assert old in data
    receipt = runtime.pipeline.receive(data.replace(old, new), source=name)
    await drain(runtime.pipeline)
    row = runtime.store.report(receipt.reports[0])
    assert row.state is ReportState.WAITING, row.reason
    assert all(w in row.reason for w in words), row.reason
    assert "11.2" not in row.reason and "5.1" not in row.reason  # no result value in a reason
    assert not runtime.server.messages  # nothing sent
