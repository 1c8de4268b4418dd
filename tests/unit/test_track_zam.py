"""ZAM Z01/Z02/Z03 compared field by field with the ANS examples (read in place from shared/ref)."""

from __future__ import annotations

import pytest

from connector.model import MessageHeader, Recipient
from connector.states import RecipientState
from connector.track import Ack, build_zam, zam_for_ack
from tests.support.refkit import ANS_HL7_EXAMPLES, ref_file

ORIGINAL = MessageHeader(sending_application="SIL-Y", sending_facility="labo", control_id="015", processing_id="P")
ADAM = Recipient(address="adam.hoda@test-ci-sis.mssante.fr", kind="prescriber", idnps="801234567897")


def segments(er7: str) -> list[list[str]]:
    lines = [s for s in er7.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    out = []
    for line in lines:
        f = line.split("|")
        while f and f[-1] == "":  # the ANS examples end OBX with an empty OBX-12
            f.pop()
        out.append(f)
    return out


def example(name: str) -> list[list[str]]:
    return segments(ref_file(*ANS_HL7_EXAMPLES, name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("kind", "file", "control", "when", "recipient", "ok", "code", "label"),
    [
        ("Z01", "ZAM_Z01_accuse_reception_DMP_v2.1.hl7", "017", "202106060933", None, False,
         "DMPClosed", "DMP fermé"),
        ("Z02", "ZAM_Z02_accuse_reception_MSS_v2.1.hl7", "018", "202106060934", ADAM, True, "", ""),
        ("Z03", "ZAM_Z03_accuse_lecture_MSS_v2.1.hl7", "019", "202106070933", ADAM, True, "", ""),
    ],
)
def test_zam_matches_ans_example(kind: str, file: str, control: str, when: str, recipient: Recipient | None,
                                 ok: bool, code: str, label: str) -> None:
    expected = example(file)
    built = build_zam(kind, original=ORIGINAL, recipient=recipient, ok=ok, error_code=code, error_label=label,
                      sender_app="PFI-X", sender_facility="Organisation-X", control_id=control, when=when)
    ours = segments(built.decode("utf-8"))
    # EVN-2 in the examples is a fixed event time unrelated to MSH-7: compare everything else.
    expected[1][2] = ours[1][2] = "<when>"
    assert [s[0] for s in ours] == [s[0] for s in expected]
    for mine, theirs in zip(ours, expected, strict=True):
        assert mine == theirs, mine[0]


def test_zam_uses_cr_separators_and_utf8() -> None:
    built = build_zam("Z02", original=ORIGINAL, recipient=ADAM, ok=True, sender_app="PFI-X",
                      sender_facility="Organisation-X", control_id="1", when="20261125")
    assert b"\n" not in built and built.count(b"\r") == 4
    assert "Accusé".encode() in built


def test_z02_failure_has_smtp_err_and_escapes_text() -> None:
    built = build_zam("Z02", original=ORIGINAL, recipient=ADAM, ok=False, error_code="550",
                      error_label="Mailbox unavailable ^|&", sender_app="PFI-X", sender_facility="Organisation-X",
                      control_id="2", when="20261125").decode()
    err = segments(built)[-1]
    assert err[:4] == ["ERR", "", "", "207^Application internal error^messageErrorCondition"]
    assert err[4:] == ["E", "550^Mailbox unavailable \\S\\\\F\\\\T\\^SMTPERRORCODE"]
    assert "N^^expandedYes-NoIndicator" in built


def test_z03_error_uses_application_error_condition() -> None:
    built = build_zam("Z03", original=ORIGINAL, recipient=ADAM, ok=False, error_code="902",
                      error_label="Identifiant patient inconnu", sender_app="A", sender_facility="B",
                      control_id="3", when="20261125").decode()
    assert segments(built)[-1][5] == "902^Identifiant patient inconnu^applicationErrorCondition"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "Z09"}, "kind"),
        ({"kind": "Z02", "recipient": None}, "recipient"),
        ({"kind": "Z03", "ok": False}, "error code"),
    ],
)
def test_zam_refuses_incomplete_input(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"recipient": ADAM, "ok": True, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_zam(str(args.pop("kind")), original=ORIGINAL, sender_app="A", sender_facility="B",
                  control_id="1", when="2026", **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "state", "expected"),
    [
        ("dsn", RecipientState.DELIVERED, ("Z02", True)),
        ("dsn", RecipientState.FAILED, ("Z02", False)),
        ("dsn", RecipientState.DELAYED, None),
        ("mdn", RecipientState.PROCESSED, ("Z03", True)),
        ("mdn", RecipientState.DISPLAYED, ("Z03", True)),
        ("mdn", RecipientState.ERROR, ("Z03", False)),
        ("ko-mail", RecipientState.ERROR, ("Z03", False)),
    ],
)
def test_zam_for_ack(kind: str, state: RecipientState, expected: tuple[str, bool] | None) -> None:
    assert zam_for_ack(Ack(kind=kind, recipient="a@b.test", state=state)) == expected


def test_msh_5_and_6_echo_the_sil_s_composites_as_the_ack_does() -> None:
    from connector.intake import build_ack

    oru = b"MSH|^~\\&|SIL^1.2.250.1.999.2^ISO|LBM^1.2.250.1.999.1^ISO|C|D|20260101||ORU^R01|ID7|P|2.5\rPID|1\r"
    original = MessageHeader(sending_application="SIL^1.2.250.1.999.2^ISO",
                             sending_facility="LBM^1.2.250.1.999.1^ISO", control_id="ID7", processing_id="P")
    zam = build_zam("Z02", original=original, recipient=ADAM, ok=True, sender_app="PFI-X",
                    sender_facility="Organisation-X", control_id="1", when="20260101120000")
    ack = build_ack(oru, code="AA", error=None, sending_app="PFI-X", sending_facility="Organisation-X",
                    control_id="2", when="20260101120000")
    zam_msh = zam.split(b"\r")[0].split(b"|")
    ack_msh = ack.split(b"\r")[0].split(b"|")
    assert zam_msh[4:6] == ack_msh[4:6] == [b"SIL^1.2.250.1.999.2^ISO", b"LBM^1.2.250.1.999.1^ISO"]
