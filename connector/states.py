"""The one state enum of a report's life, and the states of each recipient.

A report moves forward only; each transition is one store transaction, so a crash
leaves it in the last committed state and the service resumes from there.

    RECEIVED ──► PARSED ──► BUILT ──► SENDING ──► SENT ──► DELIVERED ──► READ
        │           │          │          │          │          │
        └───────────┴──────────┴──────────┴──────────┴──────────┴──► QUARANTINED
                               │          │
                               └──────────┴──► WAITING ──► SENDING (retry with backoff)

Acknowledgements can overtake a resend (a DSN for the copy whose 250 was lost): a report
still WAITING, BUILT or SENDING becomes DELIVERED / READ once every recipient acknowledged,
and a send that finds no recipient left to send to settles the report from its recipients.

- RECEIVED    the input is durably stored (the SIL was acknowledged, or the file may leave the drop folder)
- PARSED      the ORU became a LabReport
- BUILT       mapped, CDA + PDF + XDM + e-mail built and stored; ids, Message-ID and ENVID fixed here
              (mapping is not a state of its own: it is redone from the stored message, cheaply)
- SENDING     an SMTP attempt is under way (on restart: resend the *stored* message, same Message-ID)
- SENT        every recipient was accepted by the operator (250 after DATA)
- DELIVERED   every recipient has a success DSN
- READ        every recipient has an MDN (processed or displayed)
- WAITING     no recipient address yet, or a transient failure: retried at next_attempt_at
- QUARANTINED a person must act; ``reason`` says what to do
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_STATES", "DmpState", "RecipientState", "ReportState"]


class ReportState(StrEnum):
    RECEIVED = "received"
    PARSED = "parsed"
    BUILT = "built"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    WAITING = "waiting"
    QUARANTINED = "quarantined"


# A report in one of these needs no more work from the pipeline (acks may still arrive for SENT/DELIVERED).
TERMINAL_STATES = frozenset({ReportState.SENT, ReportState.DELIVERED, ReportState.READ, ReportState.QUARANTINED})


class RecipientState(StrEnum):
    """Per recipient: pending → accepted (250) → delivered / delayed / failed → displayed / processed / error."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"  # 5xx at RCPT or DATA: permanent
    DELAYED = "delayed"  # DSN Action: delayed
    DELIVERED = "delivered"  # DSN Action: delivered / relayed / expanded
    FAILED = "failed"  # DSN Action: failed (bounce)
    DISPLAYED = "displayed"  # MDN displayed
    PROCESSED = "processed"  # MDN processed (integrated)
    ERROR = "error"  # MDN processed/error with a 900–906 code, or a "KO Intégration" mail


class DmpState(StrEnum):
    """A report's link to the patient's DMP (its own channel beside MSSanté)."""

    NOT_ASKED = ""  # the SIL did not ask (no DESTDMP=Y)
    TO_SEND = "to_send"  # asked, and the INS is qualified: the ids a later replace or delete needs are kept
    NOT_ELIGIBLE = "not_eligible"  # asked, but the identity is not qualified: the DMP cannot take it
