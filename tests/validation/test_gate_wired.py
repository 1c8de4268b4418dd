"""The gate wired in (issue 12): a document that fails an ANS schematron is held and never sent, in the
service (real SMTP server on loopback) and in `connector build --ans-kit` (nothing written, failure named).

The failing document is the SIL's own CDA (shape B) with its TSH result's unit written ``mUI/l`` instead
of the UCUM ``m[IU]/L``: it passes the XSD (so nothing before the gate stops it) and fails terminologie.sch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from connector.cli.common import EXIT_FAILED
from connector.states import ReportState
from connector.validation import AnsKit, ValidationGate
from tests.support.hostile import sample_cda, shape_b_with
from tests.support.runtime import smtp_runtime
from tests.support.service import cli
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.schematron
BROKEN = (b'unit="m[IU]/L"', b'unit="mUI/l"')  # the TSH result's unit, no longer UCUM
RULE = "terminologie.sch"


def _broken_cda() -> bytes:
    cda = sample_cda()
    assert BROKEN[0] in cda, "the sample CDA no longer has a TSH in m[IU]/L: pick another change"
    return cda.replace(*BROKEN, 1)


async def _drain(runtime) -> None:  # type: ignore[no-untyped-def]
    for _ in range(6):
        if not await runtime.pipeline.step():
            break
    await runtime.pipeline.close()


async def test_a_document_failing_a_schematron_is_held_and_never_sent(
        gate: ValidationGate, tmp_path: Path, smtp_server: SmtpServer) -> None:
    runtime = smtp_runtime(tmp_path, smtp_server, gate=gate)
    try:
        bad = runtime.pipeline.receive(shape_b_with(_broken_cda(), control_id="GATE01"), source="bad.hl7")
        good = runtime.pipeline.receive(shape_b_with(sample_cda(), control_id="GATE02"), source="good.hl7")
        await _drain(runtime)
        (bad_id,) = bad.reports
        (good_id,) = good.reports
        held = runtime.store.report(bad_id)
        assert held is not None and held.state is ReportState.QUARANTINED
        assert RULE in held.reason and "LOINC " in held.reason  # the rule and the result it sits in
        assert "mUI/l" not in held.reason  # the document's value is not quoted
        sent = runtime.store.report(good_id)
        assert sent is not None and sent.state is ReportState.SENT  # the same path sends a passing document
        assert len(smtp_server.handler.received) == 1
        assert all(bad_id.encode() not in r.data for r in smtp_server.handler.received)
    finally:
        runtime.close()
    assert gate.status().workers, "the shared gate is still up: the runtime did not close the caller's gate"


def test_build_with_the_kit_writes_nothing_for_a_failing_document(ans_kit: AnsKit, tmp_path: Path) -> None:
    (tmp_path / "bad.hl7").write_bytes(shape_b_with(_broken_cda(), control_id="GATE03"))
    (tmp_path / "good.hl7").write_bytes(shape_b_with(sample_cda(), control_id="GATE04"))
    config = tmp_path / "connector.yaml"  # the demo's defaults, one worker: compiling twice costs a minute more
    config.write_text(yaml.safe_dump({"mode": "test", "identity": {"allow_test_ins": True}, "data_dir": "var",
                                      "validation": {"workers": 1}}), encoding="utf-8")
    out = tmp_path / "out"
    result = cli("build", tmp_path / "bad.hl7", tmp_path / "good.hl7", "--out", out, "--ans-kit", ans_kit.root,
                 "--config", config, "--json", timeout=900)
    assert result.returncode == EXIT_FAILED, result.stderr
    data = json.loads(result.stdout)
    assert [b["report_id"] for b in data["built"]] and len(data["built"]) == 1
    assert any(RULE in f and "bad.hl7" in f for f in data["failures"]), data["failures"]
    written = sorted(p.relative_to(out).parts[0] for p in out.rglob("cda.xml"))
    assert written == [data["built"][0]["report_id"]]  # only the passing report has a folder
    assert "mUI/l" not in result.stderr and "mUI/l" not in result.stdout
