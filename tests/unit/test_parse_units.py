"""Small pieces of the parse stage: NIR key, escapes, timestamps, splitting, report ids, composite types."""

from __future__ import annotations

import pytest

from connector.model import RPPS_OID, MessageHeader
from connector.parse import (
    is_valid_dtm,
    nir_key_ok,
    report_id_for,
    split_messages,
)
from connector.parse.er7 import Encoding, unescape
from connector.parse.fields import cnn, cx, xcn


@pytest.mark.parametrize(
    "nir", ["279035121518989", "253072B07300470", "253072A07300443", "285057512004242", "185052A00412356"]
)
def test_nir_key_valid(nir: str) -> None:
    assert nir_key_ok(nir)


@pytest.mark.parametrize(
    "nir", ["279035121518988", "27903512151898", "2790351215189890", "27903512151898X", "", "２79035121518989"]
)
def test_nir_key_invalid(nir: str) -> None:
    assert not nir_key_ok(nir)


ENC = Encoding()


@pytest.mark.parametrize(
    ("escaped", "text"),
    [
        ("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", "a|b^c&d~e\\f"),
        ("ligne\\.br\\suite", "ligne\nsuite"),
        ("\\X0D0A\\", "\r\n"),
        ("\\XC3A9\\", "é"),
        ("\\H\\gras\\N\\", "gras"),
        ("chemin C:\\dossier\\fichier", "chemin C:\\dossier\\fichier"),
        ("sans échappement", "sans échappement"),
        ("\\Zlocal\\", "\\Zlocal\\"),
    ],
)
def test_unescape(escaped: str, text: str) -> None:
    assert unescape(escaped, ENC) == text


def test_unescape_truncation_character() -> None:
    enc = Encoding.from_msh("|", "^~\\&#")
    assert enc.truncation == "#" and unescape("a\\P\\b", enc) == "a#b"


@pytest.mark.parametrize(
    "value", ["2026", "202611", "20261119", "202611190815", "20261119081530.1234+0100", "20240229"]
)
def test_valid_dtm(value: str) -> None:
    assert is_valid_dtm(value)


@pytest.mark.parametrize(
    "value", ["20261345", "20230229", "202611192460", "2026-11-19", "abc", "1700", "20261119+2500"]
)
def test_invalid_dtm(value: str) -> None:
    assert not is_valid_dtm(value)


@pytest.mark.parametrize("eol", [b"\r", b"\n", b"\r\n"])
def test_split_several_messages_any_ending(eol: bytes) -> None:
    one = eol.join([b"MSH|^~\\&|SIL|LABO|||20261120||ORU^R01|A1|P|2.5", b"PID|1||X"]) + eol
    two = one.replace(b"A1", b"A2")
    messages = split_messages(one + two)
    assert len(messages) == 2 and all(m.endswith(b"\r") and b"\n" not in m for m in messages)
    assert b"A2" in messages[1]


def test_split_strips_mllp_framing_and_bom() -> None:
    data = b"\xef\xbb\xbf\x0bMSH|^~\\&|SIL|LABO|||20261120||ORU^R01|A1|P|2.5\rPID|1||X\r\x1c\r"
    (message,) = split_messages(data)
    assert message == b"MSH|^~\\&|SIL|LABO|||20261120||ORU^R01|A1|P|2.5\rPID|1||X\r"


def test_split_keeps_trailing_spaces_of_a_segment() -> None:
    (message,) = split_messages(b"MSH|^~\\&|A\rNTE|1|L|fin \r")
    assert message.endswith(b"fin \r")


def test_report_id_is_deterministic_and_free_of_patient_data() -> None:
    header = MessageHeader(sending_application="SIL", sending_facility="LABO", control_id="MSG1")
    first = report_id_for(header, 0)
    assert first == report_id_for(
        MessageHeader(sending_application="SIL", sending_facility="LABO", control_id="MSG1"), 0
    )
    assert first != report_id_for(header, 1) and first.startswith("r-") and len(first) == 18
    assert first[2:].isalnum()


def test_xcn_rpps_forms() -> None:
    bare = xcn("10100710366^LEFRANCOIS^PASCAL^^^DOC^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^L^^^RPPS", ENC)
    assert bare is not None and bare.idnps == "810100710366"
    space = xcn("801234567866^DIAZ^Thierry^^^^^^ASIP-SANTE- PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS", ENC)
    assert space is not None and space.idnps == "801234567866"
    untyped = xcn("10000000001^TESTEUR^JEAN^^^^^^&1.2.250.1.71.4.2.1&ISO", ENC)
    assert untyped is not None and untyped.idnps == "810000000001"
    namespace_only = xcn("810000000001^TESTEUR^JEAN^^^^^^ASIP-SANTE-PS", ENC)
    assert namespace_only is not None and namespace_only.identifier is not None
    assert namespace_only.identifier.oid == RPPS_OID and namespace_only.idnps == "810000000001"
    local = xcn("R854^NURSE^JANET^^^^^^^D^^^EI", ENC)
    assert local is not None and local.idnps == ""
    assert xcn("", ENC) is None


def test_cnn_principal_interpreter() -> None:
    person = cnn("810000000002&BIOLO&Anne&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO", ENC)
    assert person is not None and person.idnps == "810000000002" and person.name.given == ("Anne",)
    assert cnn("L07&LABBIO&JULIE", ENC) is not None


def test_cx_ins() -> None:
    ident = cx("279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS^^20101207", ENC)
    assert ident is not None and ident.oid == "1.2.250.1.213.1.4.10" and ident.type_code == "INS"
    assert cx("^^^X", ENC) is None
