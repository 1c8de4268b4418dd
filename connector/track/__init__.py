"""track stage: DSN / MDN / KO acknowledgements read over IMAP, and ZAM business acks to the SIL.

    IMAP (AckMailbox.fetch_new) ─► parse_acks ─► store (apply + commit cursor) ─► move_done
                                                └─► build_zam ─► SilOutbox.deliver
"""

from connector.track.acks import (
    ERROR_LABELS,
    MAX_MAIL_BYTES,
    MAX_MIME_DEPTH,
    MAX_MIME_PARTS,
    Ack,
    ParseOutcome,
    parse_acks,
    read_ack_mail,
)
from connector.track.imap import AckMailbox, Cursor, ImapSettings, encode_mailbox_name
from connector.track.outbox import FolderOutbox, MllpOutbox, SilOutbox
from connector.track.zam import build_zam, zam_for_ack

__all__ = [
    "ERROR_LABELS",
    "MAX_MAIL_BYTES",
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "Ack",
    "AckMailbox",
    "Cursor",
    "FolderOutbox",
    "ImapSettings",
    "MllpOutbox",
    "ParseOutcome",
    "SilOutbox",
    "build_zam",
    "encode_mailbox_name",
    "parse_acks",
    "read_ack_mail",
    "zam_for_ack",
]
