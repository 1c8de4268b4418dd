"""Read acknowledgement mail: DSN (RFC 3464), MDN (RFC 8098) and the "courriel standard" KO mail.

One mail gives zero or more :class:`Ack` values (a DSN has one block per recipient). The mail
comes from the network, so it is treated as hostile:

- size, MIME depth and part count are bounded *before* anything is decoded;
- only header-like parts are read (``message/delivery-status``, ``message/disposition-notification``,
  ``text/rfc822-headers`` and the headers of an attached ``message/rfc822``); XML parts are never
  parsed and zip attachments never opened, so entity and zip bombs have nothing to expand;
- nothing from the original subject (``XDM/1.0/DDM+<libellé> <NOM> <prénom> <date>``) is kept:
  the KO subject gives its three-digit code only, and labels come from our own code table.

:func:`read_ack_mail` says *why* a mail gave no ack (for the log line and the "unknown" folder);
:func:`parse_acks` returns the acks only and never raises.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser

from connector.states import RecipientState

__all__ = [
    "ERROR_LABELS",
    "MAX_DIAGNOSTIC_CHARS",
    "MAX_MAIL_BYTES",
    "MAX_MIME_DEPTH",
    "MAX_MIME_PARTS",
    "Ack",
    "ParseOutcome",
    "parse_acks",
    "read_ack_mail",
]

# Mon espace santé refuses mail over 25 MB; an MDN carries the original attachments back in base64 (+37 %).
MAX_MAIL_BYTES = 40 * 1024 * 1024
# A real MDN is 3 levels deep (report > rfc822 > mixed); anything much deeper is a parser attack.
MAX_MIME_DEPTH = 8
# Report + original + zip + pdf + alternatives: a few dozen parts at most in honest mail.
MAX_MIME_PARTS = 64
# A header-only part larger than this is not a status report.
MAX_STATUS_PART_BYTES = 64 * 1024
# Keeps diagnostics short enough for a log line and a ZAM ERR-5 label.
MAX_DIAGNOSTIC_CHARS = 200

# applicationErrorCondition (IG "trans-lps-courriel-mss", error codes): our labels, never the sender's text.
ERROR_LABELS = {
    "900": "Version du document incorrecte",
    "901": "Auteur non autorisé à remplacer ou supprimer un document",
    "902": "Identifiant patient inconnu",
    "903": "INS non présent dans le document",
    "904": "INS différent de celui du consommateur",
    "905": "INS incomplet",
    "906": "Erreur autre",
}

_DSN_ACTIONS = {
    "delivered": RecipientState.DELIVERED,
    "relayed": RecipientState.DELIVERED,  # Postfix → Dovecot LMTP hand-off; real operators send it too
    "expanded": RecipientState.DELIVERED,
    "delayed": RecipientState.DELAYED,
    "failed": RecipientState.FAILED,
}
_MDN_TYPES = {
    "processed": RecipientState.PROCESSED,
    "displayed": RecipientState.DISPLAYED,
    "dispatched": RecipientState.DISPLAYED,  # handed on (printed, forwarded): the recipient has it
}
_DISPOSITION = re.compile(r";\s*(?P<type>[A-Za-z-]+)\s*(?:/\s*(?P<modifier>.*))?$", re.DOTALL)
_ERROR_CODE = re.compile(r"(?:Error\s*:\s*)?(?P<code>\d{3})\s*\^(?P<label>[^^|]*)", re.IGNORECASE)
_KO_SUBJECT = re.compile(r"^\s*\[[^\]]{0,80}\]\s*\[(?P<code>\d{3})\]\s*XDM/1\.0/DDM\+", re.IGNORECASE)
_SMTP_CODE = re.compile(r"^\s*smtp\s*;\s*(?P<code>[245]\d\d)\b", re.IGNORECASE)
_ADDRESS = re.compile(r"<?[^\s<>@;]+@[^\s<>;]+>?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Ack:
    """One recipient's acknowledgement. ``recipient`` may be a patient mailbox (INS@…): never log it."""

    kind: str  # "dsn" | "mdn" | "ko-mail"
    recipient: str  # Original-Recipient, else Final-Recipient, lower-cased ("" when unknown)
    state: RecipientState
    envid: str = ""  # DSN Original-Envelope-Id
    original_message_id: str = ""  # MDN Original-Message-ID, or Message-ID of the returned original headers
    status: str = ""  # DSN Status (5.1.1) / MDN disposition ("processed/error")
    error_code: str = ""  # 900–906 for MDN / KO mail, SMTP reply code for a DSN failure
    diagnostic: str = ""  # Diagnostic-Code or our error label, addresses removed


@dataclass(frozen=True)
class ParseOutcome:
    acks: tuple[Ack, ...]
    reason: str = ""  # why no ack came out ("" when acks were found); holds no mail content


