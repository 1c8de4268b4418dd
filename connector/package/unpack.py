"""The CDA exactly as it was sent: read back from a stored MSSanté e-mail's IHE_XDM.ZIP.

The DMP feed sends the very document the doctors received (a CR-BIO's ids and content must not
differ between the two channels). The store keeps the e-mail's exact bytes already; reading the
CDA back from them costs a few milliseconds per report and keeps one copy of the patient's
document in the store, not two.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message

from connector.errors import CdaBuildError

from .message import XDM_FILENAME, _cda_from_xdm

__all__ = ["cda_from_email"]


def cda_from_email(email: bytes, *, report_id: str) -> bytes:
    """The CDA bytes inside the e-mail's IHE_XDM.ZIP; CdaBuildError naming the report when there is none."""
    message: Message = message_from_bytes(email, policy=policy.compat32)
    for part in message.walk():
        if part.get_filename() == XDM_FILENAME:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return _cda_from_xdm(payload, report_id)
    raise CdaBuildError(f"report {report_id}: the stored e-mail holds no {XDM_FILENAME}")
