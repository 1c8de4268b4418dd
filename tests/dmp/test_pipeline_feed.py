"""The DMP channel through the service's own wiring (``open_runtime``), against the DMP test double.

Reports go in by ``Pipeline.receive``, are built and sent to an in-process SMTP server as in the service;
then each due feed row goes through ``Pipeline.feed_dmp`` as the DMP queue runs it. What the DMP holds is
read from the double's entries, what the SIL is told from the store's outbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import DmpConfig, RetryConfig, SmtpConfig, StoreConfig, TlsFiles, demo_config
from connector.demo.run import drain
from connector.demo.server import DemoSmtpServer
from connector.model.oids import document_extension
from connector.package import cda_from_email
from connector.parse import header_of, split_messages
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from connector.states import DmpState, ReportState
from tests.dmp.double import APPROVED, DELETED, DEPRECATED, DmpDouble, Fault
from tests.ledger.dmp_oru import FLAGS, discrete, embedded, ins_cx, report_id, sil_cda, sil_unique_id
from tests.support.paths import DIRECTORY, ROOT

EMBEDDED = ROOT / "tests" / "data" / "embedded"


@pytest.fixture
def runtime(tmp_path: Path, dmp_double: DmpDouble, dmp_pki_files: dict[str, str]) -> Iterator[Runtime]:
    with _runtime(tmp_path, dmp_double, dmp_pki_files) as rt:
        yield rt


@contextlib.contextmanager
def _runtime(tmp_path: Path, dmp_double: DmpDouble, dmp_pki_files: dict[str, str], *,
             store_url: str = "") -> Iterator[Runtime]:
    with DemoSmtpServer() as server:
        config = demo_config(
            data_dir=str(tmp_path / "var"), store=StoreConfig(url=store_url),
            smtp=SmtpConfig(host=server.host, port=server.port, timeout=10,
                            tls=TlsFiles(cafile=str(server.cafile), certfile=str(server.client_pem))),
            retry=RetryConfig(first_seconds=1.0, max_seconds=4.0),
            dmp=DmpConfig(enabled=True, discrete_feed=True, base_url=dmp_double.base_url,
                          homologation_number="TEST-HOMOLOGATION", read_timeout=1.0, connect_timeout=2.0,
                          **dmp_pki_files))
        import_directory(DIRECTORY, db_path=config.directory_path)
        rt = open_runtime(config)
        try:
            yield rt
        finally:
            rt.close()


async def _receive(rt: Runtime, *messages: bytes) -> list[str]:
    ids = []
    for n, data in enumerate(messages):
        receipt = rt.pipeline.receive(data, source=f"m{n}.hl7")
        assert not receipt.errors, receipt.errors[0].describe()
        ids += receipt.reports
    await drain(rt.pipeline)
    return ids


def _feed_all(rt: Runtime, *, rounds: int = 10) -> list[DmpState]:
    """Run the DMP queue until nothing is due (as the service's loop does, without its pauses)."""
    states = []
    for _ in range(rounds):
        due = rt.pipeline.dmp_due()
        if not due:
            break
        states += [rt.pipeline.feed_dmp(row).state for row in due]
    return states


def _z01s(rt: Runtime) -> dict[str, bytes]:
    return {name: data for _, name, data in rt.store.pending_outbox() if b"ZAM^Z01" in data}


def _obx4_and_err5(zam: bytes) -> tuple[str, str]:
    segments = {s.split("|")[0]: s.split("|") for s in zam.decode().split("\r") if s}
    return segments["OBX"][4], segments["ERR"][5] if "ERR" in segments else ""


async def test_a_discrete_report_goes_to_the_dmp_as_the_doctor_got_it(runtime: Runtime,
                                                                       dmp_double: DmpDouble) -> None:
    [rid] = await _receive(runtime, discrete("DA1", patient=1, series=1, version=1))
    assert runtime.store.report(rid).state is ReportState.SENT
    doc = runtime.store.document_of(rid)
    assert doc["document_ext"] == "" and doc["dmp_state"] == "to_send"  # minted root-only: the DMP's rule
    assert _feed_all(runtime) == [DmpState.SENT]
    [entry] = dmp_double.by_unique_id(str(doc["document_root"]))
    assert entry.status == APPROVED and entry.patient == ins_cx(1)
    assert entry.cda == cda_from_email(runtime.store.email(rid) or b"", report_id=rid)  # the same bytes
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.state is DmpState.SENT and row.unique_id == doc["document_root"]
    assert runtime.store.document_of(rid)["dmp_state"] == "sent"
    assert not _z01s(runtime)  # a discrete report carries no ACK_RECEPTION: no Z01 asked


async def test_a_correction_waits_for_its_first_version_then_replaces_it(runtime: Runtime,
                                                                         dmp_double: DmpDouble) -> None:
    first, second = await _receive(runtime, discrete("DB1", patient=2, series=2, version=1),
                                   discrete("DB2", patient=2, series=2, version=2))
    assert [row.report_id for row in runtime.pipeline.dmp_due()] == [first]  # the new version waits
    assert _feed_all(runtime) == [DmpState.SENT, DmpState.SENT]
    v1, v2 = (str(runtime.store.document_of(r)["document_root"]) for r in (first, second))
    assert [e.status for e in dmp_double.by_unique_id(v1)] == [DEPRECATED]
    assert [e.status for e in dmp_double.by_unique_id(v2)] == [APPROVED]
    row = runtime.store.dmp_row(second)
    assert row is not None and row.action == "replace" and row.replaces_id == v1


async def test_a_new_version_of_a_series_never_fed_is_fed_as_a_document_of_its_own(
        runtime: Runtime, dmp_double: DmpDouble) -> None:
    settings = runtime.pipeline.settings
    runtime.pipeline.reconfigure(dataclasses.replace(settings, dmp_discrete_feed=False))
    [first] = await _receive(runtime, discrete("DC1", patient=3, series=3, version=1))
    runtime.pipeline.reconfigure(settings)
    [second] = await _receive(runtime, discrete("DC2", patient=3, series=3, version=2))
    assert runtime.store.dmp_row(first) is None  # not addressed to the DMP
    assert _feed_all(runtime) == [DmpState.SENT]
    [entry] = dmp_double.by_unique_id(str(runtime.store.document_of(second)["document_root"]))
    assert entry.status == APPROVED and len(dmp_double.entries) == 1


async def test_the_sils_documents_new_replaced_deleted_each_with_its_z01(runtime: Runtime,
                                                                         dmp_double: DmpDouble) -> None:
    v1, v2 = (sil_cda(patient=4, series=4, version=v) for v in (1, 2))
    ids = await _receive(runtime, embedded("SB1", v1, patient=4, series=4, status="F"),
                         embedded("SB2", v2, patient=4, series=4, status="C"),
                         embedded("SB3", v2, patient=4, series=4, status="D"))
    assert _feed_all(runtime) == [DmpState.SENT] * 3
    assert [e.status for e in dmp_double.by_unique_id(sil_unique_id(4, 1))] == [DEPRECATED]
    assert [e.status for e in dmp_double.by_unique_id(sil_unique_id(4, 2))] == [DELETED]
    z01s = _z01s(runtime)
    assert sorted(z01s) == sorted(f"{rid}-Z01-Y-ok" for rid in ids)
    assert sorted(_obx4_and_err5(z)[0] for z in z01s.values()) == ["SB1", "SB2", "SB3"]  # OBX-4 = their MSH-10
    assert b"Y^^expandedYes-NoIndicator" in z01s[f"{ids[0]}-Z01-Y-ok"]


async def test_a_sil_document_id_with_an_extension_is_refused_with_a_z01_n(runtime: Runtime,
                                                                           dmp_double: DmpDouble) -> None:
    [rid] = await _receive(runtime, (EMBEDDED / "b01_n3_new.hl7").read_bytes())  # id root^extension
    assert _feed_all(runtime) == [DmpState.REFUSED]
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.code == "PFI_ID_DOCUMENT_NON_OID" and "root-only OID" in row.reason
    [zam] = _z01s(runtime).values()
    assert _obx4_and_err5(zam) == ("EMB01", "PFI_ID_DOCUMENT_NON_OID^Identifiant de document non OID^DMPERRORCODE")
    assert not dmp_double.received  # nothing was sent


async def test_changing_the_masking_after_the_fact_is_refused_in_indirect_mode(runtime: Runtime,
                                                                               dmp_double: DmpDouble) -> None:
    flags = tuple((code, "Y" if code == "MODIF_CONF_CODE" else answer) for code, answer in FLAGS)
    [rid] = await _receive(runtime, embedded("SM1", sil_cda(patient=5, series=5, version=1), patient=5, series=5,
                                             status="F", flags=flags))
    assert _feed_all(runtime) == [DmpState.REFUSED]
    row = runtime.store.dmp_row(rid)
    assert row is not None and "send a replacement instead" in row.reason
    [zam] = _z01s(runtime).values()
    assert _obx4_and_err5(zam)[1].startswith("PFI_INTERDIT_AUTH_INDIRECTE^")
    assert not dmp_double.entries


async def test_a_closed_dmp_fails_for_good_with_its_code(runtime: Runtime, dmp_double: DmpDouble) -> None:
    dmp_double.closed_patients.add(ins_cx(6))
    [rid] = await _receive(runtime, embedded("SC1", sil_cda(patient=6, series=6, version=1), patient=6, series=6,
                                             status="F"))
    assert _feed_all(runtime) == [DmpState.FAILED]
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.code == "DMPClosed" and row.attempts == 1
    [zam] = _z01s(runtime).values()
    assert _obx4_and_err5(zam) == ("SC1", "DMPClosed^DMP fermé^DMPERRORCODE")


async def test_a_busy_dmp_is_retried_with_backoff_then_given_up(runtime: Runtime, dmp_double: DmpDouble) -> None:
    dmp_double.inject(Fault.BUSY, times=2)
    [rid] = await _receive(runtime, embedded("SR1", sil_cda(patient=7, series=7, version=1), patient=7, series=7,
                                             status="F"))
    assert _feed_all(runtime) == [DmpState.TO_SEND]  # not due again before its next attempt
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.code == "XDSRegistryBusy" and row.next_attempt_at > row.updated_at
    assert not _z01s(runtime)  # no Z01 while retrying
    with runtime.store.db.transaction() as c:  # the retry window (retry.give_up_hours) is over
        c.execute("UPDATE reports SET received_at = '2000-01-01T00:00:00.000+00:00' WHERE report_id = ?", (rid,))
        c.execute("UPDATE dmp_feed SET next_attempt_at = '' WHERE report_id = ?", (rid,))
    assert _feed_all(runtime) == [DmpState.FAILED]
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.code == "PFI_DMP_INJOIGNABLE" and row.attempts == 2
    [zam] = _z01s(runtime).values()
    assert _obx4_and_err5(zam)[1].startswith("PFI_DMP_INJOIGNABLE^")
    assert runtime.store.retry_dmp(rid) and _feed_all(runtime) == [DmpState.SENT]  # operator retry, cause gone


async def test_a_refused_certificate_pauses_the_queue_without_failing_the_document(
        runtime: Runtime, dmp_double: DmpDouble) -> None:
    dmp_double.inject(Fault.INVALID_CERTIFICATE)
    [rid] = await _receive(runtime, embedded("SP1", sil_cda(patient=8, series=8, version=1), patient=8, series=8,
                                             status="F"))
    [row] = runtime.pipeline.dmp_due()
    outcome = runtime.pipeline.feed_dmp(row)
    assert outcome.state is DmpState.TO_SEND and outcome.code == "DMPInvalidCertificate"
    assert "paused" in outcome.pause
    assert runtime.store.dmp_row(rid).state is DmpState.TO_SEND and not _z01s(runtime)
    assert _feed_all(runtime) == [DmpState.SENT]  # fixed: the same document goes


async def test_a_feed_cut_mid_transaction_is_settled_by_td31b_never_sent_twice(
        runtime: Runtime, dmp_double: DmpDouble) -> None:
    [rid] = await _receive(runtime, embedded("SK1", sil_cda(patient=9, series=9, version=1), patient=9, series=9,
                                             status="F"))
    assert _feed_all(runtime) == [DmpState.SENT]
    with runtime.store.db.transaction() as c:  # as a SIGKILL after the POST, before the outcome's commit
        c.execute("UPDATE dmp_feed SET state = 'sending' WHERE report_id = ?", (rid,))
    sent_before = len(dmp_double.received)
    assert _feed_all(runtime) == [DmpState.SENT]
    assert len(dmp_double.by_unique_id(sil_unique_id(9, 1))) == 1
    assert [r.action for r in dmp_double.received[sent_before:]] == ["urn:ihe:iti:2007:RegistryStoredQuery"]
    assert "recovered" in runtime.store.dmp_row(rid).reason


async def test_an_identity_the_dmp_cannot_take_is_recorded_not_fed(runtime: Runtime, dmp_double: DmpDouble) -> None:
    data = discrete("DN1", patient=10, series=10, version=1).replace(b"|QUAL", b"|VALI")
    [rid] = await _receive(runtime, data)
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.state is DmpState.NOT_ELIGIBLE and row.code == "PFI_INS_NON_QUALIFIE"
    assert runtime.store.document_of(rid)["document_ext"] == document_extension(rid)  # not DMP-bound: root^extension
    assert not runtime.pipeline.dmp_due() and not dmp_double.received


async def test_a_sil_document_with_an_identity_the_dmp_cannot_take_gets_its_z01_n_at_build(
        runtime: Runtime, dmp_double: DmpDouble) -> None:
    cda = sil_cda(patient=12, series=12, version=1, status="VALI")
    [rid] = await _receive(runtime, embedded("SV1", cda, patient=12, series=12, status="F", identity="VALI"))
    assert runtime.store.report(rid).state is ReportState.SENT  # the doctors get it all the same
    assert runtime.store.dmp_row(rid).state is DmpState.NOT_ELIGIBLE and not runtime.pipeline.dmp_due()
    [zam] = _z01s(runtime).values()
    assert _obx4_and_err5(zam)[0] == "SV1" and _obx4_and_err5(zam)[1].startswith("PFI_INS_NON_QUALIFIE^")
    assert not dmp_double.received


async def test_a_defect_in_one_feed_waits_with_backoff_and_the_queue_goes_on(runtime: Runtime,
                                                                              dmp_double: DmpDouble) -> None:
    broken, fine = await _receive(runtime, discrete("DX1", patient=13, series=13, version=1),
                                  discrete("DX2", patient=14, series=14, version=1))
    with runtime.store.db.transaction() as c:  # a row no code path writes: the step meets something unforeseen
        c.execute("UPDATE dmp_feed SET action = 'archive-all' WHERE report_id = ?", (broken,))
    # Builds run side by side, so either feed may be queued first: the outcome of each is what counts.
    assert sorted(_feed_all(runtime)) == sorted([DmpState.TO_SEND, DmpState.SENT])
    row = runtime.store.dmp_row(broken)
    assert row is not None and row.code == "PFI_ERREUR_INTERNE" and row.next_attempt_at > row.updated_at
    assert runtime.store.dmp_row(fine).state is DmpState.SENT and len(dmp_double.entries) == 1


async def test_an_operator_retry_rebuilding_the_report_makes_its_feed_wait_for_the_rebuilt_document(
        runtime: Runtime, dmp_double: DmpDouble) -> None:
    [rid] = await _receive(runtime, discrete("DR1", patient=15, series=15, version=1))
    with runtime.store.db.transaction() as c:  # as an SMTP failure leaves it (the send path is tested elsewhere)
        c.execute("UPDATE reports SET state = 'waiting' WHERE report_id = ?", (rid,))
    assert runtime.store.retry(rid)  # `connector retry`: the e-mail is built again, recipients resolved anew
    assert runtime.store.email(rid) is None
    assert _feed_all(runtime, rounds=1) == [DmpState.TO_SEND]  # waits: never refused for a rebuild
    row = runtime.store.dmp_row(rid)
    assert row is not None and row.state is DmpState.TO_SEND and row.next_attempt_at > row.updated_at
    assert not dmp_double.received
    await drain(runtime.pipeline)
    with runtime.store.db.transaction() as c:  # its backoff has passed
        c.execute("UPDATE dmp_feed SET next_attempt_at = '' WHERE report_id = ?", (rid,))
    assert _feed_all(runtime) == [DmpState.SENT]
    [entry] = dmp_double.entries.values()
    assert entry.cda == cda_from_email(runtime.store.email(rid) or b"", report_id=rid)  # the rebuilt document


async def test_a_z01_answers_the_message_that_carried_the_document(runtime: Runtime) -> None:
    data = embedded("SZ1", sil_cda(patient=11, series=11, version=1), patient=11, series=11, status="F")
    [rid] = await _receive(runtime, data)
    _feed_all(runtime)
    [zam] = _z01s(runtime).values()
    original = header_of(split_messages(data)[0])
    assert original is not None and _obx4_and_err5(zam) == (original.control_id, "")
    assert report_id("SZ1") == rid


async def test_on_a_shared_store_a_feed_is_claimed_alone_for_as_long_as_it_may_take(
        tmp_path: Path, dmp_double: DmpDouble, dmp_pki_files: dict[str, str], pg_url: str) -> None:
    """Fed one at a time without renewal: a batch would outlive its lease while another instance took
    the rest, and a lease shorter than a slow answer would let it look the same feed up meanwhile."""
    with _runtime(tmp_path, dmp_double, dmp_pki_files, store_url=pg_url) as rt:
        await _receive(rt, discrete("LEASE1", patient=1, series=1, version=1),
                       discrete("LEASE2", patient=2, series=1, version=1))
        (row,) = rt.pipeline.dmp_due()
        (lease,) = rt.store.db.query(
            f"SELECT lease_until - {rt.store.db.epoch_now} AS left FROM dmp_feed WHERE report_id = ?",
            (row.report_id,))
        assert 2 * (2.0 + 1.0) + 60 - 5 < lease["left"] <= 2 * (2.0 + 1.0) + 60  # connect 2 s, read 1 s
        assert rt.pipeline.feed_dmp(row).state is DmpState.SENT
