"""Send stage: recipients (national directory + MetaDMPMSS routing), TLS context, SMTP submission.

    recipients_for(report, directory, settings) ─► (Recipient, …)
    route(report, directory, settings)          ─► Routing: recipients + unresolved recipients with a reason
    create_ssl_context(TlsSettings)              ─► the one SSLContext (SMTP and IMAP)
    submit(message, envelope, SmtpSettings)      ─► SubmitResult (accepted / refused per recipient)
"""

from connector.send.directory import Directory, DirectoryEntry, import_directory
from connector.send.routing import Routing, RoutingSettings, no_address_reason, recipients_for, route
from connector.send.smtp import SmtpClient, SmtpSettings, SubmitResult, submit
from connector.send.tls import TlsSettings, create_ssl_context

__all__ = [
    "Directory",
    "DirectoryEntry",
    "Routing",
    "RoutingSettings",
    "SmtpClient",
    "SmtpSettings",
    "SubmitResult",
    "TlsSettings",
    "create_ssl_context",
    "import_directory",
    "no_address_reason",
    "recipients_for",
    "route",
    "submit",
]
