"""Deterministic ids: the same document version sent to the same recipients gets the same ids.

A retry after an unsure SMTP outcome must reuse the Message-ID and ENVID so DSN/MDN map
to one row and the receiver sees a duplicate, not a second report. No id holds patient
data: the patient's mailbox (``<INS>@patient.mssante.fr``) is folded to the word
``patient`` before hashing, because an INS is short enough to brute-force from a hash.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence

from connector.model import DocumentIdentity, Recipient, RecipientKind

__all__ = ["derived_uuid", "entry_uuid", "envid_for", "message_id_for", "submission_set_oid"]

# Namespace for our uuid5 values (fixed forever: changing it would change every id).
_NAMESPACE = uuid.UUID("6f0c3f7e-6a1e-5b8c-9d3a-2f4b6c8d0e11")
# A DNS domain: letters, digits, hyphens and dots (RFC 5322 dot-atom, no IP literals).
_DOMAIN = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*$"
)
# RFC 3461 §4.4: ENVID is at most 100 characters; 64 hex digits fit and are xtext-safe.
ENVID_LENGTH = 64


def _recipient_key(recipients: Sequence[Recipient]) -> str:
    parts = sorted({"patient" if r.kind == RecipientKind.PATIENT else r.address.strip().lower() for r in recipients})
    return ",".join(parts)


def _document_key(ids: DocumentIdentity) -> str:
    return f"{ids.document_id_root}^{ids.document_id_extension}|v{ids.version}"


def message_id_for(ids: DocumentIdentity, recipients: Sequence[Recipient], *, domain: str) -> str:
    """``<hex.v<version>@domain>`` from the document version and the recipient set."""
    if not _DOMAIN.match(domain):
        raise ValueError("message_id_for: expected a DNS domain name for the Message-ID")
    digest = hashlib.sha256(f"{_document_key(ids)}|{_recipient_key(recipients)}".encode()).hexdigest()
    return f"<{digest[:40]}.v{ids.version}@{domain}>"


def envid_for(message_id: str) -> str:
    """The DSN ENVID for a Message-ID: hex, so xtext-safe without encoding (RFC 3461 §4)."""
    return hashlib.sha256(message_id.strip().encode()).hexdigest()[:ENVID_LENGTH]


def entry_uuid(unique_id: str) -> str:
    """DocumentEntry entryUUID from the document uniqueId: a replacement can target it later."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'entry|' + unique_id)}"


def derived_uuid(seed: str, n: int) -> str:
    """The n-th id of an object family (classifications, external ids, associations)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{seed}#{n}')}"


def submission_set_uuid(unique_id: str, recipients: Sequence[Recipient]) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, 'set|' + unique_id + '|' + _recipient_key(recipients))}"


def submission_set_oid(unique_id: str, recipients: Sequence[Recipient]) -> str:
    """SubmissionSet uniqueId as a ``2.25.<uuid as integer>`` OID (ISO/IEC 9834-8)."""
    value = uuid.uuid5(_NAMESPACE, "ssuid|" + unique_id + "|" + _recipient_key(recipients))
    return f"2.25.{value.int}"
