"""Issue 12 through the real pipeline: nobody the message names vanishes (8), no stand-in is silent (7), one
live document per order (9).

A copy-to doctor without a national id, one missing from the directory: the report goes to the others and
each of them ends REFUSED with the reason in the store (``connector show``), a ``recipient.unresolved`` log
event and a negative ZAM^Z02 for the SIL, all committed with the build. A report whose validating biologist
the message does not name is held, or, with ``lab.biologist_standin``, signed by the configured biologist
with that fact on its timeline. A later report of an order replaces its last version; a correction of an
order never documented here is version 1, logged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import SmtpConfig, TlsFiles, demo_config
from connector.config.schema import Config
from connector.demo.run import drain
from connector.demo.server import DemoSmtpServer
from connector.ops.views import show_data
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from connector.states import RecipientState, ReportState
from tests.support.logs import json_log
from tests.support.paths import DATA, ROOT

NFS = (DATA / "oru" / "01_nfs.hl7").read_bytes()
NO_ID = b"^LOCALE^ANNE^^^DR"  # a copy-to doctor named without any id
LOCAL = b"DR77^SILID^PAUL^^^DR^^^LABO"  # the SIL's own id, no assigning authority of a national id
UNLISTED = b"810000000999^ABSENT^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
LISTED = b"810000000003^COPIE^CLAIRE^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"


def _with_copies(*copies: bytes) -> bytes:
    """01_nfs.hl7 with OBR-28 set to ``copies`` (OBR-28 is empty in the fixture)."""
    segments = NFS.split(b"\r")
    obr = next(i for i, s in enumerate(segments) if s.startswith(b"OBR|"))
    fields = segments[obr].split(b"|")
    fields[28] = b"~".join(copies)
    segments[obr] = b"|".join(fields)
    return b"\r".join(segments)


def _without_biologist() -> bytes:
    """01_nfs.hl7 with no OBR-32 and no OBX-16: the message names no validating biologist."""
    out = []
    for segment in NFS.split(b"\r"):
        fields = segment.split(b"|")
        if segment.startswith(b"OBR|"):
            fields[32] = b""
        elif segment.startswith(b"OBX|") and len(fields) > 16:
            fields[16] = b""
        out.append(b"|".join(fields))
    return b"\r".join(out).replace(b"MSG0001", b"MSG0B10")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, DemoSmtpServer]]:
    with DemoSmtpServer() as server:
        config = demo_config(
            data_dir=str(tmp_path / "var"),
            smtp=SmtpConfig(host=server.host, port=server.port, timeout=10,
                            tls=TlsFiles(cafile=str(server.cafile), certfile=str(server.client_pem))))
        import_directory(ROOT / "connector" / "demo" / "directory.txt", db_path=config.directory_path)
        yield config, server


@pytest.fixture
def runtime(site: tuple[Config, DemoSmtpServer]) -> Iterator[Runtime]:
    rt = open_runtime(site[0])
    yield rt
    rt.close()


async def test_unresolved_copies_are_refused_with_a_reason_shown_logged_and_told(
    runtime: Runtime, site: tuple[Config, DemoSmtpServer]
) -> None:
    with json_log() as log:
        receipt = runtime.pipeline.receive(_with_copies(LISTED, NO_ID, LOCAL, UNLISTED), source="copies.hl7")
        await drain(runtime.pipeline)
    (report_id,) = receipt.reports
    assert runtime.store.report(report_id).state is ReportState.SENT
    rows = runtime.store.recipients(report_id)
    reached = sorted(r.idnps for r in rows if r.state is not RecipientState.REFUSED)
    assert reached == ["810000000001", "810000000003"]  # the prescriber and the listed copy
    refused = {r.code: r for r in rows if r.state is RecipientState.REFUSED}
    assert sorted(refused) == ["no_national_id", "not_in_directory"]
    assert sorted(r.address for r in rows if r.code == "no_national_id") == [
        "(no address) OBR-28 DR77", "(no address) OBR-28 LOCALE ANNE"]
    assert refused["not_in_directory"].idnps == "810000000999"
    assert "directory" in refused["not_in_directory"].detail
    assert len(site[1].messages) == 1  # one e-mail, to the two reached only

    shown = show_data(site[0], report_id)
    assert shown is not None
    assert sum(r["state"] == "refused" and bool(r["detail"]) for r in shown["recipients"]) == 3
    assert any("unresolved" in e["detail"] for e in shown["events"] if e["event"] == "report.built")

    events = log.events("recipient.unresolved")
    assert sorted((e["problem"], e["idnps"], e["local_id"]) for e in events) == [
        ("no_national_id", "", ""), ("no_national_id", "", "DR77"), ("not_in_directory", "810000000999", "")]
    assert all(e["report_id"] == report_id and e["field"] == "OBR-28" for e in events)

    zams = [data for _, name, data in runtime.store.pending_outbox() if "-Z02-" in name]
    assert len(zams) == 3 and all(b"ZAM^Z02" in z and b"|510^" in z for z in zams)
    assert sum(b"DESTINATAIRE_MSS" in z and b"|810000000999|" in z for z in zams) == 1


async def test_retry_resolves_unresolved_recipients_again(runtime: Runtime) -> None:
    receipt = runtime.pipeline.receive(_with_copies(UNLISTED), source="unlisted.hl7")
    await drain(runtime.pipeline)
    (report_id,) = receipt.reports
    runtime.store.quarantine(report_id, reason="operator test")
    assert runtime.store.retry(report_id)
    assert all(r.state is not RecipientState.REFUSED for r in runtime.store.recipients(report_id))
    await drain(runtime.pipeline)
    refused = [r for r in runtime.store.recipients(report_id) if r.state is RecipientState.REFUSED]
    assert [r.idnps for r in refused] == ["810000000999"]  # still not listed: refused again, with the reason
    assert len([name for _, name, _ in runtime.store.pending_outbox() if "-Z02-" in name]) == 1  # told once


async def test_no_biologist_is_held_with_the_field_named(runtime: Runtime) -> None:
    receipt = runtime.pipeline.receive(_without_biologist(), source="no_biologist.hl7")
    await drain(runtime.pipeline)
    row = runtime.store.report(receipt.reports[0])
    assert row.state is ReportState.QUARANTINED
    assert "OBR-32" in row.reason and "biologist_standin" in row.reason


async def test_standin_is_recorded_on_the_timeline(site: tuple[Config, DemoSmtpServer]) -> None:
    config = dataclasses.replace(site[0], lab=dataclasses.replace(site[0].lab, biologist_standin=True))
    assert config.lab.biologist_rpps, "the demo configuration names the lab's biologist"
    rt = open_runtime(config)
    try:
        with json_log() as log:
            receipt = rt.pipeline.receive(_without_biologist(), source="no_biologist.hl7")
            await drain(rt.pipeline)
        report_id = receipt.reports[0]
        assert rt.store.report(report_id).state is ReportState.SENT
        shown = show_data(config, report_id)
        assert shown is not None
        standin = [e for e in shown["events"] if e["event"] == "report.biologist_standin"]
        assert len(standin) == 1 and config.lab.biologist_rpps in standin[0]["detail"]
        assert [e["report_id"] for e in log.events("report.biologist_standin")] == [report_id]
    finally:
        rt.close()


def _version_of(nfs: bytes, control_id: bytes, status: bytes) -> bytes:
    """01_nfs.hl7 under another MSH-10 with every OBX-11 set to ``status``."""
    out = []
    for segment in nfs.split(b"\r"):
        fields = segment.split(b"|")
        if segment.startswith(b"OBX|"):
            fields[11] = status
        out.append(b"|".join(fields))
    return b"\r".join(out).replace(b"|MSG0001|", b"|" + control_id + b"|")


async def test_versions_of_one_order_replace_each_other(runtime: Runtime) -> None:
    ids, reports = [], []
    with json_log() as log:
        for control_id, status in ((b"MSGV1", b"C"), (b"MSGV2", b"F"), (b"MSGV3", b"C")):
            receipt = runtime.pipeline.receive(_version_of(NFS, control_id, status), source="v.hl7")
            await drain(runtime.pipeline)
            (report_id,) = receipt.reports
            assert runtime.store.report(report_id).state is ReportState.SENT
            ids.append(runtime.store.document_identity(report_id, oid_root="unused", effective_time="unused",
                                                       corrects=False))
            reports.append(report_id)
    orphans = log.events("document.correction_without_original")
    assert [e["report_id"] for e in orphans] == reports[:1]  # the first correction only: nothing came before it
    assert [i.version for i in ids] == [1, 2, 3]
    assert len({i.set_id_extension for i in ids}) == 1
    assert [i.replaces for i in ids] == [None, *((i.document_id_root, i.document_id_extension) for i in ids[:-1])]
