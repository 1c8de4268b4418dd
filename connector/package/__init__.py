"""Package stage: CDA bytes → IHE_XDM.ZIP (METADATA.XML + DOC0001.XML) → MSSanté e-mail.

build_xdm        the zip, deterministic for the same inputs
build_metadata   METADATA.XML alone (lcm:SubmitObjectsRequest)
build_email      one patient's e-mail: subject, X-MSS-* headers, body, zip + PDF
message_id_for   Message-ID fixed per document version and recipient set
envid_for        the DSN ENVID derived from a Message-ID
cda_from_email   the CDA as sent, read back from a stored e-mail (the DMP feed sends the same document)
Code, Person, header_from_tree, hl7_escape, to_xds_dtm   shared with the DMP stage (connector/dmp), whose XDS
                 metadata follows the same CDA → XDS mapping where its rules coincide
"""

from __future__ import annotations

from ._times import to_xds_dtm
from .cda_header import CdaHeader, Code, Person, header_from_tree
from .ids import envid_for, message_id_for
from .message import MessageSettings, build_email, build_email_bytes
from .metadata import build_metadata, hl7_escape
from .unpack import cda_from_email
from .xdm import build_xdm

__all__ = [
    "CdaHeader",
    "Code",
    "MessageSettings",
    "Person",
    "build_email",
    "build_email_bytes",
    "build_metadata",
    "build_xdm",
    "cda_from_email",
    "envid_for",
    "header_from_tree",
    "hl7_escape",
    "message_id_for",
    "to_xds_dtm",
]
