"""SMTP submission to the MSSanté operator: STARTTLS + client certificate, DSN requested, per-recipient results.

One transaction = MAIL FROM (``RET=HDRS ENVID=…``), one RCPT per recipient (``NOTIFY=SUCCESS,FAILURE,DELAY
ORCPT=rfc822;…``), DATA. Some recipients may be refused while others are accepted: the result says which.
Errors are mapped to the pipeline's two actions (docs: errors.py):

- 4xx, connection refused or lost, timeout, TLS handshake or certificate failure → :class:`SmtpTemporaryError`
  (retry later). A client certificate the operator does not accept surfaces as ``421`` to the EHLO that
  follows STARTTLS (Postfix), so it is temporary too: the alert comes from repeated failures.
- 5xx for the whole message (MAIL, DATA, every RCPT) → :class:`SmtpRejected` (quarantine).

A connection lost *after* DATA was sent is temporary but the operator may have queued the message: the
store resends the same stored bytes (same Message-ID), and the duplicate window is documented there.
Server replies can quote recipient addresses, and a patient address holds the INS: texts are redacted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import aiosmtplib

from connector.errors import SmtpRejected, SmtpTemporaryError
from connector.logs import event
from connector.send.tls import TlsSettings

__all__ = ["SmtpClient", "SmtpSettings", "SubmitResult", "submit", "xtext"]

# Operators cap transactions per session; a fresh session also picks up a renewed certificate.
MAX_MESSAGES_PER_CONNECTION = 100
MAX_REPLY_CHARS = 200  # a server reply kept in errors/results; enough for the enhanced code and the reason
# EHLO name: a fixed name avoids a reverse-DNS lookup (socket.getfqdn) and leaking the host's name
LOCAL_HOSTNAME = "lab-connector.invalid"
DSN_NOTIFY = "NOTIFY=SUCCESS,FAILURE,DELAY"  # DELAY too: a deferred message is worth knowing about
_PATIENT_ADDRESS = re.compile(r"[^\s<>\"]+@patient\.mssante\.fr", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"\d{13,}")  # NIR / INS (13-15 digits); IDNPS (12) and queue ids stay readable
_UNSAFE = re.compile(r"[\r\n\x00]")


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """The operator's submission endpoint. ``starttls=False`` means implicit TLS (port 465), never plain text.

    Built from the ``smtp:`` section by ``connector.config.settings`` (the defaults live there).
    """

    host: str
    port: int
    tls: TlsSettings
    timeout: float  # per command; a stuck operator must not hold a worker forever
    starttls: bool
    dsn: bool  # request DSNs (the track stage needs them) when the server offers the extension
    username: str | None  # SASL only when the operator needs it after mTLS
    password: str | None = field(repr=False)
    server_hostname: str | None = None  # name checked against the server cert when ``host`` is an IP address


@dataclass(frozen=True)
class SubmitResult:
    """What the operator said: recipients accepted (250 after DATA) and refused ones with (code, reply)."""

    accepted: tuple[str, ...]
    refused: Mapping[str, tuple[int, str]]
    reply: str  # the DATA reply, e.g. "2.0.0 Ok: queued as 4F2A1214A0B"


def xtext(value: str) -> str:
    """RFC 3461 xtext: ``+`` and ``=``, controls and non-ASCII as ``+HH`` (ENVID, ORCPT)."""
    out = []
    for byte in value.encode("utf-8"):
        out.append(chr(byte) if 33 <= byte <= 126 and byte not in (43, 61) else f"+{byte:02X}")
    return "".join(out)


def redact(text: str) -> str:
    """A server reply without patient identifiers, shortened."""
    text = _PATIENT_ADDRESS.sub("<patient>@patient.mssante.fr", text)
    return _LONG_NUMBER.sub("<number>", text)[:MAX_REPLY_CHARS]


class SmtpClient:
    """One reusable, authenticated submission session; reconnects when the previous one failed or aged.

    Use as ``async with SmtpClient(settings, context) as client: await client.submit(...)``. Calls are
    serialised (one SMTP transaction at a time per client); run several clients for parallel sending.
    """

    def __init__(self, settings: SmtpSettings, context: ssl.SSLContext) -> None:
        self.settings = settings
        self.context = context
        self._smtp: aiosmtplib.SMTP | None = None
        self._sent_on_connection = 0
        self._stage = ""  # the SMTP step under way, named in errors
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """QUIT politely; a session that does not answer is just closed."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def submit(self, message: bytes, *, sender: str, recipients: Sequence[str], envid: str) -> SubmitResult:
        """Send one message; see the module docstring for results and errors."""
        _check_envelope(sender, recipients, envid)
        async with self._lock:
            reused = self._smtp is not None and self._smtp.is_connected
            try:
                return await self._attempt(message, sender, recipients, envid)
            except _StaleSession as stale:
                if not reused:
                    raise _map_error(stale.cause, "MAIL FROM") from None
                # the operator closed an idle session: nothing was sent, one fresh attempt is safe
                try:
                    return await self._attempt(message, sender, recipients, envid)
                except _StaleSession as again:
                    raise _map_error(again.cause, "MAIL FROM") from None

    async def _attempt(self, message: bytes, sender: str, recipients: Sequence[str], envid: str) -> SubmitResult:
        self._stage = "connect"
        try:
            smtp = await self._session()
            return await self._transaction(smtp, message, sender, recipients, envid)
        except (SmtpTemporaryError, SmtpRejected):
            self._drop()
            raise
        except (TimeoutError, aiosmtplib.SMTPException, ssl.SSLError, OSError) as exc:
            self._drop()
            if self._stage == "MAIL FROM" and isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                raise _StaleSession(exc) from None
            raise _map_error(exc, self._stage) from None

    async def _session(self) -> aiosmtplib.SMTP:
        smtp = self._smtp
        if smtp is not None and smtp.is_connected and self._sent_on_connection < MAX_MESSAGES_PER_CONNECTION:
            self._sent_on_connection += 1
            return smtp
        await self.close()
        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout, use_tls=not s.starttls, start_tls=False,
            tls_context=self.context, local_hostname=LOCAL_HOSTNAME,
        )
        await smtp.connect()
        self._smtp, self._sent_on_connection = smtp, 1  # held from here so that a failure below closes it
        if s.starttls:
            self._stage = "STARTTLS"
            await smtp.starttls(server_hostname=s.server_hostname or s.host)
        self._stage = "EHLO"  # after STARTTLS: where Postfix refuses a client certificate (421)
        await smtp.ehlo()
        if s.dsn and not smtp.supports_extension("dsn"):  # once per session, not per message
            event("smtp.no_dsn", level=logging.WARNING, host=s.host)
        if s.username:
            self._stage = "AUTH"
            await smtp.login(s.username, s.password or "")
        return smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    async def _transaction(
        self, smtp: aiosmtplib.SMTP, message: bytes, sender: str, recipients: Sequence[str], envid: str
    ) -> SubmitResult:
        # An empty ENVID asks for no DSN for this message (the SIL's ACK_RECEPTION=N).
        use_dsn = self.settings.dsn and bool(envid) and smtp.supports_extension("dsn")
        self._stage = "MAIL FROM"
        await smtp.mail(sender, options=["RET=HDRS", f"ENVID={xtext(envid)}"] if use_dsn else [])
        self._stage = "RCPT TO"
        accepted: list[str] = []
        refused: dict[str, tuple[int, str]] = {}
        for rcpt in recipients:
            options = [DSN_NOTIFY, f"ORCPT=rfc822;{xtext(rcpt)}"] if use_dsn else []
            try:
                await smtp.rcpt(rcpt, options=options)
                accepted.append(rcpt)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused[rcpt] = (exc.code, redact(exc.message))
        if not accepted:
            raise _all_refused(refused)
        self._stage = "DATA"
        response = await smtp.data(message)
        return SubmitResult(tuple(accepted), refused, redact(response.message))


