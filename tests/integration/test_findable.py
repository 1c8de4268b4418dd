"""Reports found from what the SIL knows, and the mapping gaps traffic shows (issue 14 items 5 and 6).

A person at the lab has an MSH-10, an order number or the dropped file's name; `connector show` takes
any of them. `connector mappings unmapped` lists what reports carried without a mapping, once per report.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from connector.errors import UnitNotUcum
from connector.ops.unmapped import unmapped_lines
from connector.ops.views import find_reports
from connector.pipeline.build import gap_of
from connector.store import GapKind
from tests.ledger.oru import ledger
from tests.support.runtime import smtp_runtime
from tests.support.smtp import SmtpServer

_VGM = b"VGM^Volume globulaire moyen^L"


async def _step(runtime) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        if not await runtime.pipeline.step():
            break
    await runtime.pipeline.close()


async def test_show_finds_a_report_by_msh10_order_number_and_file(tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server, store_url="")
    try:
        first, second = ledger("FIND", 2)
        runtime.pipeline.receive(first.data, source="from-sil-0001.hl7")
        runtime.pipeline.receive(second.data, source="file-0123456789ab")  # a folder that does not log names
        await _step(runtime)
        config = runtime.config
        for query, how in ((first.report_id, "report id"), (first.control_id, "MSH-10"),
                           (f"CMD{first.control_id}", "placer order number"),
                           (f"DOS{first.control_id}", "filler order number"),
                           ("from-sil-0001.hl7", "input file")):
            (found,) = find_reports(config, query)
            assert (found.report_id, found.matched) == (first.report_id, how), query
            assert (found.sending_application, found.sending_facility) == ("SIL", "LABO")
        assert [f.report_id for f in find_reports(config, second.control_id, sending_application="SIL")] \
            == [second.report_id]
        assert find_reports(config, second.control_id, sending_application="OTHER") == []
        assert find_reports(config, "NOTHING-LIKE-IT") == []
    finally:
        runtime.close()


async def test_an_msh10_two_messages_share_lists_both(tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server)
    try:
        (entry,) = ledger("TWIN", 1)
        runtime.pipeline.receive(entry.data, source="a.hl7")
        other_sender = entry.data.replace(b"|SIL|LABO|", b"|SIL2|LABO|", 1)  # another SIL, same MSH-10
        runtime.pipeline.receive(other_sender, source="b.hl7")
        found = find_reports(runtime.config, entry.control_id)
        assert {f.sending_application for f in found} == {"SIL", "SIL2"} and len(found) == 2
        (narrowed,) = find_reports(runtime.config, entry.control_id, sending_application="SIL2")
        assert narrowed.report_id != entry.report_id
    finally:
        runtime.close()


async def test_unmapped_lists_codes_once_per_report_until_mapped(tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server)
    try:
        entries = ledger("GAP", 3)
        for entry in entries:
            runtime.pipeline.receive(entry.data.replace(_VGM, b"ZZMAISON^Test maison^L"), source="gap.hl7")
        await _step(runtime)
        # A report built again (a retry, a rebuild after a crash) does not count twice.
        (line,) = unmapped_lines(runtime.config)
        runtime.store.record_gaps(entries[0].report_id, [line.row.gap])
        (line,) = unmapped_lines(runtime.config)
        gap = line.row.gap
        assert (gap.kind, gap.code, gap.label, gap.unit) == (GapKind.CODE, "ZZMAISON", "Test maison", "fL")
        assert line.row.reports == 3 and not line.mapped_now
        assert line.row.first_seen <= line.row.last_seen
        # Mapped by lab IT (a copy of the mappings with the new code): it leaves the default list.
        lab_mappings = tmp_path / "mappings"
        shutil.copytree(runtime.config.mappings_path, lab_mappings)
        hemato = lab_mappings / "hematologie.yaml"
        hemato.write_text(hemato.read_text(encoding="utf-8").replace(
            "tests:\n", "tests:\n  ZZMAISON:\n    loinc: 30428-7\n    display: VGM maison\n    unit: fL\n", 1),
            encoding="utf-8")
        edited = dataclasses.replace(runtime.config, mappings=dataclasses.replace(
            runtime.config.mappings, dir=str(lab_mappings)))
        assert unmapped_lines(edited) == []
        (after,) = unmapped_lines(edited, include_mapped=True)
        assert after.mapped_now
    finally:
        runtime.close()


def test_a_held_unit_is_recorded_as_a_unit_gap() -> None:
    gap = gap_of(UnitNotUcum("GLY", unit="gr/dl", edit="add convert: to GLY"))
    assert (gap.kind, gap.code, gap.unit) == (GapKind.UNIT, "GLY", "gr/dl")
