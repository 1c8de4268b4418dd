"""Intake on the real pipeline and store: the bad-input corpus lands in quarantine with reasons while
good files keep flowing; an MLLP resend gets the stored ACK and is not processed again; the ACK is
only sent once the input is committed."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from connector.config import demo_config
from connector.intake import DropFolder, MllpServer, send_mllp
from connector.service.runtime import open_runtime
from tests.support.settings import folder_settings, mllp_settings

ROOT = Path(__file__).resolve().parents[2]
BAD = ROOT / "tests" / "data" / "bad"
GOOD = ROOT / "tests" / "data" / "oru" / "01_nfs.hl7"
VT, FS, CR = b"\x0b", b"\x1c", b"\r"


@pytest.fixture
def runtime(tmp_path: Path):
    rt = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    yield rt
    rt.close()


def test_bad_corpus_lands_in_quarantine_with_reasons(runtime, tmp_path: Path) -> None:
    drop, archive, quarantine = tmp_path / "drop", tmp_path / "archive", tmp_path / "quarantine"
    drop.mkdir(mode=0o700)
    bad_files = sorted(p for p in BAD.glob("*.hl7"))
    for p in bad_files:
        (drop / p.name).write_bytes(p.read_bytes())
    (drop / "zz_good.hl7").write_bytes(GOOD.read_bytes())
    folder = DropFolder(folder_settings(drop=drop, archive=archive, quarantine=quarantine, stable_seconds=0),
                        runtime.pipeline)
    folder.scan_once()

    assert not list(drop.iterdir())
    assert [p.name for p in archive.iterdir()] == ["zz_good.hl7"]
    for p in bad_files:
        assert (quarantine / p.name).exists(), p.name
        reason = (quarantine / f"{p.name}.reason.txt").read_text()
        assert p.name in reason and "expected" in reason, (p.name, reason)
        assert stat.S_IMODE((quarantine / f"{p.name}.reason.txt").stat().st_mode) == 0o600
    # Every bad input is still in the store, with its reason, for `connector quarantine list`.
    sources = {e["source"] for e in runtime.store.input_errors()}
    assert sources == {p.name for p in bad_files}
    assert len(runtime.store.all_reports()) == 1  # the good file went on


async def test_mllp_ack_after_commit_and_resend_gets_the_stored_ack(runtime) -> None:
    server = MllpServer(mllp_settings(host="127.0.0.1", port=0), runtime.pipeline, ack_app="CONNECTOR",
                        ack_facility="LABO")
    await server.start()
    try:
        message = GOOD.read_bytes().replace(b"\r\n", b"\r").replace(b"\n", b"\r")
        first = await send_mllp("127.0.0.1", server.port, message, timeout=10)
        # Committed before the ACK came back: the store already has the input and its report.
        assert len(runtime.store.all_reports()) == 1
        assert b"MSA|AA|" in first
        second = await send_mllp("127.0.0.1", server.port, message, timeout=10)
        assert second == first  # the stored ACK, byte for byte
        assert len(runtime.store.all_reports()) == 1  # not processed again
        broken = b"MSH|^~\\&|SIL|LABO|C|D|20260101||ORU^R01|BAD1|P|2.5\rOBR|1||A|NFS^NFS^L\r"
        refused = await send_mllp("127.0.0.1", server.port, broken, timeout=10)
        assert b"MSA|AR|BAD1" in refused and b"ERR|" in refused
    finally:
        await server.stop()
    await asyncio.sleep(0)


def test_a_reused_control_id_with_other_content_is_quarantined_not_dropped(runtime) -> None:
    first = runtime.pipeline.receive(GOOD.read_bytes(), source="first.hl7")
    assert first.reports and not first.errors
    edited = GOOD.read_bytes().replace(b"|F|", b"|C|", 1)  # other bytes, same MSH-3/4/10
    assert edited != GOOD.read_bytes()
    second = runtime.pipeline.receive(edited, source="second.hl7")
    assert not second.reports and second.errors
    reason = second.errors[0].describe()
    assert "second.hl7" in reason and "MSH-10" in reason and first.reports[0] in reason
    assert len(runtime.store.all_reports()) == 1
    assert any(e["source"] == "second.hl7" for e in runtime.store.input_errors())
