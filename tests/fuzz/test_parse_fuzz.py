"""Fuzz the parse stage: whatever the bytes, only our InputError may escape split/parse/header_of."""

from __future__ import annotations

import logging
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import InputError
from connector.parse import header_of, parse_message, split_messages
from tests.support.settings import PARSE

CORPUS = [p.read_bytes() for p in sorted((Path(__file__).resolve().parents[1] / "data" / "oru").glob("*.hl7"))]
FUZZ = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Bytes an HL7 parser cares about: delimiters, escapes, line ends, digits, a multi-byte char.
INTERESTING = [
    b"|", b"^", b"~", b"\\", b"&", b"#", b"\r", b"\n", b"\r\n", b"\x00", b"\xc3", b"\xe9", b"9", b"<",
    b"\\X", b"\\.br\\",
]


class _DefectLog(logging.Handler):
    """Counts the parser's safety net: an input reaching it is a parser bug, even if it gave an InputError."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.defects: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.defects.append(record.getMessage())


DEFECTS = _DefectLog()
logging.getLogger("connector.parse.message").addHandler(DEFECTS)


def expect_only_input_errors(data: bytes) -> None:
    header_of(data)
    for i, message in enumerate(split_messages(data, source="fuzz")):
        try:
            parse_message(message, source="fuzz", index=i, settings=PARSE)
        except InputError as error:
            assert str(error).startswith("fuzz")
    assert not DEFECTS.defects, DEFECTS.defects


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    expect_only_input_errors(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        chunk = draw(st.sampled_from(INTERESTING) | st.binary(min_size=1, max_size=4))
        if action == "insert":
            data[pos:pos] = chunk
        elif action == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif action == "replace":
            data[pos : pos + len(chunk)] = chunk
        else:
            del data[pos:]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_corpus(data: bytes) -> None:
    expect_only_input_errors(data)


SEGMENT_NAMES = ["PID", "ORC", "OBR", "OBX", "NTE", "SPM", "PRT", "ZZZ", "TQ1", "MSH"]
FIELD_TEXT = st.text(alphabet="AB1.<>=:^~&\\|-+FSTREXH09é ", max_size=12)


@st.composite
def shuffled_segments(draw: st.DrawFn) -> bytes:
    head = b"MSH|^~\\&|SIL|LABO|C|L|20261120||ORU^R01|F1|P|2.5|||||FRA|UNICODE UTF-8"
    segments = [head]
    for _ in range(draw(st.integers(0, 12))):
        name = draw(st.sampled_from(SEGMENT_NAMES))
        fields = draw(st.lists(FIELD_TEXT, max_size=34))
        segments.append("|".join([name, *fields]).encode("utf-8"))
    return b"\r".join(segments)


@FUZZ
@given(shuffled_segments())
def test_shuffled_segments(data: bytes) -> None:
    expect_only_input_errors(data)
