"""A DMP outcome becomes the ZAM^Z01 of the ANS example, field by field (OBX-4 = the ORU's MSH-10)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.dmp import DmpOutcome, DmpStatus, Z01Fields
from connector.model import MessageHeader
from connector.track import build_zam

REF = Path(os.environ.get("CONNECTOR_SHARED_REF") or Path(__file__).resolve().parents[2] / ".." / "shared" / "ref")
EXAMPLE = REF / "mssante" / "hl7v2-ans-exemples" / "ZAM_Z01_accuse_reception_DMP_v2.1.hl7"


def _segments(er7: str) -> list[list[str]]:
    out = []
    for line in (s for s in er7.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s):
        fields = line.split("|")
        while fields and fields[-1] == "":
            fields.pop()
        out.append(fields)
    return out


def test_dmp_closed_outcome_gives_the_ans_z01_example() -> None:
    if not EXAMPLE.exists():
        pytest.skip(f"ANS examples not found at {EXAMPLE} (set CONNECTOR_SHARED_REF)")
    z01 = DmpOutcome.failed("DMPClosed").z01()
    assert z01 is not None
    original = MessageHeader(sending_application="SIL-Y", sending_facility="labo", control_id="015",
                             processing_id="P")
    built = build_zam("Z01", original=original, recipient=None, ok=z01.ok, error_code=z01.error_code,
                      error_label=z01.error_label, sender_app="PFI-X", sender_facility="Organisation-X",
                      control_id="017", when="202106060933")
    ours, theirs = _segments(built.decode()), _segments(EXAMPLE.read_text(encoding="utf-8"))
    ours[1][2] = theirs[1][2] = "<when>"
    assert ours == theirs
    assert ours[2][4] == "015"  # OBX-4: MSH-10 of the message that carried the document


def test_no_z01_while_retrying_and_a_local_code_once_exhausted() -> None:
    retry = DmpOutcome.retry("XDSRegistryBusy")
    assert retry.z01() is None
    final = retry.exhausted().z01()
    assert final is not None and not final.ok and final.error_code == "PFI_DMP_INJOIGNABLE"
    assert DmpOutcome(status=DmpStatus.SUCCESS).z01() == Z01Fields(ok=True)
