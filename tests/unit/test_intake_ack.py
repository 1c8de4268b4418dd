"""build_ack: ANS-shaped technical ACKs, enhanced mode, ERR locations, no patient data."""

from __future__ import annotations

from pathlib import Path

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from connector.errors import MalformedHL7
from connector.intake import build_ack
from connector.parse import header_of
from tests.support.refkit import ANS_HL7_EXAMPLES, ref_file

CANARY = "ZZCANARYPATIENT"  # synthetic patient value that must never reach an ACK
ORU = (
    "MSH|^~\\&|SIL-Y|labo|PFI-X|Organisation-X|202106060931||ORU^R01^ORU_R01|015|P|2.5|||||FRA|UNICODE UTF-8\r"
    f"PID|||123^^^X^PI||{CANARY}^JEAN\r"
    "OBR|1|1|1|1^TEST^L\r"
    f"OBX|1|NM|1^TEST^L||{CANARY}|mmol/L|||||F\r"
).encode()


def _ack(message: bytes | None, code: str = "AA", error: MalformedHL7 | None = None) -> bytes:
    return build_ack(
        message,
        code=code,
        error=error,
        sending_app="PFI-X",
        sending_facility="Organisation-X",
        control_id="016",
        when="202106060931",
    )


def _segments(ack: bytes) -> dict[str, list[str]]:
    return {line[:3]: line.split("|") for line in ack.decode().split("\r")}


def _assert_valid(ack: bytes) -> None:
    parsed = parse_message(ack.decode(), validation_level=VALIDATION_LEVEL.STRICT)
    assert parsed.validate()


def test_aa_matches_the_ans_example(ans_oru: Path) -> None:
    oru = ans_oru.read_bytes()
    expected = ref_file(*ANS_HL7_EXAMPLES, "ACK_ORU_v2.1.hl7").read_bytes().replace(b"\n", b"\r").rstrip(b"\r")
    assert _ack(oru) == expected


def test_echoes_sender_and_control_id() -> None:
    ack = _ack(ORU)
    seg = _segments(ack)
    assert seg["MSH"][4:6] == ["SIL-Y", "labo"]
    assert seg["MSH"][8] == "ACK^R01^ACK"
    assert seg["MSA"][1:3] == ["AA", "015"]
    assert "ERR" not in seg
    _assert_valid(ack)


@pytest.mark.parametrize(("code", "enhanced"), [("AA", "CA"), ("AE", "CE"), ("AR", "CR")])
def test_enhanced_mode_when_msh15_is_set(code: str, enhanced: str) -> None:
    oru = ORU.replace(b"|P|2.5|||||FRA", b"|P|2.5|||AL|NE|FRA")
    assert _segments(_ack(oru, code))["MSA"][1] == enhanced


def test_err_names_location_and_expectation_never_values() -> None:
    error = MalformedHL7("a decimal number", source=f"{CANARY}.hl7", segment="OBX[1]", field="OBX-5.2")
    ack = _ack(ORU, "AR", error)
    err = _segments(ack)["ERR"]
    assert err[2] == "OBX^1^5^^2"
    assert err[3] == "102^Data type error^HL70357"
    assert err[4] == "E"
    assert err[8] == "expected a decimal number"
    assert CANARY.encode() not in ack
    _assert_valid(ack)


def test_ae_without_error_asks_for_a_resend() -> None:
    ack = _ack(ORU, "AE")
    seg = _segments(ack)
    assert seg["MSA"][1:3] == ["AE", "015"]
    assert seg["ERR"][3].startswith("207^")
    _assert_valid(ack)


@pytest.mark.parametrize("message", [None, b"", b"garbage \x00\xff", b"MSH|", b"PID|||1"])
def test_unreadable_message_still_gets_a_valid_ack(message: bytes | None) -> None:
    ack = _ack(message, "AR", MalformedHL7("a message starting with MSH", segment="MSH"))
    seg = _segments(ack)
    # No MSH-10 to echo: MSA-2 stays empty (hl7apy's validator calls it missing; inventing
    # a value could match another message at the sender). The rest must still parse.
    assert seg["MSA"][1:3] == ["AR", ""]
    assert CANARY.encode() not in ack
    parse_message(ack.decode(), validation_level=VALIDATION_LEVEL.STRICT)


def test_broken_header_values_are_escaped_not_fatal() -> None:
    oru = b"MSH|^~\\&|A&B|F^x&y|||20260101||ORU^R01|ID|T|2.5\rPID|1"
    ack = _ack(oru)
    seg = _segments(ack)
    assert seg["MSH"][10] == "T"
    assert seg["MSA"][2] == "ID"
    _assert_valid(ack)


def test_other_separators_are_translated() -> None:
    oru = b"MSH#$%!*#APP$1.2.3$ISO#FAC######ID9#P#2.5\rPID#1"
    header = header_of(oru)
    assert header is not None
    assert header.control_id == "ID9"
    ack = _ack(oru)
    assert _segments(ack)["MSA"][2] == "ID9"
    _assert_valid(ack)


def test_unknown_code_is_refused() -> None:
    with pytest.raises(ValueError):
        _ack(ORU, "XX")