def parse_acks(raw: bytes) -> tuple[Ack, ...]:
    """All acks in one mail; () for anything else. Never raises."""
    return read_ack_mail(raw).acks


def read_ack_mail(raw: bytes) -> ParseOutcome:
    """Acks in one mail, or the reason there are none. Never raises."""
    if len(raw) > MAX_MAIL_BYTES:
        return ParseOutcome((), f"mail larger than {MAX_MAIL_BYTES} bytes")
    try:
        head = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
        if _declared_depth(raw) > MAX_MIME_DEPTH:
            return ParseOutcome((), f"MIME nesting deeper than {MAX_MIME_DEPTH}")
        mail = BytesParser(policy=policy.compat32).parsebytes(raw)
        parts = _bounded_parts(mail)
        if parts is None:
            return ParseOutcome((), f"more than {MAX_MIME_PARTS} MIME parts or deeper than {MAX_MIME_DEPTH}")
        if mail.get_content_type() == "multipart/report":
            report_type = str(mail.get_param("report-type") or "").lower()
            if report_type == "delivery-status":
                return _outcome(_dsn_acks(parts), "delivery report without recipient blocks")
            if report_type == "disposition-notification":
                return _outcome(_mdn_acks(mail, parts), "disposition report without a usable Disposition")
            return ParseOutcome((), "multipart/report of an unknown report-type")
        return _outcome(_ko_mail_acks(head, parts), "not an acknowledgement")
    except Exception as exc:  # noqa: BLE001 - hostile mail must never stop the tracker
        return ParseOutcome((), f"unreadable mail ({type(exc).__name__})")


def _outcome(acks: tuple[Ack, ...], reason: str) -> ParseOutcome:
    return ParseOutcome(acks, "" if acks else reason)


def _declared_depth(raw: bytes) -> int:
    """Count multipart nesting from the boundary declarations, before the parser builds a tree.

    Each multipart part declares a boundary; nested ones must differ. Counting distinct
    ``boundary=`` declarations overestimates depth (siblings count too), which is fine for a cap.
    """
    boundaries = set(re.findall(rb'(?i)boundary\s*=\s*"?([^";\r\n]{1,200})', raw))
    embedded = re.findall(rb"(?i)content-type:\s*message/rfc822", raw)
    return len(boundaries) + len(embedded)


