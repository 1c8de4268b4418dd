"""What one value may cost: size limits per value type, so no ordinary field can stall the service.

Issue 13: a comment of one unbroken word took minutes to lay out, and 500,000 components in one
field took 114 s, all inside the message size limit. The work per value is linear now; these
limits bound its size, so the worst build stays within seconds whatever the SIL sends. Each is
far above what a lab report holds and is named in the refusal (the SIL gets AR with the reason;
a report already received is quarantined with it when it is built).

    structure  (message bytes, before parsing)       per field: repetitions; per repetition: components
    values     (the parsed report, when received      free text, numbers, codes, labels, results per
                and again when built)                  report, free text per report
"""

from __future__ import annotations

from collections.abc import Iterator

from connector.errors import InputError
from connector.model import CodedValue, LabReport, Numeric, Result, StructuredNumeric, Text

__all__ = [
    "MAX_CODE_CHARS",
    "MAX_COMPONENTS",
    "MAX_LABEL_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_REPETITIONS",
    "MAX_REPORT_TEXT_CHARS",
    "MAX_RESULTS_PER_REPORT",
    "MAX_TEXT_CHARS",
    "check_structure",
    "check_values",
]

# One free text (an NTE-3 comment, an OBX-5 TX/FT/ST value): ~250 printed pages. A lab's longest texts
# (culture conclusions, interpretations) are a few thousand characters; a document belongs in an ED.
MAX_TEXT_CHARS = 1_000_000
# All free text of one report: bounds the PDF and CDA build (linear, ~1 s per million characters here).
MAX_REPORT_TEXT_CHARS = 2_000_000
# An NM or SN value: no instrument reports more than ~15 significant digits.
MAX_NUMBER_CHARS = 32
# A code (OBX-3.1, OBX-5 CE/CWE, units): LOINC codes have 7 characters, local codes a few dozen.
MAX_CODE_CHARS = 256
# A label (a code's display text, a unit's, a reference range).
MAX_LABEL_CHARS = 4_096
# Rows of the results table: a large panel is a few hundred results.
MAX_RESULTS_PER_REPORT = 10_000
# HL7 v2.5 data types have at most 25 components (XCN); a few unescaped '^' in a text stay far below.
MAX_COMPONENTS = 100
# Repetitions of one field: OBX-5 or NTE-3 paragraphs; PID-3 identifiers.
MAX_REPETITIONS = 10_000


def check_structure(message: bytes, *, source: str, index: int) -> None:
    """Repetitions and components per field of every segment, on the bytes (one pass, no parse)."""
    if not message.startswith(b"MSH") or len(message) < 8:
        return  # not an HL7 message: the parser says what it expected
    field_sep, component, repetition = message[3:4], message[4:5], message[5:6]
    for number, segment in enumerate(message.replace(b"\n", b"\r").split(b"\r"), start=1):
        if segment.count(component) < MAX_COMPONENTS and segment.count(repetition) < MAX_REPETITIONS:
            continue  # no field of it can hold that many (two counts in C: most segments stop here)
        name = segment[:3].decode("ascii", "replace")
        for position, field in enumerate(segment.split(field_sep)):
            if field.count(repetition) >= MAX_REPETITIONS:
                raise InputError(f"at most {MAX_REPETITIONS} repetitions in a field (MAX_REPETITIONS)",
                                 source=source, segment=f"segment {number}", field=f"{name}-{position}",
                                 message_index=index)
            if field.count(component) >= MAX_COMPONENTS and any(
                    rep.count(component) >= MAX_COMPONENTS for rep in field.split(repetition)):
                raise InputError(f"at most {MAX_COMPONENTS} components in a field; HL7 data types have at most "
                                 "25 (MAX_COMPONENTS)", source=source, segment=f"segment {number}",
                                 field=f"{name}-{position}", message_index=index)


def check_values(report: LabReport, *, source: str, index: int | None = None) -> None:
    """Every value of ``report`` within the limit of its type; :class:`InputError` naming the first one over."""
    where = f"{source or 'input'} report {report.report_id}"
    results = list(_results(report))
    if len(results) > MAX_RESULTS_PER_REPORT:
        raise InputError(f"at most {MAX_RESULTS_PER_REPORT} results in a report (MAX_RESULTS_PER_REPORT)",
                         source=where, segment="OBX", message_index=index)
    total = 0
    for segment, field, kind, text in _texts(report, results):
        limit = _LIMITS[kind]
        if len(text) > limit:
            raise InputError(f"{_NAMES[kind]} of at most {limit} characters ({_CONSTANTS[kind]})",
                             source=where, segment=segment, field=field, message_index=index)
        total += len(text) if kind == "text" else 0
    if total > MAX_REPORT_TEXT_CHARS:
        raise InputError(f"at most {MAX_REPORT_TEXT_CHARS} characters of free text in a report "
                         "(MAX_REPORT_TEXT_CHARS)", source=where, segment="NTE", message_index=index)


_LIMITS = {"text": MAX_TEXT_CHARS, "number": MAX_NUMBER_CHARS, "code": MAX_CODE_CHARS, "label": MAX_LABEL_CHARS}
_NAMES = {"text": "a free text", "number": "a number", "code": "a code", "label": "a label"}
_CONSTANTS = {"text": "MAX_TEXT_CHARS", "number": "MAX_NUMBER_CHARS", "code": "MAX_CODE_CHARS",
              "label": "MAX_LABEL_CHARS"}


def _results(report: LabReport) -> Iterator[Result]:
    for order in report.orders:
        yield from order.results
        for specimen in order.specimens:
            yield from specimen.results


def _texts(report: LabReport, results: list[Result]) -> Iterator[tuple[str, str, str, str]]:
    """(segment, field, kind, text) of every value whose size the SIL decides."""
    for comment in report.comments:
        yield "NTE", "NTE-3", "text", comment.text
    for order in report.orders:
        yield "OBR", "OBR-4", "code", order.service.code
        yield "OBR", "OBR-4", "label", order.service.display
        for comment in order.comments:
            yield "NTE", "NTE-3", "text", comment.text
    for result in results:
        seg = f"OBX (OBX-1 {result.set_id[:10]})" if result.set_id else "OBX"
        yield seg, "OBX-3", "code", result.code.code
        yield seg, "OBX-3", "label", result.code.display
        if result.units is not None:
            yield seg, "OBX-6", "code", result.units.code
            yield seg, "OBX-6", "label", result.units.display
        yield seg, "OBX-7", "label", result.reference_range
        for value in result.values:
            if isinstance(value, Text):
                yield seg, "OBX-5", "text", value.text
            elif isinstance(value, (Numeric, StructuredNumeric)):
                yield seg, "OBX-5", "number", value.text
            elif isinstance(value, CodedValue):
                yield seg, "OBX-5", "code", value.coded.code
                yield seg, "OBX-5", "label", value.coded.display
        for comment in result.comments:
            yield "NTE", "NTE-3", "text", comment.text
    if report.flags is not None:
        for body in (report.flags.mail_body_ps, report.flags.mail_body_patient):
            yield "OBX", "OBX-5", "text", body
