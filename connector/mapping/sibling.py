"""Sibling test files: ``biochimie.test.yaml`` next to ``biochimie.yaml`` (example OBX → expected output).

A case is an OBX line as the SIL logs it plus what must come out; only the keys written
under ``expect`` are compared::

    - obx: "OBX|1|NM|GLYMG^Glycémie à jeun^L||95|mg/dL|70-110|N|||F"
      expect: {loinc: 53049-3, unit: g/L, value: "0.95", range: "0.7-1.1"}

The OBX reader here is deliberately tiny (default separators, no escapes): the examples
are written by hand, the real parser lives in :mod:`connector.parse`.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from connector.model import (
    Coded,
    CodedValue,
    LabReport,
    MappedResult,
    MessageHeader,
    Numeric,
    Order,
    Patient,
    ReferenceRange,
    Result,
    ResultValue,
    StructuredNumeric,
    Text,
)

from .files import Finding
from .mapper import MappingSettings, map_report
from .mappings import Mappings
from .values import format_decimal

__all__ = ["obx_to_result", "run_sibling_tests"]

EXPECT_KEYS = ("loinc", "display", "unit", "value", "range", "chapter", "subchapter", "interpretation", "status")


def _coded(text: str) -> Coded:
    parts = (text.split("^") + [""] * 6)[:6]
    return Coded(*parts)


def _value(kind: str, text: str) -> ResultValue:
    if kind in ("NM", "SN"):
        comparator = next((c for c in ("<=", ">=", "<", ">") if text.startswith(c)), "")
        try:
            number = Decimal(text[len(comparator):].replace(",", "."))
        except InvalidOperation:
            return Text(text)
        if comparator:
            return StructuredNumeric(comparator, number, "", None, text)
        return Numeric(number, text)
    if kind in ("CE", "CWE", "CNE"):
        return CodedValue(_coded(text))
    return Text(text)


def obx_to_result(line: str) -> Result:
    """An OBX segment (``|`` and ``^`` separators) → Result; enough for hand-written examples."""
    fields = line.strip().split("|") + [""] * 20
    if fields[0] != "OBX":
        raise ValueError("expected a line starting with OBX|")
    units = _coded(fields[6]) if fields[6] else None
    flags = tuple(f for f in fields[8].split("~") if f)
    return Result(set_id=fields[1], value_type=fields[2], code=_coded(fields[3]), sub_id=fields[4],
                  values=(_value(fields[2], fields[5]),) if fields[5] else (), units=units,
                  reference_range=fields[7], abnormal_flags=flags, status=fields[11])


def _render(mapped: MappedResult, key: str) -> str:
    if key == "loinc":
        return mapped.loinc.code if mapped.loinc else "null"
    if key in ("chapter", "subchapter"):
        coded = getattr(mapped, key)
        return coded.code if coded else "null"
    if key == "value":
        value = mapped.value
        if isinstance(value, Numeric):
            return format_decimal(value.value)
        if isinstance(value, StructuredNumeric):
            return value.text
        if isinstance(value, CodedValue):
            return value.coded.code
        return value.text if isinstance(value, Text) else ""
    if key == "range":
        return _range_text(mapped.reference_range)
    if key == "interpretation":
        return " ".join(mapped.interpretation)
    return str(getattr(mapped, key))


def _range_text(ref: ReferenceRange | None) -> str:
    if ref is None:
        return ""
    if ref.text:
        return ref.text
    if ref.low is not None and ref.high is not None:
        return f"{format_decimal(ref.low)}-{format_decimal(ref.high)}"
    if ref.low is not None:
        return f">{format_decimal(ref.low)}"
    return f"<{format_decimal(ref.high)}" if ref.high is not None else ""


def _numbers(text: str) -> tuple[str, list[Decimal]] | None:
    prefix = text[:1] if text.startswith(("<", ">")) else ""
    try:
        return prefix, [Decimal(part) for part in text[len(prefix):].split("-")]
    except InvalidOperation:
        return None


def _same(key: str, got: str, want: str) -> bool:
    """Exact text, except numbers: 0.95 == 0.950, and ranges bound by bound."""
    if key in ("value", "range"):
        got_n, want_n = _numbers(got), _numbers(want)
        if got_n is not None and want_n is not None:
            return got_n == want_n
    return got == want


def _report(result: Result) -> LabReport:
    header = MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="mapping-check")
    order = Order(service=Coded("CHECK"), results=(result,))
    return LabReport(report_id="mapping-check", header=header, patient=Patient(identifiers=()), orders=(order,))


def run_sibling_tests(mapping_file: Path, mappings: Mappings) -> list[Finding]:
    """Run ``<name>.test.yaml`` next to ``mapping_file`` (if any) against ``mappings``."""
    test_file = mapping_file.with_name(mapping_file.stem + ".test.yaml")
    if not test_file.is_file():
        return [Finding(str(mapping_file), None, "", "warning", f"no sibling test file {test_file.name}")]
    name = str(test_file)
    try:
        root = yaml.compose(test_file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        return [Finding(name, mark.line + 1 if mark else None, "", "error", "YAML syntax error")]
    if not isinstance(root, yaml.SequenceNode):
        return [Finding(name, 1, "", "error", "expected a list of cases (- obx: ... / expect: ...)")]
    findings: list[Finding] = []
    for index, case in enumerate(root.value):
        findings += _run_case(name, index, case, mappings)
    return findings


def _run_case(name: str, index: int, case: yaml.Node, mappings: Mappings) -> list[Finding]:
    line, key = case.start_mark.line + 1, f"[{index}]"
    data = yaml.safe_load(yaml.serialize(case)) if isinstance(case, yaml.MappingNode) else None
    if not isinstance(data, dict) or "obx" not in data or not isinstance(data.get("expect"), dict):
        return [Finding(name, line, key, "error", "a case needs `obx:` (an OBX line) and `expect:` (a mapping)")]
    try:
        result = obx_to_result(str(data["obx"]))
    except ValueError as exc:
        return [Finding(name, line, f"{key}.obx", "error", str(exc))]
    # A sibling test checks what a mapping gives: an unmapped code is reported, never held.
    mapped = map_report(_report(result), mappings, MappingSettings(hold_unmapped=False)).results
    if not mapped:
        return [Finding(name, line, key, "error", "the result was dropped (OBX-11 D or W)")]
    findings = []
    for field, want in data["expect"].items():
        if field not in EXPECT_KEYS:
            findings.append(Finding(name, line, f"{key}.expect.{field}", "error",
                                    f"unknown key; expected one of {', '.join(EXPECT_KEYS)}"))
            continue
        want_text = "null" if want is None else str(want)
        got = _render(mapped[0], field)
        if not _same(field, got, want_text):
            findings.append(Finding(name, line, f"{key}.expect.{field}", "error",
                                    f"expected {want_text!r}, got {got!r}"))
    return findings
