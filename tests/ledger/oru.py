"""Synthetic ORU^R01 messages for the ledger: unique MSH-10, synthetic patients, known recipients.

Built from tests/data/e2e/three_recipients.hl7 (prescriber dr.x@hopital.test, copy-to dr.y@cabinet.test in
tests/data/e2e/directory.txt); the third copy-to (a mailbox the operator bounces) is removed, so every
recipient of every report can be reached and the ledger expects "delivered" for each.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from tests.support.paths import E2E

TEMPLATE = E2E / "three_recipients.hl7"
PRESCRIBER, COPY_TO = "dr.x@hopital.test", "dr.y@cabinet.test"
_COPY_FIELD = ("810000000102^YCOPIE^SYNTH^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
               "~810000000103^INCONNU^SYNTH^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
_ONE_COPY = "810000000102^YCOPIE^SYNTH^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"


@dataclass(frozen=True)
class LedgerEntry:
    """One synthetic report the test expects to see delivered."""

    control_id: str  # MSH-10, unique per run
    channel: str  # "file" or "mllp"
    recipients: tuple[str, ...]
    data: bytes

    @property
    def file_name(self) -> str:
        """Its name in the drop folder: the message id, never patient data."""
        return f"{self.control_id}.hl7"

    @property
    def report_id(self) -> str:
        """Same derivation as connector.parse.header.report_id_for (MSH-3|MSH-4|MSH-10|patient index)."""
        key = f"SIL|LABO|{self.control_id}|0"
        return "r-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def synthetic_oru(control_id: str, index: int, *, copy_to: bool) -> bytes:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert _COPY_FIELD in text, "three_recipients.hl7 changed: update tests/ledger/oru.py"
    text = text.replace(_COPY_FIELD, _ONE_COPY if copy_to else "")
    text = text.replace("E2E0001", control_id)  # MSH-10, order and sample numbers
    text = text.replace("IPPE2E01", f"IPPL{index:05d}")  # a distinct synthetic patient per report
    text = text.replace("SYNTHE^PATIENTE", f"SYNTHE{index:05d}^PATIENTE")
    return text.encode("utf-8")


def ledger(run_tag: str, count: int) -> list[LedgerEntry]:
    """``count`` reports, alternately by file and by MLLP; every third one also to the copy-to doctor."""
    entries = []
    for i in range(count):
        control_id = f"L{run_tag}{i:04d}"
        copy_to = i % 3 == 0
        recipients = (PRESCRIBER, COPY_TO) if copy_to else (PRESCRIBER,)
        entries.append(LedgerEntry(control_id, "file" if i % 2 == 0 else "mllp", recipients,
                                   synthetic_oru(control_id, i, copy_to=copy_to)))
    return entries
