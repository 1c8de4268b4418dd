"""The walking skeleton end to end on the service's own parts: drop folder → store → CDA → SMTP over
STARTTLS with a client certificate (in-process aiosmtpd) → acknowledgements, states read back from SQLite."""

from __future__ import annotations

import email
import email.policy
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pytest

from connector.config import FolderConfig, IntakeConfig, SmtpConfig, TlsFiles, demo_config
from connector.demo.run import drain
from connector.demo.server import DemoSmtpServer
from connector.intake import DropFolder
from connector.send import import_directory
from connector.service.runtime import open_runtime
from tests.support.settings import folder_settings

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ["01_nfs.hl7", "05_tsh.hl7", "06_crp_non_loinc.hl7"]


@pytest.fixture
def smtp_server():
    with DemoSmtpServer() as server:
        yield server


async def test_drop_folder_to_smtp_and_dsn(tmp_path: Path, smtp_server: DemoSmtpServer) -> None:
    config = demo_config(
        data_dir=str(tmp_path / "var"),
        smtp=SmtpConfig(host=smtp_server.host, port=smtp_server.port, timeout=10,
                        tls=TlsFiles(cafile=str(smtp_server.cafile), certfile=str(smtp_server.client_pem))),
        intake=IntakeConfig(folder=FolderConfig(drop=str(tmp_path / "drop"), archive=str(tmp_path / "archive"),
                                                quarantine=str(tmp_path / "quarantine"), stable_seconds=0)),
    )
    import_directory(ROOT / "connector" / "demo" / "directory.txt", db_path=config.directory_path)
    runtime = open_runtime(config)
    try:
        drop = tmp_path / "drop"
        drop.mkdir(mode=0o700)
        for name in SAMPLES:
            shutil.copyfile(ROOT / "tests" / "data" / "oru" / name, drop / name)
        (drop / "garbage.hl7").write_bytes(b"this is not HL7")
        folder = DropFolder(folder_settings(drop=drop, archive=tmp_path / "archive",
                                           quarantine=tmp_path / "quarantine", stable_seconds=0), runtime.pipeline)
        folder.scan_once()
        assert not list(drop.iterdir())  # every file left the drop folder after it was committed
        assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == sorted(SAMPLES)
        reasons = list((tmp_path / "quarantine").glob("*reason*"))
        assert reasons and "expected" in reasons[0].read_text()

        await drain(runtime.pipeline)
        assert len(smtp_server.messages) == len(SAMPLES)
        for dsn in smtp_server.dsns:
            assert runtime.pipeline.handle_ack_mail(dsn)
    finally:
        runtime.close()

    db = sqlite3.connect(config.store_path)
    states = dict(db.execute("SELECT report_id, state FROM reports"))
    assert len(states) == len(SAMPLES) and set(states.values()) == {"delivered"}
    rcpt_states = {r[0] for r in db.execute("SELECT state FROM recipients")}
    assert rcpt_states == {"delivered"}

    received = smtp_server.messages[0]
    assert received.sender == "labo@labo.test"
    assert any(o.upper().startswith("ENVID=") for o in received.mail_options)
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    assert msg["Subject"].startswith("XDM/1.0/DDM+")
    assert msg["X-MSS-CODECDA"] == "11502-2"
    stored_ids = {r[0] for r in db.execute("SELECT message_id FROM reports")}
    assert msg["Message-ID"] in stored_ids
    zips = [p for p in msg.iter_attachments() if p.get_content_type() == "application/zip"]
    assert len(zips) == 1
    import io

    with zipfile.ZipFile(io.BytesIO(zips[0].get_content())) as z:
        assert "IHE_XDM/SUBSET01/DOC0001.XML" in z.namelist()
