"""Every corpus file: parses, keeps every segment, carries what the later stages need."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from _parse_helpers import CORPUS, ORU_DIR, collected_segments, parse_file

from connector.model import IdentityStatus
from connector.parse import split_messages

PRESCRIBER_IDNPS = "810000000001"
BIOLOGIST_IDNPS = "810000000002"


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 25
    described = (ORU_DIR / "README.md").read_text(encoding="utf-8")
    for path in CORPUS:
        assert path.name in described, f"{path.name} missing from tests/data/oru/README.md"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_round_trip_nothing_dropped(path: Path) -> None:
    for message, reports in parse_file(path):
        text = message.decode("utf-8", "surrogateescape")
        expected = Counter(s for s in text.split("\r") if s)
        got = collected_segments(reports)
        # compare on segment names + count first (clear failure), then on decoded texts
        assert sum(got.values()) == sum(expected.values()), path.name
        decoded = Counter(_decoded_segments(message, reports))
        assert got == decoded, path.name


def _decoded_segments(message: bytes, reports) -> list[str]:  # type: ignore[no-untyped-def]
    # the parser decodes by charset; re-split the same way to compare text with text
    charset = "utf-8"
    try:
        text = message.decode(charset)
    except UnicodeDecodeError:
        text = message.decode({"8859/15": "iso8859-15"}.get(reports[0].header.charset, "latin-1"))
    return [s for s in text.split("\r") if s]


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_every_report_carries_what_later_stages_need(path: Path) -> None:
    for _, reports in parse_file(path):
        for report in reports:
            assert re.fullmatch(r"r-[0-9a-f]{16}", report.report_id)
            assert (report.header.sending_application, report.header.sending_facility) == ("SIL", "LABO")
            assert report.patient.ipp is not None and report.patient.ipp.value.startswith("IPP")
            assert report.patient.names and report.patient.birth_date and report.patient.sex
            assert report.prescriber is not None and report.prescriber.idnps == PRESCRIBER_IDNPS
            assert report.validating_biologist is not None
            assert report.validating_biologist.idnps == BIOLOGIST_IDNPS
            for order in report.orders:
                assert order.collected_at and order.reported_at
            assert report.results or report.documents


def test_control_ids_are_unique_across_the_corpus() -> None:
    ids = [r.header.control_id for p in CORPUS for _, reports in parse_file(p) for r in reports[:1]]
    assert len(ids) == len(set(ids))


def test_report_ids_are_unique_and_stable() -> None:
    first = [r.report_id for p in CORPUS for _, reports in parse_file(p) for r in reports]
    again = [r.report_id for p in CORPUS for _, reports in parse_file(p) for r in reports]
    assert first == again and len(first) == len(set(first))


def test_local_codes_are_sent_with_coding_system_l() -> None:
    for path in CORPUS:
        for _, reports in parse_file(path):
            for result in (r for rep in reports for r in rep.results):
                assert result.code.system in ("L", "LN"), (path.name, result.code.code)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_split_gives_whole_messages(path: Path) -> None:
    messages = split_messages(path.read_bytes())
    assert all(m.startswith(b"MSH") and m.endswith(b"\r") for m in messages)
    assert all(b"\n" not in m for m in messages)


def test_qualified_ins_files() -> None:
    for name in ("13_ins_qualified.hl7", "18_several_orders.hl7", "33_ins_corsica_obx16_validator.hl7"):
        _, reports = parse_file(ORU_DIR / name)[0]
        assert reports[0].patient.ins_qualified, name
        assert reports[0].patient.identity_status is IdentityStatus.QUALIFIED


def test_no_patient_data_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from connector.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    for path in CORPUS:
        parse_file(path)
    logged = "\n".join(JsonFormatter().format(r) for r in caplog.records)  # every field, as the service writes it
    for canary in ("TEST", "ALICE", "19850507", "285057512004242", "IPP00", "13.5"):
        assert canary not in logged, canary
