"""Read what the recipients actually received, independently of the connector's store.

Each message is attributed to a report by the CDA inside its XDM zip (ClinicalDocument/id
extension = report id), not by its Message-ID, so a resend that minted a new identity would show
up as two Message-IDs for one report.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass

_REPORT_ID = re.compile(rb'extension="(r-[0-9a-f]{16})"')
MAX_ZIP_MEMBER_BYTES = 20 * 1024 * 1024  # a CR-BIO CDA with its PDF is ~1 MB; bigger is not ours


@dataclass(frozen=True)
class Received:
    report_id: str
    message_id: str


def received(raw: bytes, wanted: set[str]) -> Received | None:
    """The report a mailbox message carries, when it is one of ``wanted``; None otherwise."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() != "application/zip":
            continue
        with zipfile.ZipFile(io.BytesIO(part.get_content())) as z:
            for info in z.infolist():
                if info.filename.upper().endswith(".XML") and "SUBSET" in info.filename.upper() \
                        and info.file_size < MAX_ZIP_MEMBER_BYTES:
                    for found in _REPORT_ID.findall(z.read(info)):
                        rid = found.decode()
                        if rid in wanted:
                            return Received(rid, str(msg["Message-ID"] or "").strip())
    return None


def index(messages: list[bytes], wanted: set[str]) -> dict[str, list[str]]:
    """report id → the Message-IDs of every copy received (a duplicate appears twice)."""
    out: dict[str, list[str]] = defaultdict(list)
    for raw in messages:
        got = received(raw, wanted)
        if got is not None:
            out[got.report_id].append(got.message_id)
    return out
