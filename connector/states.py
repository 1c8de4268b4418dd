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

__all__ = ["DMP_PENDING", "TERMINAL_STATES", "DmpState", "RecipientState", "ReportState"]


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
    """A report's link to the patient's DMP: its own channel beside MSSanté (``dmp_feed`` in the store).

        TO_SEND ──► SENDING ──► SENT                  (the DMP holds this version, or no longer holds it: a delete)
           ▲           ├──────► FAILED                (the DMP refused it, or retries ran out: ZAM^Z01 N)
           └───────────┘ retry with backoff, or the queue paused (a cause of ours: certificates, TLS)
        REFUSED        refused before sending: what the DMP's rules or indirect authentication forbid
        NOT_ELIGIBLE   asked, but the identity is not a qualified INS: the DMP cannot take it
    """

    NOT_ASKED = ""  # the SIL did not ask (no DESTDMP=Y) and the configuration does not feed discrete results
    TO_SEND = "to_send"  # asked, and the INS is qualified: due now or at its next attempt
    SENDING = "sending"  # a transaction was under way: after a crash TD3.1b settles it before any resend
    SENT = "sent"
    FAILED = "failed"
    REFUSED = "refused"
    NOT_ELIGIBLE = "not_eligible"  # asked, but the identity is not qualified: the DMP cannot take it


# The DMP feed still owes work on a report in one of these (retention keeps its e-mail, the CDA source).
DMP_PENDING = frozenset({DmpState.TO_SEND, DmpState.SENDING})
