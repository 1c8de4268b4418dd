"""Issue 13 on the real pipeline and store (no service process): one bad input never stops intake,
never blocks recovery and never loses an acknowledged input.

- observation 1, poison pill: a failure anywhere while an input is split ends with that input
  quarantined (AR over MLLP, quarantine/ for a file), the resend gets that same answer and the next
  input goes on; recovery at start splits or quarantines every committed input, one by one;
- observation 2, a reused MSH-10 with other content over MLLP is stored with its bytes and quarantined
  (AR), releasable, never answered with the first message's AA;
- observation 9, bytes that are not UTF-8 under MSH-18 "UNICODE UTF-8" are refused naming MSH-18 unless
  the configuration names a fallback charset for that SIL, and then each report says so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import demo_config
from connector.intake import DropFolder, MllpServer, send_mllp
from connector.service.runtime import Runtime, open_runtime
from tests.support.hostile import NOT_UTF8_FAMILY, cda_with_doctype, e2e_oru, nfs_with_family_name, shape_b_with
from tests.support.settings import folder_settings, mllp_settings

CANARY = "DUP"  # the family name's readable part: never in a reason or an event


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    yield rt
    rt.close()


def _msa(ack: bytes) -> str:
    segment = next(s for s in ack.split(b"\r") if s.startswith(b"MSA|"))
    return segment.split(b"|")[1].decode()


class _Bug(Exception):
    """A defect in a later version of some step: its text quotes input (it must never be shown)."""


def _break_embedded_check(monkeypatch: pytest.MonkeyPatch) -> None:
    import connector.pipeline.receive as receive

    def broken(*args: object, **kwargs: object) -> object:
        raise _Bug(f"{CANARY} quoted by a careless library")

    monkeypatch.setattr(receive, "check_embedded", broken)


# ---------------------------------------------------------------- observation 1: poison pill


async def test_mllp_poison_is_refused_and_quarantined_and_its_resend_gets_the_same_answer(
        runtime: Runtime) -> None:
    server = MllpServer(mllp_settings(host="127.0.0.1", port=0), runtime.pipeline, ack_app="C", ack_facility="L")
    await server.start()
    try:
        poison = shape_b_with(cda_with_doctype("utf16-entity"), control_id="POISON1")
        first = await send_mllp("127.0.0.1", server.port, poison, timeout=10)
        again = await send_mllp("127.0.0.1", server.port, poison, timeout=10)
        good = await send_mllp("127.0.0.1", server.port, e2e_oru("GOOD1"), timeout=10)
    finally:
        await server.stop()
    assert _msa(first) == "AR" and b"DOCTYPE" in first  # was AE (XMLSchemaValidateError), then AA on resend
    assert again == first
    assert _msa(good) == "AA"
    errors = runtime.store.input_errors()
    assert len(errors) == 1 and "OBX-5" in str(errors[0]["reason"]) and "DOCTYPE" in str(errors[0]["reason"])
    assert runtime.store.unsplit_inputs() == []


async def test_any_defect_while_splitting_quarantines_that_input_only(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="connector")
    _break_embedded_check(monkeypatch)
    server = MllpServer(mllp_settings(host="127.0.0.1", port=0), runtime.pipeline, ack_app="C", ack_facility="L")
    await server.start()
    try:
        poison = shape_b_with(cda_with_doctype("utf16-entity"), control_id="POISON2")
        first = await send_mllp("127.0.0.1", server.port, poison, timeout=10)
        again = await send_mllp("127.0.0.1", server.port, poison, timeout=10)
        good = await send_mllp("127.0.0.1", server.port, e2e_oru("GOOD2"), timeout=10)
    finally:
        await server.stop()
    assert (_msa(first), _msa(again), _msa(good)) == ("AR", "AR", "AA")
    [error] = runtime.store.input_errors()
    assert "internal _Bug" in str(error["reason"]) and CANARY not in str(error["reason"])
    assert runtime.store.unsplit_inputs() == []
    assert len(runtime.store.all_reports()) == 1  # the good message
    assert CANARY not in caplog.text


def test_drop_folder_poison_goes_to_quarantine_not_archive(runtime: Runtime, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _break_embedded_check(monkeypatch)
    settings = folder_settings(drop=tmp_path / "drop", archive=tmp_path / "archive",
                               quarantine=tmp_path / "quarantine", stable_seconds=0)
    folder = DropFolder(settings, runtime.pipeline)
    (settings.drop / "poison.hl7").write_bytes(shape_b_with(cda_with_doctype("utf16-entity"), control_id="P3"))
    (settings.drop / "good.hl7").write_bytes(e2e_oru("GOOD3"))
    folder.scan_once()
    folder.scan_once()
    assert sorted(p.name for p in settings.quarantine.iterdir()) == ["poison.hl7", "poison.hl7.reason.txt"]
    assert [p.name for p in settings.archive.iterdir()] == ["good.hl7"]
    assert runtime.store.unsplit_inputs() == []


def test_an_input_left_unsplit_is_split_when_it_comes_again(runtime: Runtime) -> None:
    """A failure between the two commits (store full, a crash): the resend must not be taken for done."""
    data = e2e_oru("UNSPLIT1")
    runtime.store.record_input(data, source="mllp:sil", dedup_key="SIL|LABO|UNSPLIT1")  # committed, not split
    receipt = runtime.pipeline.receive(data, source="mllp:sil", dedup_key=("SIL", "LABO", "UNSPLIT1"))
    assert receipt.reports and not receipt.errors
    assert runtime.store.unsplit_inputs() == []


def test_recovery_quarantines_the_poison_and_splits_the_rest(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    good_before = store.record_input(e2e_oru("REC1"), source="a.hl7").input_id
    poison = store.record_input(shape_b_with(cda_with_doctype("utf16-entity"), control_id="REC2"),
                                source="b.hl7").input_id
    good_after = store.record_input(e2e_oru("REC3", index=3), source="c.hl7").input_id
    _break_embedded_check(monkeypatch)
    assert runtime.pipeline.recover() == 3  # raised _Bug (and the service exited 3) at every start
    assert store.unsplit_inputs() == []
    assert {e["input_id"] for e in store.input_errors()} == {poison}
    assert {r.input_id for r in store.all_reports()} == {good_before, good_after}


def test_recovery_goes_on_past_an_input_the_store_cannot_split_now(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from connector.errors import StoreUnavailable

    store = runtime.store
    first = store.record_input(e2e_oru("REC4"), source="a.hl7").input_id
    second = store.record_input(e2e_oru("REC5", index=5), source="b.hl7").input_id
    real = store.record_split

    def flaky(input_id: int, *args: object, **kwargs: object) -> list[str]:
        if input_id == first:
            raise StoreUnavailable("store commit failed (OperationalError)")
        return real(input_id, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "record_split", flaky)
    runtime.pipeline.recover()
    assert store.unsplit_inputs() == [first]  # kept for the next start, not quarantined, not lost
    assert {r.input_id for r in store.all_reports()} == {second}


# ---------------------------------------------------------------- observation 2: reused MSH-10 over MLLP


async def test_reused_control_id_with_other_content_over_mllp_is_quarantined_with_its_bytes(
        runtime: Runtime) -> None:
    server = MllpServer(mllp_settings(host="127.0.0.1", port=0), runtime.pipeline, ack_app="C", ack_facility="L")
    await server.start()
    try:
        original = e2e_oru("REUSED1")
        edited = original.replace(b"|F|", b"|C|", 1)
        assert edited != original
        first = await send_mllp("127.0.0.1", server.port, original, timeout=10)
        second = await send_mllp("127.0.0.1", server.port, edited, timeout=10)
        second_again = await send_mllp("127.0.0.1", server.port, edited, timeout=10)
        first_again = await send_mllp("127.0.0.1", server.port, original, timeout=10)
    finally:
        await server.stop()
    assert _msa(first) == "AA" and first_again == first  # the true resend still gets the stored AA
    assert _msa(second) == "AR" and second != first and b"MSH-10" in second  # was the stored AA, byte for byte
    assert second_again == second
    [error] = runtime.store.input_errors()
    assert "MSH-10" in str(error["reason"]) and str(error["source"]).startswith("mllp:")
    assert runtime.store.input_data(int(str(error["input_id"])))[1] == edited  # its bytes are kept
    runtime.store.release_input_error(int(str(error["input_id"])), 0)  # releasable like any quarantined input
    assert runtime.store.input_errors() == []
    assert len(runtime.store.all_reports()) == 1


# ---------------------------------------------------------------- observation 9: identity never guessed


def test_invalid_utf8_under_a_utf8_msh18_is_refused_naming_msh18(runtime: Runtime) -> None:
    receipt = runtime.pipeline.receive(nfs_with_family_name(NOT_UTF8_FAMILY), source="latin.hl7")
    assert not receipt.reports  # was accepted, the name read as cp1252 ("DUPŸÞÃONT")
    [error] = receipt.errors
    assert error.segment == "MSH" and error.field == "MSH-18"


def test_a_fallback_charset_applies_only_to_the_sil_the_configuration_names(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from connector.config import parse_config
    from connector.config.settings import parse_settings

    caplog.set_level(logging.INFO, logger="connector")
    config = parse_config("mode: test\nidentity:\n  charset_fallback: {\"SIL^LABO\": cp1252}\n", base_dir=tmp_path)
    assert parse_settings(config).fallback_for("SIL", "LABO") == "cp1252"
    assert parse_settings(config).fallback_for("OTHER", "LABO") == ""
    rt = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    try:
        settings = rt.pipeline.settings
        rt.pipeline.reconfigure(dataclasses.replace(settings, parse=parse_settings(config)))
        receipt = rt.pipeline.receive(nfs_with_family_name(NOT_UTF8_FAMILY), source="latin.hl7")
        other = rt.pipeline.receive(nfs_with_family_name(NOT_UTF8_FAMILY, control_id="M2").replace(
            b"|SIL|LABO|", b"|OTHER|LABO|", 1), source="other.hl7")
    finally:
        rt.close()
    [report_id] = receipt.reports
    said = [r for r in caplog.records if getattr(r, "event", "") == "report.charset_fallback"]
    assert [(r.report_id, r.charset) for r in said] == [(report_id, "cp1252")]  # type: ignore[attr-defined]
    assert not other.reports and other.errors[0].field == "MSH-18"
