"""MTOM/XOP (``multipart/related``) for ITI-41: the SOAP envelope as the root part, documents as binary parts.

Written by hand, byte for byte: the parts are binary (a CDA is sent exactly as built, its
bytes are what the XAdES manifest digests) and the stdlib generator re-encodes bodies. The
reading side (responses, the tests' DMP double) uses the stdlib ``email`` parser.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

__all__ = ["Attachment", "multipart_related", "soap_content_type"]

XOP_INCLUDE = "http://www.w3.org/2004/08/xop/include"


@dataclass(frozen=True, slots=True)
class Attachment:
    content_id: str  # without angle brackets
    data: bytes = field(repr=False)
    media_type: str = "text/xml"


def soap_content_type(action: str) -> str:
    """Plain SOAP 1.2 (no attachment): ITI-18 and ITI-57."""
    return f'application/soap+xml; charset=UTF-8; action="{action}"'


def multipart_related(*, root: bytes, root_id: str, action: str, attachments: tuple[Attachment, ...],
                      seed: str) -> tuple[str, bytes]:
    """(HTTP Content-Type, body) of an MTOM message. ``seed`` makes the boundary deterministic."""
    boundary = f"MIMEBoundary_{uuid.uuid5(uuid.NAMESPACE_URL, seed).hex}"
    marker = f"--{boundary}".encode()
    if any(marker in part for part in (root, *(a.data for a in attachments))):  # a part must not hold it
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}{uuid.uuid4().hex}"
        marker = f"--{boundary}".encode()
    content_type = (f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
                    f'start="<{root_id}>"; start-info="application/soap+xml"; action="{action}"')
    chunks = [marker, b"\r\n",
              f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"; action="{action}"\r\n'
              f"Content-Transfer-Encoding: binary\r\nContent-ID: <{root_id}>\r\n\r\n".encode(), root, b"\r\n"]
    for part in attachments:
        chunks += [marker, b"\r\n",
                   f"Content-Type: {part.media_type}\r\nContent-Transfer-Encoding: binary\r\n"
                   f"Content-ID: <{part.content_id}>\r\n\r\n".encode(), part.data, b"\r\n"]
    chunks += [marker, b"--\r\n"]
    return content_type, b"".join(chunks)
