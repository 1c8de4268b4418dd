"""The gate as the pipeline will call it: verdicts, rejections, privacy, a lost worker, shutdown.

``gate`` (conftest) is a FULL gate with two worker processes on the ANS kit, read in place.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connector.cda import build_document
from connector.errors import DocumentRejected, KitError, PermanentError, TransientError, ValidationUnavailable
from connector.validation import AnsKit, ValidationGate, ValidationMode
from tests.support.samples import TEST_INS, sample_ids, sample_lab, sample_mapped_report, tiny_pdf
from tests.validation.documents import VALID, built_documents
from tests.validation.support import ROOT

pytestmark = pytest.mark.schematron
TSH = "BIO-CR-BIO_2024.01_TSH_1.xml"


def _tsh(kit: AnsKit) -> bytes:
    return (kit.root / "ExemplesCDA" / TSH).read_bytes()


def test_the_valid_ans_examples_pass(gate: ValidationGate, ans_kit: AnsKit) -> None:
    examples = sorted((ans_kit.root / "ExemplesCDA").glob("BIO-CR-BIO_2024.01_*.xml"))
    assert len(examples) == 11
    verdicts = list(gate.check_many(p.read_bytes() for p in examples))
    assert [(p.name, v.problems) for p, v in zip(examples, verdicts, strict=True)] == [(p.name, ()) for p in examples]


def test_the_documents_the_builder_makes_pass(gate: ValidationGate) -> None:
    for name, document in built_documents():
        if name in VALID:
            assert gate.check(document).problems == (), name


@pytest.mark.parametrize(("old", "new", "schematron"), [
    (b'<interpretationCode code="N"', b'<interpretationCode code="ZZ"', "CI-SIS_BIO-CR-BIO_2024.01.sch"),
    (b'<realmCode code="FR"/>', b"", "ASIP-STRUCT-MIN-StrucMin.sch"),
    (b'<statusCode code="completed"/>', b'<statusCode code="new"/>', "IHE.sch"),
    (b'unit="m[IU]/L"/>', b'unit="mUI/l"/>', "terminologie.sch"),
])
def test_a_failing_document_is_rejected_naming_the_schematron(
        gate: ValidationGate, ans_kit: AnsKit, old: bytes, new: bytes, schematron: str) -> None:
    document = _tsh(ans_kit)
    assert old in document
    verdict = gate.check(document.replace(old, new, 1))
    assert not verdict.passed
    assert schematron in {f.schematron for f in verdict.failures}
    with pytest.raises(DocumentRejected) as caught:
        verdict.raise_if_rejected(report_id="r-1")
    assert isinstance(caught.value, PermanentError)
    assert str(caught.value).startswith("report r-1: CDA fails ")
    assert any(schematron in p for p in caught.value.problems)


def test_a_failing_result_is_named_by_its_codes(gate: ValidationGate, ans_kit: AnsKit) -> None:
    document = _tsh(ans_kit).replace(b'unit="m[IU]/L"/>', b'unit="mUI/l"/>', 1)
    failure = next(f for f in gate.check(document).failures if f.schematron == "terminologie.sch")
    assert failure.result.startswith("LOINC ")  # the TSH observation's LOINC code, for the lab to act on
    assert failure.result in str(failure)


def test_rejections_carry_no_patient_values(gate: ValidationGate) -> None:
    """StrucMin's dtr1-1 text quotes the failing element's attributes; the gate prints … instead."""
    document = build_document(sample_mapped_report(), lab=sample_lab(), ids=sample_ids(), pdf=tiny_pdf())
    birth = b'<birthTime value="19790328"/>'
    assert birth in document and TEST_INS.encode() in document
    verdict = gate.check(document.replace(birth, b'<birthTime nullFlavor="UNK" value="19790328"/>'))
    assert not verdict.passed
    text = "\n".join(verdict.problems)
    assert "Found: <birthTime…>…</birthTime>" in text  # the official text has value="19790328" there
    assert "19790328" not in text and TEST_INS not in text


def test_xsd_errors_come_with_the_verdict(gate: ValidationGate) -> None:
    verdict = gate.check(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><bogus/></ClinicalDocument>')
    assert verdict.xsd_errors and verdict.problems[0].startswith("xsd line ")
    with pytest.raises(DocumentRejected, match="CDA fails the XSD"):
        verdict.raise_if_rejected(report_id="r-2")


@pytest.mark.parametrize("document", [b"not xml at all", b"\xff\xfe<x/>",
                                      b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>'])
def test_unreadable_or_hostile_input_is_a_verdict_not_a_crash(gate: ValidationGate, document: bytes) -> None:
    verdict = gate.check(document)
    assert not verdict.passed
    assert [f.schematron for f in verdict.failures] == ["input"]


def test_a_lost_worker_costs_at_most_one_retry_and_is_replaced(gate: ValidationGate, ans_kit: AnsKit) -> None:
    before = {w.slot: w.pid for w in gate.status().workers}
    assert len(before) == 2
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    outcomes = []
    for _ in range(3):  # the dead worker's turn comes within two calls; the other worker keeps checking
        try:
            outcomes.append(gate.check(_tsh(ans_kit)).passed)
        except ValidationUnavailable as exc:
            assert isinstance(exc, TransientError)
            outcomes.append(None)
    # One retry when the document reached the dying worker; none when the kill had already taken effect
    # when the worker was next taken (found dead while idle: replaced, no report pays for it).
    assert outcomes.count(None) <= 1 and outcomes.count(True) == len(outcomes) - outcomes.count(None)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:  # the replacement compiles in the background
        now = {w.slot: w.pid for w in gate.status().workers}
        if len(now) == 2 and victim not in now.values():
            break
        time.sleep(1)
    else:
        pytest.fail("the lost worker was not replaced")
    assert all(gate.check(_tsh(ans_kit)).passed for _ in range(4))


def test_a_hung_worker_times_out_and_is_replaced(ans_kit: AnsKit, kit_cache: Path) -> None:
    with ValidationGate.open(mode=ValidationMode.FULL, kit=ans_kit, workers=1, work_dir=kit_cache,
                             check_timeout=5) as gate:
        (worker,) = gate.status().workers
        os.kill(worker.pid, signal.SIGSTOP)
        with pytest.raises(ValidationUnavailable):
            gate.check(_tsh(ans_kit))
        assert gate.check(_tsh(ans_kit)).passed  # waits for the replacement
        (replacement,) = gate.status().workers
        assert replacement.pid != worker.pid
    for pid in (worker.pid, replacement.pid):
        assert not _alive(pid)
    with pytest.raises(ValidationUnavailable, match="closed"):
        gate.check(_tsh(ans_kit))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie is dead
        return f.read().split()[2] != "Z"


def test_xsd_mode_runs_in_process_and_off_checks_nothing(ans_kit: AnsKit) -> None:
    broken = _tsh(ans_kit).replace(b'<interpretationCode code="N"', b'<interpretationCode code="ZZ"', 1)
    with ValidationGate.open(mode=ValidationMode.XSD, kit=ans_kit) as gate:
        assert gate.check(broken).passed  # the schematrons would refuse it; the XSD does not
        assert not gate.check(b"<x/>").passed
        assert gate.status().workers == ()
    with ValidationGate.open(mode=ValidationMode.OFF) as gate:
        assert gate.check(b"anything").passed
        assert gate.status().kit == ""


def test_full_or_xsd_without_a_kit_is_a_configuration_error() -> None:
    for mode in (ValidationMode.FULL, ValidationMode.XSD):
        with pytest.raises(KitError, match="needs the ANS kit"):
            ValidationGate(mode=mode)


def test_connector_validate_runs_the_gate_from_the_command_line(ans_kit: AnsKit, tmp_path: Path) -> None:
    """``python -m connector`` spawns the workers: they must not run the command again (no main guard).

    The third document makes StrucMin raise a type error whose Saxon message quotes the date
    twice: a worker's stderr is the service's log, so nothing of it may get there.
    """
    good, bad, raising = tmp_path / "good.xml", tmp_path / "bad.xml", tmp_path / "raising.xml"
    good.write_bytes(_tsh(ans_kit))
    bad.write_bytes(_tsh(ans_kit).replace(b'<realmCode code="FR"/>', b"", 1))
    high = b'<high value="20210104152530+0100"/>'
    assert _tsh(ans_kit).count(high) >= 1
    raising.write_bytes(_tsh(ans_kit).replace(high, high + high, 1))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CONNECTOR_CONFIG", None)
    result = subprocess.run([sys.executable, "-m", "connector", "validate", str(good), str(bad), str(raising),
                             "--ans-kit", str(ans_kit.root), "--json"], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=1800)
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert [(Path(r["path"]).name, r["ok"]) for r in answer] == [
        ("good.xml", True), ("bad.xml", False), ("raising.xml", False)]
    assert any("ASIP-STRUCT-MIN-StrucMin.sch" in p for p in answer[1]["problems"])
    assert any("could not run" in p for p in answer[2]["problems"])
    assert "Traceback" not in result.stderr
    assert "20210104152530" not in result.stderr + result.stdout
