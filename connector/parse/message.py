"""One ORU^R01 message → one LabReport per patient (PID group), nothing dropped.

Grouping follows the v2.5 ORU_R01 structure: ``MSH [SFT] {PID [NTE] … {[ORC] OBR [NTE] [TQ1]
{OBX [NTE]} {SPM {OBX}}}}``. An NTE belongs to the segment it follows (patient, order or result).
Every segment ends up in a mapped value's ``raw`` or in ``LabReport.other_segments``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field

from connector.errors import InputError, MalformedHL7
from connector.limits import MAX_MESSAGE_BYTES
from connector.logs import event
from connector.model import (
    Comment,
    DocumentFlags,
    EmbeddedDocument,
    Encapsulated,
    LabReport,
    MessageHeader,
    Participant,
    Patient,
    PreviousResult,
    RawSegment,
)

from .charset import declared_charset, decode_message
from .er7 import Encoding, Segment, split_segments, unescape
from .fields import coded, xcn
from .header import header_from_msh, msh_segment, report_id_for
from .identity import IdentityProblem, patient_from_pid
from .orders import OrderDraft, ResultDraft, order_draft, result_of
from .settings import ParseSettings
from .timestamps import is_valid_dtm
from .values import BadValue, encapsulated, is_encapsulated, text_value

__all__ = ["MAX_SEGMENTS_PER_MESSAGE", "parse_message"]

# 50 MB of ordinary segments is ~200 000 segments; a lab report has a few hundred at most.
MAX_SEGMENTS_PER_MESSAGE = 100_000

_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1a]")
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_ANTERIORITY = re.compile(r"ANT\d*", re.IGNORECASE)
_DOCUMENT_CODE = "11502-2"  # LOINC "CR d'examens biologiques": the CDA sent in shape B
_META_SYSTEM = "METADMPMSS"
_MAIL_BODIES = {"CORPSMAIL_PS": "mail_body_ps", "CORPSMAIL_PATIENT": "mail_body_patient"}


class _Fail(Exception):
    """Internal: where and what; turned into MalformedHL7 with the source by parse_message."""

    def __init__(self, segment: str, field: str, expected: str) -> None:
        super().__init__(expected)
        self.segment, self.field, self.expected = segment, field, expected


@dataclass
class _PatientDraft:
    pid: Segment
    patient: Patient
    comments: list[Comment] = field(default_factory=list)
    orders: list[OrderDraft] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    flags: list[tuple[str, bool]] = field(default_factory=list)
    mail_bodies: dict[str, str] = field(default_factory=dict)
    end_of_thread: bool = False
    documents: list[EmbeddedDocument] = field(default_factory=list)
    other: list[RawSegment] = field(default_factory=list)


def parse_message(
    data: bytes, *, settings: ParseSettings, source: str = "", index: int = 0
) -> tuple[LabReport, ...]:
    """One message (from :func:`split_messages`) → one LabReport per patient.

    Raises :class:`MalformedHL7` naming source, message index, segment (``OBX[3]``), field
    (``OBX-5``) and what was expected; never the value found.
    """
    try:
        return _MessageParser(data, source, settings).run()
    except _Fail as fail:
        raise MalformedHL7(
            fail.expected, source=source, segment=fail.segment, field=fail.field, message_index=index
        ) from None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - contract: bad input never gives a traceback
        # The exception text may quote the input: log only its type, never its message.
        event("parse.defect", level=logging.ERROR, source=source or "<input>", message_index=index,
              error=type(exc).__name__)
        raise MalformedHL7(
            "a message the parser can read (internal parser error; the message is quarantined)",
            source=source,
            message_index=index,
        ) from None


class _MessageParser:
    def __init__(self, data: bytes, source: str, settings: ParseSettings) -> None:
        self.data = data
        self.source = source
        self.settings = settings
        self.enc = Encoding()
        self.charset = "utf-8"

    # ------------------------------------------------------------------ bytes → segments

    def run(self) -> tuple[LabReport, ...]:
        segments = self._segments()
        header = dataclasses.replace(header_from_msh(segments[0]), decoded_as=self.charset)
        self._check_header(segments[0])
        return self._group(header, segments)

    def _segments(self) -> list[Segment]:
        data = self.data
        if len(data) > MAX_MESSAGE_BYTES:
            raise _Fail("", "", f"a message of at most {MAX_MESSAGE_BYTES // (1024 * 1024)} MB (MAX_MESSAGE_BYTES)")
        data = data.removeprefix(b"\xef\xbb\xbf").strip(b"\x0b\x1c\r\n \t")
        if not data:
            raise _Fail("", "", "an HL7 message (the input is empty)")
        if _CONTROL_BYTES.search(data):
            raise _Fail("", "", "HL7 text (the input holds binary control bytes)")
        first_line = re.split(rb"\r|\n", data, maxsplit=1)[0]
        if msh_segment(first_line.decode("latin-1")) is None:
            if not first_line.startswith(b"MSH"):
                raise _Fail("MSH", "", "a message starting with an MSH segment")
            raise _Fail("MSH", "MSH-2", "a field separator and 4 or 5 distinct encoding characters (^~\\&)")
        decoded = decode_message(data, declared_charset(first_line), self._fallback(first_line))
        if decoded is None:
            raise _Fail("MSH", "MSH-18", "text in the declared charset, in UTF-8 or in the fallback charset")
        text, self.charset = decoded
        lines = split_segments(text)
        if len(lines) > MAX_SEGMENTS_PER_MESSAGE:
            raise _Fail("", "", f"at most {MAX_SEGMENTS_PER_MESSAGE} segments (MAX_SEGMENTS_PER_MESSAGE)")
        parsed = msh_segment(lines[0])
        if parsed is None:  # pragma: no cover - checked on the bytes above
            raise _Fail("MSH", "MSH-2", "a field separator and 4 or 5 encoding characters")
        msh, self.enc = parsed
        sep = self.enc.field
        if len(lines) == 1 and any(name + sep in lines[0] for name in ("PID", "ORC", "OBR", "OBX")):
            raise _Fail("MSH", "", "segments ending with CR (or LF, CRLF); none was found")
        segments = [msh]
        counts: dict[str, int] = {"MSH": 1}
        for position, line in enumerate(lines[1:], start=1):
            name = line[:3]
            if not _SEGMENT_NAME.fullmatch(name) or (len(line) > 3 and line[3] != sep):
                raise _Fail(f"segment {position + 1}", "", "a segment starting with a three-character name and '|'")
            counts[name] = counts.get(name, 0) + 1
            label = f"{name}[{counts[name]}]"
            if name == "MSH":
                raise _Fail(label, "", "one message per parse (files with several MSH go through split_messages)")
            segments.append(Segment(name, line.split(sep), line, position, label))
        return segments

    def _fallback(self, msh_line: bytes) -> str:
        """The configured fallback codec for the SIL this MSH names (MSH-3, MSH-4 first components)."""
        fields = msh_line.split(msh_line[3:4])

        def first_component(n: int) -> str:
            value = fields[n] if len(fields) > n else b""
            return value.split(msh_line[4:5])[0].decode("ascii", "replace")

        return self.settings.fallback_for(first_component(2), first_component(3))

    def _check_header(self, msh: Segment) -> None:
        kind = msh.get(9).split(self.enc.component)
        if kind[0] != "ORU" or (len(kind) > 1 and kind[1] not in ("R01", "")):
            raise _Fail("MSH", "MSH-9", "an ORU^R01 message")
        if not msh.get(10).strip():
            raise _Fail("MSH", "MSH-10", "a message control id (it identifies the message for ACK and dedup)")
        self.date(msh, 7)

    def date(self, seg: Segment, n: int) -> str:
        """SEG-n as a validated DTM (first component), "" when empty."""
        value = unescape(seg.get(n).split(self.enc.repetition, 1)[0].split(self.enc.component, 1)[0], self.enc)
        value = value.strip()
        if value and not is_valid_dtm(value):
            raise _Fail(seg.label, f"{seg.name}-{n}", "a date/time YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ]")
        return value

    def fail(self, seg: Segment, field_name: str, expected: str) -> _Fail:
        return _Fail(seg.label, field_name, expected)

    # ------------------------------------------------------------------ segments → reports

    def _group(self, header: MessageHeader, segments: list[Segment]) -> tuple[LabReport, ...]:
        shared: list[RawSegment] = [RawSegment("MSH", 0, segments[0].raw)]
        patients: list[_PatientDraft] = []
        current: _PatientDraft | None = None
        order: OrderDraft | None = None
        pending_orc: Segment | None = None
        notes: list[Comment] | None = None  # where the next NTE goes; None: other_segments
        flag_code = ""  # the MetaDMPMSS OBX the next NTE follows
        last_result: ResultDraft | None = None  # the result an ANT OBX may be a previous value of

        for seg in segments[1:]:
            name = seg.name
            if name == "PID":
                if pending_orc is not None and current is not None:  # an ORC without OBR: keep it
                    current.other.append(RawSegment("ORC", pending_orc.position, pending_orc.raw))
                current = _PatientDraft(seg, self._patient(seg))
                patients.append(current)
                order, pending_orc, notes, flag_code, last_result = None, None, current.comments, "", None
                continue
            if current is None:
                if name in ("ORC", "OBR", "OBX", "SPM", "PRT"):
                    raise _Fail("PID", "", f"a PID segment (patient) before {seg.label}")
                shared.append(RawSegment(name, seg.position, seg.raw))
                continue
            flag_code = "" if name != "NTE" else flag_code
            if name == "ORC":
                if pending_orc is not None:
                    current.other.append(RawSegment("ORC", pending_orc.position, pending_orc.raw))
                pending_orc, notes, last_result = seg, None, None
            elif name == "OBR":
                order = order_draft(self, pending_orc, seg)
                current.orders.append(order)
                pending_orc, notes, last_result = None, order.comments, None
            elif name == "OBX":
                if order is None:
                    raise _Fail("OBR", "", f"an OBR segment (order) before {seg.label}")
                notes, flag_code, last_result = self._obx(seg, current, order, last_result)
            elif name == "NTE":
                comment = self._comment(seg)
                if flag_code == "DESTMSSANTEPAT" and comment.kind.upper() == "FIN":
                    current.end_of_thread = True
                if notes is not None and not flag_code:
                    notes.append(comment)
                else:
                    current.other.append(RawSegment(name, seg.position, seg.raw))
            elif name == "SPM" and order is not None:
                order.add_specimen(self, seg)
                notes, last_result = None, None
            elif name == "PRT":
                current.participants.append(self._participant(seg))
            else:  # PD1, NK1, PV1, PV2, TQ1, TQ2, CTD, FT1, CTI, DSC, Z-segments…: kept verbatim
                current.other.append(RawSegment(name, seg.position, seg.raw))
        if not patients:
            raise _Fail("PID", "", "a PID segment (patient)")
        if pending_orc is not None and current is not None:
            current.other.append(RawSegment("ORC", pending_orc.position, pending_orc.raw))
        return tuple(self._report(header, i, p, shared) for i, p in enumerate(patients))

    def _obx(
        self, seg: Segment, patient: _PatientDraft, order: OrderDraft, last_result: ResultDraft | None
    ) -> tuple[list[Comment] | None, str, ResultDraft | None]:
        """Route one OBX: flag, document, previous value or result. Returns (notes, flag_code, last_result)."""
        enc = self.enc
        code = coded(seg.get(3), enc)
        if code is None:
            raise self.fail(seg, "OBX-3", "an observation identifier code^text^system (the message may be truncated)")
        other = RawSegment("OBX", seg.position, seg.raw)
        if code.system.upper() == _META_SYSTEM:
            self._flag(seg, code.code, patient)
            patient.other.append(other)
            return None, code.code, None
        value = seg.get(5)
        if code.code == _DOCUMENT_CODE and is_encapsulated(value, enc):
            doc = self._encapsulated(seg, value)
            status = unescape(seg.get(11), enc).strip() or "F"
            patient.documents.append(EmbeddedDocument(code=code, data=doc.data, mime_type=doc.mime_type, status=status))
            patient.other.append(other)
            return None, "", None
        sub_id = unescape(seg.get(4), enc).strip()
        if last_result is not None and _ANTERIORITY.fullmatch(sub_id) and last_result.same_test(code):
            result = result_of(self, seg)
            if result.values:
                last_result.previous.append(
                    PreviousResult(result.values[0], result.units.code if result.units else "", result.observed_at)
                )
            patient.other.append(other)
            return None, "", last_result
        draft = order.add_result(self, seg)
        return draft.comments, "", draft

    def _flag(self, seg: Segment, code: str, patient: _PatientDraft) -> None:
        value = seg.get(5)
        if code in _MAIL_BODIES:
            if is_encapsulated(value, self.enc):
                body = self._encapsulated(seg, value, lenient=True).data
            else:
                body = value.encode()
            patient.mail_bodies[_MAIL_BODIES[code]] = body.decode("utf-8", "replace")
            return
        answer = unescape(value.split(self.enc.component, 1)[0], self.enc).strip().upper()
        if answer not in ("Y", "N"):
            raise self.fail(seg, "OBX-5", "Y or N (expandedYes-NoIndicator) for a MetaDMPMSS flag")
        patient.flags.append((code, answer == "Y"))

    def _encapsulated(self, seg: Segment, value: str, *, lenient: bool = False) -> Encapsulated:
        try:
            return encapsulated(value, self.enc, lenient=lenient)
        except BadValue as bad:
            raise self.fail(seg, "OBX-5", bad.expected) from None

    def _patient(self, seg: Segment) -> Patient:
        try:
            patient = patient_from_pid(seg, self.enc, self.settings)
        except IdentityProblem as problem:
            raise self.fail(seg, problem.field, problem.expected) from None
        self.date(seg, 7)
        return patient

    def _comment(self, seg: Segment) -> Comment:
        text = "\n".join(text_value(rep, self.enc, self.charset) for rep in seg.get(3).split(self.enc.repetition))
        kind = unescape(seg.get(4).split(self.enc.component, 1)[0], self.enc)
        return Comment(text, unescape(seg.get(2), self.enc), kind, raw=seg.raw)

    def _participant(self, seg: Segment) -> Participant:
        enc = self.enc
        role = unescape(seg.get(4).split(enc.component, 1)[0], enc)
        person = xcn(seg.get(5).split(enc.repetition, 1)[0], enc) if seg.get(5) else None
        address = ""
        for rep in seg.get(15).split(enc.repetition):
            parts = rep.split(enc.component)
            if len(parts) > 3 and parts[3]:
                address = unescape(parts[3], enc)
                break
        return Participant(role=role, person=person, organization=seg.get(8), address=address, raw=seg.raw)

    def _report(self, header: MessageHeader, i: int, p: _PatientDraft, shared: list[RawSegment]) -> LabReport:
        if not p.orders:
            raise _Fail("OBR", "", f"an OBR segment (order) for {p.pid.label}")
        flags = None
        if p.flags or p.mail_bodies or p.end_of_thread:
            flags = DocumentFlags(values=tuple(p.flags), end_of_thread=p.end_of_thread, **p.mail_bodies)
        return LabReport(
            report_id=report_id_for(header, i),
            header=header,
            patient=p.patient,
            orders=tuple(o.freeze() for o in p.orders),
            comments=tuple(p.comments),
            participants=tuple(p.participants),
            flags=flags,
            documents=tuple(p.documents),
            other_segments=tuple(sorted(shared + p.other, key=lambda s: s.position)),
            source=self.source,
        )
