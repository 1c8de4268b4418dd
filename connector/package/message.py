"""The MSSanté e-mail around an IHE_XDM.ZIP and its PDF copy.

Every header is made and encoded by the stdlib ``email`` package (RFC 2047 subject and names,
RFC 2231 file names, folding); only the two base64 bodies are joined by hand around those
headers, because the generic MIME generator spent ~8 ms a report (40 % of the build) writing
base64 one line at a time (bench/results.md). The result is parsed back with ``email`` in the
tests, and :func:`build_email` still returns an ``EmailMessage`` for callers that want one.

One patient per e-mail (ECO.2.1.1). The subject, ``X-MSS-CODECDA`` and ``X-MSS-INS`` are read
back from the CDA inside the zip, so the e-mail cannot disagree with the document it carries.
The MIME boundary is derived from the Message-ID: a rebuilt e-mail (retry) is byte-identical
when its inputs and date are.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import io
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime

from connector.errors import CdaBuildError, PermanentError
from connector.limits import MAX_CDA_BYTES, MAX_EMAIL_BYTES
from connector.model import DocumentIdentity, LabIdentity, MappedReport, Recipient, RecipientKind

from .cda_header import CdaHeader, read_header
from .xdm import DOCUMENT_PATH

__all__ = ["MessageSettings", "build_email", "build_email_bytes", "subject_for"]

CRLF = b"\r\n"
BASE64_LINE = 76  # RFC 2045: encoded lines of at most 76 characters

SUBJECT_PREFIX = "XDM/1.0/DDM+"
DEFAULT_LABEL = "CR d'examens biologiques"
XDM_FILENAME = "IHE_XDM.ZIP"
DEFAULT_BODY = (
    "Bonjour,\n\n"
    "Veuillez trouver ci-joint un compte rendu d'examens de biologie médicale "
    "(document CDA dans IHE_XDM.ZIP et copie PDF).\n\n"
    "Ce message a été envoyé automatiquement par la messagerie applicative du laboratoire.\n"
)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f/\\]")
_PLAIN_VALUE = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,900}")  # one line of printable ASCII


@dataclass(frozen=True, kw_only=True)
class MessageSettings:
    """From the ``message:`` and ``lab:`` sections (``connector.config.settings``)."""

    sender: str  # the lab's applicative mailbox (From)
    nil: str  # X-MSS-NIL: ANS product-declaration reference, on every e-mail when set
    request_mdn: bool  # Disposition-Notification-To: sender
    source_oid: str  # XDS sourceId (the lab's OID)
    reply_to: str = ""  # no configuration key: replies go to the sender


def _birth_date(ts: str) -> str:
    """CDA birthTime YYYYMMDD as JJ/MM/AAAA; "" when the day is not known."""
    digits = ts[:8]
    return f"{digits[6:8]}/{digits[4:6]}/{digits[0:4]}" if len(digits) == 8 and digits.isdigit() else ""


def subject_for(header: CdaHeader) -> str:
    """``XDM/1.0/DDM+<libellé> <NOM> <Prénom> <JJ/MM/AAAA>`` from the CDA (ECO.2.1.3)."""
    label = header.code.display or DEFAULT_LABEL
    parts = [header.family.upper(), header.given, _birth_date(header.birth_time)]
    text = " ".join([SUBJECT_PREFIX + label, *(p for p in parts if p)])
    return " ".join(text.split())  # no CR/LF or runs of blanks from the document


def _cda_from_xdm(xdm: bytes, report_id: str) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(xdm)) as archive:
            info = archive.getinfo(DOCUMENT_PATH)
            if info.file_size > MAX_CDA_BYTES:
                raise CdaBuildError(f"report {report_id}: {DOCUMENT_PATH} larger than {MAX_CDA_BYTES} bytes")
            return archive.read(info)
    except (zipfile.BadZipFile, KeyError):
        raise CdaBuildError(f"report {report_id}: expected an IHE_XDM.ZIP holding {DOCUMENT_PATH}") from None


def _body(mapped: MappedReport, recipients: Sequence[Recipient]) -> str:
    flags = mapped.report.flags
    if flags is not None:
        to_patient_only = bool(recipients) and all(r.kind == RecipientKind.PATIENT for r in recipients)
        if to_patient_only and flags.mail_body_patient.strip():
            return flags.mail_body_patient
        if flags.mail_body_ps.strip():
            return flags.mail_body_ps
    return DEFAULT_BODY


class _NotAnAddress(ValueError):
    """Which address (sender, recipient n, reply-to) is not an addr-spec; the caller names the report."""


def _address(text: str, what: str, display_name: str = "") -> Address:
    try:
        return Address(display_name=display_name.strip(), addr_spec=text.strip())
    except (ValueError, IndexError):
        raise _NotAnAddress(what) from None


# A lab writes to the same prescribers all day: their folded address lines are made once. The
# header registry parses and refolds every address (~0.5 ms a report); the cache is bounded.
@functools.lru_cache(maxsize=1024)
def _address_lines(sender: str, to: tuple[tuple[str, str], ...], reply_to: str) -> bytes:
    """From, To and (when set) Reply-To as the stdlib folds them, without the closing blank line."""
    msg = EmailMessage()
    msg["From"] = _address(sender, "sender")
    msg["To"] = [_address(address, f"recipient {i + 1}", display) for i, (display, address) in enumerate(to)]
    if reply_to:
        msg["Reply-To"] = _address(reply_to, "reply-to")
    return _header_block(msg)[:-2]


@functools.lru_cache(maxsize=8)
def _addr_spec(sender: str) -> str:
    return _address(sender, "sender").addr_spec


@functools.lru_cache(maxsize=64)
def _text_part(body: str) -> bytes:
    """The message text as a quoted-printable part: the same few texts for every report."""
    text = EmailMessage()
    text.set_content(body, charset="utf-8", cte="quoted-printable")
    del text["MIME-Version"]  # only the top level carries it
    return text.as_bytes(policy=SMTP)


def build_email(**kwargs: object) -> EmailMessage:
    """The e-mail as an ``EmailMessage`` (parsed from :func:`build_email_bytes`)."""
    return message_from_bytes(build_email_bytes(**kwargs), policy=default)  # type: ignore[arg-type]


def build_email_bytes(
    *,
    mapped: MappedReport,
    lab: LabIdentity,
    ids: DocumentIdentity,
    xdm: bytes,
    pdf: bytes,
    pdf_name: str,
    recipients: Sequence[Recipient],
    message_id: str,
    settings: MessageSettings,
    date: datetime | None = None,
    body: str | None = None,
    header: CdaHeader | None = None,
) -> bytes:
    """The e-mail for one patient's report version to ``recipients`` (at least one), CRLF line ends.

    The subject and X-MSS-* headers come from the CDA in ``xdm``; ``header`` may hand over that
    CDA's already parsed header (the build parsed those bytes once for the XSD check).
    """
    rid = mapped.report_id
    if not recipients:
        raise PermanentError(f"report {rid}: an e-mail needs at least one recipient")
    if not pdf_name.lower().endswith(".pdf") or _UNSAFE_FILENAME.search(pdf_name):
        raise PermanentError(f"report {rid}: PDF name must end in .pdf and hold no path or control characters")
    if not re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", message_id):
        raise PermanentError(f"report {rid}: Message-ID must look like <id@domain>")
    header = header or read_header(_cda_from_xdm(xdm, rid), report_id=rid)
    if (header.id_root, header.id_extension) != (ids.document_id_root, ids.document_id_extension):
        raise CdaBuildError(f"report {rid}: the CDA in the zip is not the document version being sent")
    ins_sent = header.ins is not None and mapped.report.patient.ins_qualified
    to_patient = any(r.kind == RecipientKind.PATIENT for r in recipients)

    # A professional's display name helps the reader; a patient's would only repeat patient data.
    to = tuple(("" if r.kind == RecipientKind.PATIENT else r.display_name, r.address) for r in recipients)
    try:
        addresses = _address_lines(settings.sender, to, settings.reply_to)
    except _NotAnAddress as exc:
        raise PermanentError(f"report {rid}: {exc} is not an e-mail address (addr-spec)") from None
    msg = EmailMessage()
    msg["Subject"] = subject_for(header)  # names the patient: folded (RFC 2047) for each report
    # Headers whose values are plain ASCII tokens are written as they are; the header registry's
    # parse-and-refold of each cost ~1 ms a report for no change. Addresses and the subject
    # (patient names, accents) stay with the registry above.
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]
    plain = [
        ("Date", format_datetime((date or datetime.now(UTC)).astimezone(UTC))),
        ("Message-ID", message_id),
    ]
    if settings.request_mdn:
        plain.append(("Disposition-Notification-To", f"<{_addr_spec(settings.sender)}>"))
    plain += [("X-MSS-CODECDA", header.code.code), ("X-MSS-INS", "O" if ins_sent else "N")]
    if settings.nil:
        plain.append(("X-MSS-NIL", settings.nil))
    if to_patient and mapped.report.flags is not None and mapped.report.flags.end_of_thread:
        plain.append(("X-MSS-MES", "FIN"))
    plain += [("MIME-Version", "1.0"), ("Content-Type", f'multipart/mixed; boundary="{boundary}"')]
    for name, value in plain:
        if not _PLAIN_VALUE.fullmatch(value):
            raise PermanentError(f"report {rid}: header {name} must be printable ASCII on one line")
    head = addresses + _header_block(msg)[:-2] + b"".join(f"{n}: {v}".encode() + CRLF for n, v in plain) + CRLF
    parts = [
        _text_part(body if body is not None else _body(mapped, recipients)),
        _attachment("application/zip", XDM_FILENAME, xdm),
        # A non-ASCII name is written as RFC 2231 ``filename*=utf-8''…`` by the stdlib folder.
        _attachment("application/pdf", pdf_name, pdf),
    ]
    delimiter = b"--" + boundary.encode() + CRLF
    out = b"".join([head, *(delimiter + p for p in parts),
                    b"--" + boundary.encode() + b"--" + CRLF])
    if len(out) > MAX_EMAIL_BYTES:
        raise PermanentError(f"report {rid}: e-mail of {len(out)} bytes exceeds the {MAX_EMAIL_BYTES}-byte limit")
    return out


def _attachment(content_type: str, filename: str, data: bytes) -> bytes:
    """One base64 part: its headers by the stdlib, its body by binascii (76-character lines)."""
    return _part_headers(content_type, filename) + _base64_lines(data)


@functools.lru_cache(maxsize=32)  # the zip's headers never change; a PDF's name changes per report
def _part_headers(content_type: str, filename: str) -> bytes:
    part = EmailMessage()
    part.add_header("Content-Type", content_type, name=filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    part["Content-Transfer-Encoding"] = "base64"
    return _header_block(part)


def _base64_lines(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join([encoded[i:i + BASE64_LINE] + CRLF for i in range(0, len(encoded), BASE64_LINE)]) + CRLF


def _header_block(msg: EmailMessage) -> bytes:
    """The headers as the stdlib folds and encodes them for SMTP, and the blank line that ends them."""
    return b"".join(SMTP.fold_binary(name, value) for name, value in msg.items()) + CRLF
