"""ORC/OBR, OBX and SPM → Order, Result, Specimen (mutable drafts frozen once the message is read)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol

from connector.model import (
    Coded,
    Comment,
    Order,
    Practitioner,
    PreviousResult,
    Result,
    Specimen,
)

from .er7 import Encoding, Segment, unescape
from .fields import cnn, coded, ei, xcn
from .values import BadValue, parse_values

__all__ = ["OrderDraft", "ResultDraft", "SegmentReader", "order_draft", "result_of"]

# HL7 table 0085 (observation result status); "" is allowed: some SILs leave OBX-11 empty.
RESULT_STATUSES = frozenset({"", "C", "D", "F", "I", "N", "O", "P", "R", "S", "U", "W", "X"})


class SegmentReader(Protocol):
    """What the message parser lends to the segment readers."""

    enc: Encoding
    charset: str

    def date(self, seg: Segment, n: int) -> str: ...

    def fail(self, seg: Segment, field_name: str, expected: str) -> Exception: ...


@dataclass
class ResultDraft:
    result: Result
    comments: list[Comment] = field(default_factory=list)
    previous: list[PreviousResult] = field(default_factory=list)

    def same_test(self, code: Coded) -> bool:
        return code.code == self.result.code.code and code.system == self.result.code.system

    def freeze(self) -> Result:
        if not self.comments and not self.previous:
            return self.result
        r = self.result
        # Every field as parsed; only what followed the OBX (NTEs, earlier values) is added.
        return dataclasses.replace(r, comments=tuple(self.comments), previous=tuple(self.previous))


@dataclass
class SpecimenDraft:
    specimen: Specimen
    results: list[ResultDraft] = field(default_factory=list)


@dataclass
class OrderDraft:
    fields: dict[str, object]
    obr: Segment
    results: list[ResultDraft] = field(default_factory=list)
    specimens: list[SpecimenDraft] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)

    def add_result(self, reader: SegmentReader, seg: Segment) -> ResultDraft:
        draft = ResultDraft(result_of(reader, seg))
        # OBX after an SPM are that specimen's observations (IHE LAB-3).
        (self.specimens[-1].results if self.specimens else self.results).append(draft)
        return draft

    def add_specimen(self, reader: SegmentReader, seg: Segment) -> None:
        enc = reader.enc
        identifier = unescape(seg.get(2).split(enc.component, 1)[0].split(enc.subcomponent, 1)[0], enc)
        specimen = Specimen(
            identifier=identifier,
            type=coded(seg.get(4).split(enc.repetition, 1)[0], enc),
            collected_at=reader.date(seg, 17),
            received_at=reader.date(seg, 18),
            source_site=coded(seg.get(8).split(enc.repetition, 1)[0], enc),
            raw=seg.raw,
        )
        self.specimens.append(SpecimenDraft(specimen))

    def freeze(self) -> Order:
        specimens = tuple(
            dataclasses.replace(s.specimen, results=tuple(r.freeze() for r in s.results))
            for s in self.specimens
        )
        if not specimens and self.fields.get("_obr15") is not None:
            specimens = (self.fields["_obr15"],)  # type: ignore[assignment]
        kwargs = {k: v for k, v in self.fields.items() if not k.startswith("_")}
        return Order(
            results=tuple(r.freeze() for r in self.results),
            specimens=specimens,
            comments=tuple(self.comments),
            **kwargs,  # type: ignore[arg-type]
        )


def _first_practitioner(value: str, enc: Encoding) -> Practitioner | None:
    for rep in value.split(enc.repetition):
        person = xcn(rep, enc)
        if person is not None:
            return person
    return None


def order_draft(reader: SegmentReader, orc: Segment | None, obr: Segment) -> OrderDraft:
    """ORC (optional) + OBR → an order draft; prescriber from ORC-12, else OBR-16."""
    enc = reader.enc
    service = coded(obr.get(4), enc)
    if service is None:
        raise reader.fail(obr, "OBR-4", "the requested service code^text^system (universal service identifier)")
    o = orc.get if orc is not None else (lambda n: "")
    prescriber = _first_practitioner(o(12), enc) or _first_practitioner(obr.get(16), enc)
    copy_to = tuple(p for p in (xcn(rep, enc) for rep in obr.get(28).split(enc.repetition)) if p is not None)
    interpreter_field = obr.get(32).split(enc.repetition, 1)[0].split(enc.component, 1)[0]
    collected = reader.date(obr, 7)
    received = reader.date(obr, 14)
    requested = reader.date(obr, 6) or (reader.date(orc, 9) if orc is not None else "")
    fields: dict[str, object] = {
        "service": service,
        "placer_number": ei(o(2), enc) or ei(obr.get(2), enc),
        "filler_number": ei(o(3), enc) or ei(obr.get(3), enc),
        "placer_group": ei(o(4), enc),
        "order_control": unescape(o(1), enc),
        "requested_at": requested,
        "collected_at": collected,
        "received_at": received,
        "reported_at": reader.date(obr, 22),
        "status": unescape(obr.get(25), enc).strip(),
        "prescriber": prescriber,
        "collector": _first_practitioner(obr.get(10), enc),
        "copy_to": copy_to,
        "principal_interpreter": cnn(interpreter_field, enc) if interpreter_field else None,
        "parent_result": obr.get(26),
        "raw": (orc.raw + "\r" + obr.raw) if orc is not None else obr.raw,
    }
    specimen_source = obr.get(15).split(enc.component, 1)[0]
    if specimen_source:  # v2.3: no SPM, the specimen is OBR-15
        fields["_obr15"] = Specimen(
            type=coded(specimen_source, enc, sep=enc.subcomponent), collected_at=collected, received_at=received
        )
    return OrderDraft(fields, obr)


def result_of(reader: SegmentReader, seg: Segment) -> Result:
    """OBX → Result (without its NTEs and previous values, added by the draft)."""
    enc = reader.enc
    code = coded(seg.get(3), enc)
    if code is None:
        raise reader.fail(seg, "OBX-3", "an observation identifier code^text^system (the message may be truncated)")
    value_type = unescape(seg.get(2), enc).strip()
    try:
        values = parse_values(value_type, seg.get(5), enc, reader.charset)
    except BadValue as bad:
        raise reader.fail(seg, "OBX-5", bad.expected) from None
    status = unescape(seg.get(11), enc).strip()
    if status.upper() not in RESULT_STATUSES:
        raise reader.fail(seg, "OBX-11", "a result status of HL7 table 0085 (F, C, P, X, W, D, O, I, R, S, U, N)")
    flags = tuple(
        f
        for f in (unescape(rep.split(enc.component, 1)[0], enc).strip() for rep in seg.get(8).split(enc.repetition))
        if f
    )
    org = seg.get(23).split(enc.component, 1)[0] or _org_of_obx15(seg.get(15), enc)
    return Result(
        set_id=seg.get(1),
        value_type=value_type,
        code=code,
        sub_id=unescape(seg.get(4), enc).strip(),
        values=values,
        units=coded(seg.get(6), enc),
        reference_range=unescape(seg.get(7), enc),
        abnormal_flags=flags,
        status=status,
        observed_at=reader.date(seg, 14),
        performing_org=unescape(org, enc),
        responsible_observer=_first_practitioner(seg.get(16), enc),
        method=coded(seg.get(17).split(enc.repetition, 1)[0], enc),
        analysed_at=reader.date(seg, 19),
        raw=seg.raw,
    )


def _org_of_obx15(value: str, enc: Encoding) -> str:
    parts = value.split(enc.component)
    return parts[1] if len(parts) > 1 and parts[1] else parts[0]