class _StaleSession(Exception):
    """The server closed the session before answering MAIL FROM (idle timeout): nothing was sent."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__()
        self.cause = cause


def _all_refused(refused: Mapping[str, tuple[int, str]]) -> SmtpTemporaryError | SmtpRejected:
    codes = sorted({code for code, _ in refused.values()})
    summary = ", ".join(str(c) for c in codes)
    if any(c < 500 for c in codes):  # at least one may succeed later: retry the whole message
        return SmtpTemporaryError(f"SMTP RCPT TO: every recipient refused ({summary}), some temporarily", code=codes[0])
    return SmtpRejected(f"SMTP RCPT TO: every recipient refused ({summary})", code=codes[-1])


def _map_error(exc: BaseException, stage: str) -> SmtpTemporaryError | SmtpRejected:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {stage}: {exc.code} {redact(exc.message)}"
        if isinstance(exc, aiosmtplib.SMTPHeloError) and exc.code == 421:
            text += " (after STARTTLS this is how the operator refuses the client certificate)"
        if exc.code >= 500:
            return SmtpRejected(text, code=exc.code)
        return SmtpTemporaryError(text, code=exc.code)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return SmtpTemporaryError(f"SMTP {stage}: server certificate refused: {exc.verify_message}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return SmtpTemporaryError(f"SMTP {stage}: {redact(str(exc))} (no clear-text fallback)")
    if stage == "DATA":
        return SmtpTemporaryError(
            f"SMTP DATA: {type(exc).__name__}: the operator may have queued the message; it will be resent as stored"
        )
    return SmtpTemporaryError(f"SMTP {stage}: {type(exc).__name__}: {redact(str(exc))}")


def _check_envelope(sender: str, recipients: Sequence[str], envid: str) -> None:
    """Refuse CR/LF/NUL in envelope values (command injection) and an empty recipient list."""
    if not recipients:
        raise ValueError("no recipient")
    for value in (sender, envid, *recipients):
        if _UNSAFE.search(value):
            raise ValueError("CR, LF or NUL in an SMTP envelope value")


async def submit(
    message: bytes, *, sender: str, recipients: Sequence[str], envid: str, settings: SmtpSettings,
    context: ssl.SSLContext, client: SmtpClient | None = None,
) -> SubmitResult:
    """Submit one message, on ``client``'s session when given (connection reuse), else on a new one."""
    if client is not None:
        return await client.submit(message, sender=sender, recipients=recipients, envid=envid)
    async with SmtpClient(settings, context) as one_shot:
        return await one_shot.submit(message, sender=sender, recipients=recipients, envid=envid)
