"""Limits that more than one stage relies on, each named once with the reason for its value.

A limit bounds what one input may cost (memory, time, disk) so that a hostile or broken
message cannot stop the service for everybody else. Limits used by one module only live
there, beside the code they protect.
"""

from __future__ import annotations

__all__ = ["MAX_CDA_BYTES", "MAX_EMAIL_BYTES", "MAX_MESSAGE_BYTES", "MAX_PDF_BYTES"]

MIB = 1024 * 1024

# One HL7 input: a drop-folder file, an MLLP frame, a message after splitting. An ANS
# CDA-in-ORU with its PDF is ~1 MB and the largest seen in the field a few MB; 50 MiB
# leaves room for a long report with scanned attachments while bounding memory per input.
# The configuration may lower it (intake.max_message_bytes), never raise it.
MAX_MESSAGE_BYTES = 50 * MIB

# A CR-BIO document or its PDF copy is a few hundred kB; 20 MiB is far beyond any report and
# still fits the e-mail limit below once base64-encoded (both travel in the same e-mail).
MAX_CDA_BYTES = 20 * MIB
MAX_PDF_BYTES = 20 * MIB

# Mon espace santé rejects messages over 25 Mo and operators' limits are not lower (the MSSanté
# notes, §1): a larger e-mail would be refused at DATA after the whole upload, so it is refused
# before sending, with a reason.
MAX_EMAIL_BYTES = 25 * MIB
