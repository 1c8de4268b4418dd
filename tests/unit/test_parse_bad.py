"""Bad input: MalformedHL7 naming where and what was expected, never the value found."""

from __future__ import annotations

import logging

import pytest
from _parse_helpers import BAD_DIR, ORU_DIR

from connector.errors import InputError, MalformedHL7
from connector.logs import JsonFormatter
from connector.parse import MAX_MESSAGE_BYTES, header_of, parse_message, split_messages
from tests.support.settings import PARSE, parse_settings

# file → (segment, field) the error must name
EXPECTED = {
    "empty.hl7": ("", ""),
    "binary.hl7": ("", ""),
    "not_hl7.hl7": ("MSH", ""),
    "truncated.hl7": ("OBX[2]", "OBX-3"),
    "msh_only.hl7": ("PID", ""),
    "no_pid.hl7": ("PID", ""),
    "no_obr.hl7": ("OBR", ""),
    "nm_not_a_number.hl7": ("OBX[1]", "OBX-5"),
    "bad_date.hl7": ("OBR[1]", "OBR-7"),
    "invalid_utf8.hl7": ("MSH", "MSH-18"),
    "cr_less.hl7": ("MSH", ""),
    "bad_nir_key.hl7": ("PID[1]", "PID-3"),
    "not_oru.hl7": ("MSH", "MSH-9"),
    "bad_base64.hl7": ("OBX[1]", "OBX-5"),
    "bad_result_status.hl7": ("OBX[1]", "OBX-11"),
    "no_obx3.hl7": ("OBX[1]", "OBX-3"),
}
# Strings from the synthetic patient and values of the bad files that must never appear in an error.
CANARIES = ("TESTPATIENT", "ALICE", "19850507", "IPP0005", "deux", "285057512004200", "20261345", "2.350")


def test_every_bad_file_is_listed() -> None:
    assert sorted(p.name for p in BAD_DIR.glob("*.hl7")) == sorted(EXPECTED)
    readme = (BAD_DIR / "README.md").read_text(encoding="utf-8")
    assert all(name in readme for name in EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_names_segment_and_field(name: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    messages = split_messages((BAD_DIR / name).read_bytes(), source=name)
    assert len(messages) == 1
    with pytest.raises(MalformedHL7) as caught:
        parse_message(messages[0], source=name, index=0, settings=PARSE)
    error = caught.value
    assert (error.segment, error.field) == EXPECTED[name]
    assert error.source == name and error.expected and str(error).startswith(name)
    shown = str(error) + "\n".join(JsonFormatter().format(r) for r in caplog.records)  # every logged field
    for canary in CANARIES:
        assert canary not in shown, (name, canary)


def test_too_big_is_refused_before_decoding() -> None:
    good = (ORU_DIR / "05_tsh.hl7").read_bytes()
    big = good + b"NTE|1|L|" + b"x" * (MAX_MESSAGE_BYTES - len(good)) + b"\r"
    assert split_messages(big) == [big]
    with pytest.raises(MalformedHL7) as caught:
        parse_message(big, source="big.hl7", settings=PARSE)
    assert "MAX_MESSAGE_BYTES" in str(caught.value)


def test_unknown_obx2_with_text_is_kept_as_text() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|NM|", b"|ZZ|")
    (report,) = parse_message(data, settings=PARSE)
    assert report.results[0].values[0].text == "2.350"  # type: ignore[union-attr]


def test_nm_with_comparator_becomes_structured() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|2.350|", b"|<0.01|")
    (report,) = parse_message(data, settings=PARSE)
    value = report.results[0].values[0]
    assert value.comparator == "<" and str(value.number1) == "0.01"  # type: ignore[union-attr]


def test_french_decimal_comma_accepted() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|2.350|", b"|2,350|")
    (report,) = parse_message(data, settings=PARSE)
    assert str(report.results[0].values[0].value) == "2.350"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "replacement", [b"|^abc|", b"|<<^5|", b"|^1^?^2|", b"|^1^:^x|"], ids=["text", "comparator", "separator", "num2"]
)
def test_bad_structured_numeric(replacement: bytes) -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|NM|", b"|SN|").replace(b"|2.350|", replacement)
    with pytest.raises(MalformedHL7) as caught:
        parse_message(data, settings=PARSE)
    assert caught.value.field == "OBX-5"


def test_bad_birth_date() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|19850507|", b"|19850230|")
    with pytest.raises(MalformedHL7) as caught:
        parse_message(data, settings=PARSE)
    assert (caught.value.segment, caught.value.field) == ("PID[1]", "PID-7")
    assert "19850230" not in str(caught.value)


def test_missing_control_id() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"|MSG0005|", b"||")
    with pytest.raises(MalformedHL7) as caught:
        parse_message(data, settings=PARSE)
    assert caught.value.field == "MSH-10"


def test_bad_metadmpmss_flag() -> None:
    data = (ORU_DIR / "31_ans_shape_b.hl7").read_bytes().replace(b"|N^^expandedYes-NoIndicator|", b"|Z^^x|", 1)
    with pytest.raises(MalformedHL7) as caught:
        parse_message(data, settings=PARSE)
    assert (caught.value.segment, caught.value.field) == ("OBX[3]", "OBX-5")


def test_wrong_charset_refuses_unless_a_fallback_is_named_for_the_sil() -> None:
    data = (ORU_DIR / "05_tsh.hl7").read_bytes().replace(b"TESTPATIENT", b"TEST\xe9")  # Latin-1 under UTF-8
    with pytest.raises(MalformedHL7) as caught:  # identity data is never guessed (issue 13)
        parse_message(data, settings=PARSE)
    assert caught.value.field == "MSH-18"

    (report,) = parse_message(data, settings=parse_settings(fallback_charsets={"SIL^LABO": "cp1252"}))
    assert report.patient.names[0].family == "TESTé" and report.header.decoded_as == "cp1252"


def test_errors_are_input_errors() -> None:
    assert issubclass(MalformedHL7, InputError)


def test_header_of_broken_messages() -> None:
    header = header_of((BAD_DIR / "nm_not_a_number.hl7").read_bytes())
    assert header is not None and header.control_id == "MSG0005" and header.sending_application == "SIL"
    assert header_of((BAD_DIR / "binary.hl7").read_bytes()) is None
    assert header_of(b"") is None
    assert header_of(b"MSH|") is None
    lf = header_of((ORU_DIR / "23_endings_lf.hl7").read_bytes())
    assert lf is not None and lf.control_id == "MSG0023"


def test_text_before_the_first_msh_is_reported_not_dropped() -> None:
    good = (ORU_DIR / "05_tsh.hl7").read_bytes()
    messages = split_messages(b"garbage line\r" + good)
    assert len(messages) == 2
    with pytest.raises(MalformedHL7):
        parse_message(messages[0], settings=PARSE)
    assert parse_message(messages[1], settings=PARSE)


def test_empty_file_is_reported() -> None:
    assert split_messages(b"") == [b""]
    assert split_messages(b"\r\n\r\n") == [b"\r\n\r\n"]


def test_orc_without_obr_is_kept() -> None:
    from collections import Counter

    from _parse_helpers import collected_segments

    data = (ORU_DIR / "19_two_patients.hl7").read_bytes().replace(
        b"\rPID|1||170021305500773", b"\rORC|RE|LONE^SIL\rPID|1||170021305500773"
    )
    reports = parse_message(data, settings=PARSE)
    expected = Counter(s for s in data.decode("utf-8").split("\r") if s)
    assert collected_segments(reports) == expected
    assert any(s.raw == "ORC|RE|LONE^SIL" for s in reports[0].other_segments)