def _bounded_parts(mail: Message) -> list[Message] | None:
    """All parts, depth-first, or None when a limit is crossed. Never descends into message/rfc822."""
    out: list[Message] = []
    stack: list[tuple[Message, int]] = [(mail, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH or len(out) >= MAX_MIME_PARTS:
            return None
        out.append(part)
        if part.get_content_maintype() == "multipart" and part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((c, depth + 1) for c in reversed(children) if isinstance(c, Message))
    return out


# ---------------------------------------------------------------------------- DSN


def _dsn_acks(parts: list[Message]) -> tuple[Ack, ...]:
    status = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    if status is None:
        return ()
    blocks = _header_blocks(status)
    if len(blocks) < 2:
        return ()
    envid = _clean(blocks[0].get("Original-Envelope-Id", ""))
    original_id = _returned_message_id(parts)
    acks = []
    for block in blocks[1:]:
        state = _DSN_ACTIONS.get(_clean(block.get("Action", "")).lower())
        if state is None:
            continue
        dsn_status = _clean(block.get("Status", ""))
        diagnostic = _clean(block.get("Diagnostic-Code", ""))
        acks.append(Ack(
            kind="dsn",
            recipient=_address(block.get("Original-Recipient", "")) or _address(block.get("Final-Recipient", "")),
            state=state,
            envid=envid,
            original_message_id=original_id,
            status=dsn_status,
            error_code=_smtp_code(diagnostic, dsn_status) if state is not RecipientState.DELIVERED else "",
            diagnostic=_scrub(diagnostic),
        ))
    return tuple(acks)


def _header_blocks(status: Message) -> list[Message]:
    """The field blocks of a message/delivery-status part (the parser splits them on blank lines)."""
    payload = status.get_payload()
    encoding = str(status.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list) and encoding != "base64":
        return [b for b in payload if isinstance(b, Message)]
    if isinstance(payload, list):
        # Against RFC 2046 some clients base64 a message/* part: the parser then saw the base64
        # lines as a header-less body. Decode them and read the fields.
        body = payload[0].as_string() if payload and isinstance(payload[0], Message) else ""
        data: object = base64.b64decode(body[: MAX_STATUS_PART_BYTES * 2], validate=False)
    else:
        data = status.get_payload(decode=True)
    if not isinstance(data, bytes) or len(data) > MAX_STATUS_PART_BYTES:
        return []
    chunks = re.split(rb"\r?\n\s*\r?\n", data.strip())
    return [BytesHeaderParser(policy=policy.compat32).parsebytes(c) for c in chunks[:MAX_MIME_PARTS]]


def _smtp_code(diagnostic: str, status: str) -> str:
    """The SMTP reply code for SMTPERRORCODE: from ``smtp; 550 …``, else from the enhanced status class."""
    match = _SMTP_CODE.match(diagnostic)
    if match:
        return match.group("code")
    # X-Postfix / local diagnostics carry no reply code: map the RFC 3463 status to the nearest one.
    if status.startswith("5.1."):
        return "550"
    if status.startswith("5.2.2"):
        return "552"
    if status.startswith("5."):
        return "554"
    if status.startswith("4."):
        return "450"
    return ""


# ---------------------------------------------------------------------------- MDN


def _mdn_acks(mail: Message, parts: list[Message]) -> tuple[Ack, ...]:
    report = next((p for p in parts if p.get_content_type() == "message/disposition-notification"), None)
    if report is None:
        return ()
    blocks = _header_blocks(report)
    if not blocks:
        return ()
    fields = blocks[0]
    match = _DISPOSITION.search(_clean(fields.get("Disposition", "")))
    if match is None:
        return ()
    disposition = match.group("type").lower()
    modifier = (match.group("modifier") or "").strip()
    error_field = _clean(fields.get("Error", ""))
    failed = modifier.lower().startswith(("error", "failed")) or bool(error_field)
    state = RecipientState.ERROR if failed else _MDN_TYPES.get(disposition)
    if state is None:  # "deleted" without error: nothing to acknowledge, a person decides
        return ()
    code = ""
    if failed:
        found = _ERROR_CODE.search(error_field) or _ERROR_CODE.search(modifier)
        code = found.group("code") if found else _ko_subject_code(mail) or "906"
    original_id = _clean(fields.get("Original-Message-ID", "")) or _returned_message_id(parts)
    return (Ack(
        kind="mdn",
        recipient=_address(fields.get("Original-Recipient", "")) or _address(fields.get("Final-Recipient", "")),
        state=state,
        original_message_id=original_id.replace(" ", ""),
        status=f"{disposition}/error" if failed else disposition,
        error_code=code,
        diagnostic=ERROR_LABELS.get(code, "Erreur d'intégration" if failed else ""),
    ),)


# ---------------------------------------------------------------------------- KO mail


def _ko_mail_acks(head: Message, parts: list[Message]) -> tuple[Ack, ...]:
    code = _ko_subject_code(head)
    if not code:
        return ()
    original_id = _returned_message_id(parts) or _clean(head.get("In-Reply-To", ""))
    return (Ack(
        kind="ko-mail",
        recipient=_address(head.get("From", "")),
        state=RecipientState.ERROR,
        original_message_id=original_id,
        status="ko",
        error_code=code,
        diagnostic=ERROR_LABELS.get(code, "Erreur d'intégration"),
    ),)


def _ko_subject_code(head: Message) -> str:
    """The three-digit code of a ``[KO …][902] XDM/1.0/DDM+…`` subject; the rest is patient data."""
    raw = head.get("Subject", "")
    match = _KO_SUBJECT.match(_decoded(raw))
    return match.group("code") if match else ""


# ---------------------------------------------------------------------------- helpers


def _returned_message_id(parts: list[Message]) -> str:
    """Message-ID of the original we sent, from ``text/rfc822-headers`` (RET=HDRS) or ``message/rfc822``."""
    for part in parts:
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return _clean(inner[0].get("Message-ID", ""))
        elif ctype == "text/rfc822-headers":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and len(data) <= MAX_STATUS_PART_BYTES:
                headers = BytesHeaderParser(policy=policy.compat32).parsebytes(data)
                return _clean(headers.get("Message-ID", ""))
    return ""


def _decoded(value: object) -> str:
    from email.header import decode_header, make_header

    try:
        return str(make_header(decode_header(str(value))))
    except Exception:  # noqa: BLE001 - a broken encoded-word is just not a KO subject
        return str(value)


def _clean(value: object) -> str:
    """A header value on one line, control characters removed."""
    return " ".join(_CONTROL.sub(" ", str(value or "")).split())


def _address(value: object) -> str:
    """``rfc822; a@b`` → ``a@b`` (other address types are kept as sent)."""
    text = _clean(value)
    kind, sep, rest = text.partition(";")
    address = rest.strip() if sep else kind
    return address.strip("<> ").lower()


def _scrub(diagnostic: str) -> str:
    """Diagnostic without mail addresses (a patient mailbox is an INS), bounded in length."""
    return _ADDRESS.sub("<address>", diagnostic)[:MAX_DIAGNOSTIC_CHARS]
