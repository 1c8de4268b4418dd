"""Acknowledgements as a recipient's software sends them, and their way into the lab mailbox.

``mdn`` builds an MDN shaped like tests/data/mail/mdn_processed.eml and mdn_error_new_form.eml (the
MSSanté "[KO Intégration système !][code]" subject prefix on errors); ``inject`` hands a message to the
operator simulator's plain inbound port, which delivers it to the lab mailbox the connector reads.
"""

from __future__ import annotations

import smtplib
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import make_msgid

from tests.simulator.plugin import OperatorSim

SUBJECT = "XDM/1.0/DDM+CR d'examens biologiques SYNTHE PATIENTE"  # a synthetic patient's name
SMTP_TIMEOUT_SECONDS = 15.0


def mdn(*, reader: str, to: str, original_message_id: str, error: str = "", subject: str = SUBJECT,
        text: str = "") -> bytes:
    """From ``reader`` to ``to``: ``processed``, or ``processed/error`` with the ``Error:`` field ``error``
    (``code^label^…``, its code also in the subject)."""
    domain = reader.split("@")[1]
    msg = MIMEMultipart("report", report_type="disposition-notification")
    msg["From"] = reader
    msg["To"] = to
    prefix = f"[KO Intégration système !][{error.split('^', 1)[0]}] " if error else ""
    msg["Subject"] = Header(prefix + subject, "utf-8").encode()
    msg["Message-ID"] = make_msgid(domain=domain)
    default = "Le document n'a pas pu être intégré." if error else "Le document a été intégré."
    msg.attach(MIMEText(text or default, "plain", "utf-8"))
    disposition = "processed/error" if error else "processed"
    fields = (f"Reporting-UA: dpi.{domain}; DPI-X 4.2\r\n"
              f"Original-Recipient: rfc822;{reader}\r\nFinal-Recipient: rfc822; {reader}\r\n"
              f"Original-Message-ID: {original_message_id}\r\n"
              f"Disposition: automatic-action/MDN-sent-automatically; {disposition}\r\n")
    if error:
        fields += f"Error: {error}\r\n"
    part = MIMEBase("message", "disposition-notification")
    part.set_payload(fields)
    msg.attach(part)
    return msg.as_bytes()


def inject(sim: OperatorSim, raw: bytes, *, sender: str = "") -> None:
    """Into the lab mailbox through the simulator's inbound port (plain SMTP, no authentication)."""
    with smtplib.SMTP(sim.smtp_host, sim.inbound_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        smtp.sendmail(sender, [sim.lab_mailbox], raw)
