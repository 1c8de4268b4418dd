"""The lab mailbox over IMAP: read new acknowledgement mail after a cursor, then file it away.

Client choice: **stdlib imaplib**, called from a worker thread by the async service. It has
``starttls(ssl_context=)`` and a generic ``authenticate()`` (so SASL EXTERNAL with the
ORG_AUTH_CLI certificate works), needs no dependency, and its API is stable across Python
versions. aioimaplib 2.0.3 has neither STARTTLS nor AUTHENTICATE EXTERNAL (the tested helpers
reach into its internals), and IMAPClient would add a dependency for conveniences we do not need
(we encode folder names ourselves, below). Polling a mailbox every few seconds does not need
an event-loop client.

Reliability (docs/reliability.md): the cursor is ``(UIDVALIDITY, last UID)``. The caller applies
an ack, commits it *with* the cursor, and only then calls :meth:`AckMailbox.move_done`. A crash
in between re-reads the mail, so applying an ack must be idempotent. A changed UIDVALIDITY makes
us rescan the whole folder for the same reason. Messages are read with ``BODY.PEEK[]`` (no
``\\Seen`` flag) and never deleted except by the MOVE fallback right after a successful COPY.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Self

from connector.errors import ConfigError, ImapUnavailable

if TYPE_CHECKING:  # connector.send owns TlsSettings; only the type is needed here
    from connector.send import TlsSettings

__all__ = ["FETCH_BATCH", "MAX_FETCH_BYTES", "AckMailbox", "Cursor", "ImapSettings", "encode_mailbox_name"]

Cursor = tuple[int, int]  # (UIDVALIDITY, last UID handled)

# Same bound as acks.MAX_MAIL_BYTES: bigger mail gets its headers only, parses to no ack, goes to "unknown".
MAX_FETCH_BYTES = 40 * 1024 * 1024
# UIDs per FETCH of sizes: keeps one command line well under server line limits (Dovecot: 64 KB).
FETCH_BATCH = 500
_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    """The lab mailbox; built from the ``imap:`` section by ``connector.config.settings`` (defaults live there)."""

    host: str
    port: int
    tls: TlsSettings  # the context is built from it by the caller
    username: str
    password: str = field(repr=False)
    sasl_external: bool  # AUTHENTICATE EXTERNAL with the client certificate instead of LOGIN
    mailbox: str
    done_folder: str  # ASCII, as in the configuration: no modified UTF-7 name to get wrong
    unknown_folder: str  # mail that is no ack we understand: for a person to read
    starttls: bool  # False: implicit TLS (IMAPS, port 993)
    timeout: float
    server_hostname: str = ""  # name checked in the server certificate ("" → host); no configuration key


class AckMailbox:
    """A connection to the lab's mailbox; opened on first use, closed by ``close()`` or ``with``."""

    def __init__(self, settings: ImapSettings, context: ssl.SSLContext) -> None:
        if not settings.sasl_external and not settings.username:
            raise ConfigError("IMAP needs a username, or sasl_external = true", key="imap.username")
        self._settings = settings
        self._context = context
        self._conn: imaplib.IMAP4 | None = None
        self._uidvalidity = 0
        self._capabilities: frozenset[str] = frozenset()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ public

    def fetch_new(self, cursor: Cursor | None) -> Iterator[tuple[Cursor, bytes]]:
        """Messages after ``cursor``, oldest first, each with the cursor to commit once it is applied."""
        conn = self._connection()
        last_uid = cursor[1] if cursor is not None and cursor[0] == self._uidvalidity else 0
        uids = [u for u in self._search_after(conn, last_uid) if u > last_uid]
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            sizes = self._sizes(conn, batch)
            for uid in batch:
                part = "BODY.PEEK[]" if sizes.get(uid, 0) <= MAX_FETCH_BYTES else "BODY.PEEK[HEADER]"
                raw = self._fetch(conn, uid, part)
                if raw is not None:
                    yield (self._uidvalidity, uid), raw

    def move_done(self, uid: int, *, known: bool) -> None:
        """File a handled message into the done (``known``) or unknown folder."""
        conn = self._connection()
        target = encode_mailbox_name(self._settings.done_folder if known else self._settings.unknown_folder)
        self._ensure_folder(conn, target)
        uid_text = str(uid)
        try:
            if "MOVE" in self._capabilities:
                self._check(conn.uid("MOVE", uid_text, _quote(target)), "UID MOVE")
                return
            self._check(conn.uid("COPY", uid_text, _quote(target)), "UID COPY")
            self._check(conn.uid("STORE", uid_text, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
            if "UIDPLUS" in self._capabilities:
                self._check(conn.uid("EXPUNGE", uid_text), "UID EXPUNGE")
            else:  # expunges every \Deleted message; we set that flag only after a successful COPY
                self._check(conn.expunge(), "EXPUNGE")
        except (imaplib.IMAP4.error, OSError) as exc:
            self._drop()
            raise ImapUnavailable(f"IMAP move of UID {uid} failed ({type(exc).__name__})") from None

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()

    # ------------------------------------------------------------------ connection

    def _connection(self) -> imaplib.IMAP4:
        if self._conn is not None:
            return self._conn
        s = self._settings
        try:
            if s.starttls:
                conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout)
                conn.starttls(ssl_context=self._context)  # raises when the server does not offer it
            else:
                conn = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=self._context, timeout=s.timeout)
        except ssl.SSLError as exc:
            raise ImapUnavailable(f"IMAP TLS with {s.host}:{s.port} failed ({exc.reason or 'handshake'})") from None
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapUnavailable(f"IMAP connection to {s.host}:{s.port} failed ({type(exc).__name__})") from None
        try:
            if s.sasl_external:
                conn.authenticate("EXTERNAL", lambda _challenge: b"")  # empty authzid: the cert's identity
            else:
                conn.login(s.username, s.password)
            self._capabilities = _capabilities(conn)
            typ, _ = conn.select(_quote(encode_mailbox_name(s.mailbox)))
            if typ != "OK":
                raise imaplib.IMAP4.error("SELECT refused")
            _, data = conn.response("UIDVALIDITY")
            self._uidvalidity = int(data[0]) if data and data[0] else 0
        except (imaplib.IMAP4.error, OSError, ValueError) as exc:
            with contextlib.suppress(OSError):
                conn.shutdown()
            # imaplib's message is the server's text ("[AUTHENTICATIONFAILED] …"): no patient data.
            raise ImapUnavailable(f"IMAP login or SELECT on {s.host}:{s.port} refused: {exc}") from None
        self._conn = conn
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.shutdown()

    # ------------------------------------------------------------------ commands

    def _search_after(self, conn: imaplib.IMAP4, last_uid: int) -> list[int]:
        # "n:*" always matches the highest UID even when it is below n: the caller filters.
        data = self._call(lambda: conn.uid("SEARCH", "UID", f"{last_uid + 1}:*"), "UID SEARCH")
        first = data[0] if data and isinstance(data[0], bytes) else b""
        return sorted(int(x) for x in first.split())

    def _sizes(self, conn: imaplib.IMAP4, uids: list[int]) -> dict[int, int]:
        data = self._call(lambda: conn.uid("FETCH", ",".join(map(str, uids)), "(RFC822.SIZE)"), "UID FETCH")
        sizes: dict[int, int] = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            if isinstance(line, bytes):
                uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
                if uid and size:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _fetch(self, conn: imaplib.IMAP4, uid: int, part: str) -> bytes | None:
        data = self._call(lambda: conn.uid("FETCH", str(uid), f"({part})"), "UID FETCH")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None  # expunged meanwhile by another client

    def _ensure_folder(self, conn: imaplib.IMAP4, name: str) -> None:
        typ, data = conn.list('""', _quote(name))
        if typ == "OK" and any(d for d in data if d):
            return
        typ, _ = conn.create(_quote(name))  # a concurrent CREATE may win: LIST again decides
        if typ != "OK":
            typ, data = conn.list('""', _quote(name))
            if typ != "OK" or not any(d for d in data if d):
                raise ImapUnavailable(f"IMAP folder {name} could not be created")

    def _call(self, command: object, label: str) -> list[object]:
        try:
            typ, data = command()  # type: ignore[operator]
        except (TimeoutError, imaplib.IMAP4.error, OSError) as exc:
            self._drop()
            raise ImapUnavailable(f"IMAP {label} failed ({type(exc).__name__})") from None
        if typ != "OK":
            raise ImapUnavailable(f"IMAP {label} answered {typ}")
        return list(data)

    @staticmethod
    def _check(result: tuple[str, list[object]], label: str) -> None:
        if result[0] != "OK":
            raise imaplib.IMAP4.error(f"{label} answered {result[0]}")


def _capabilities(conn: imaplib.IMAP4) -> frozenset[str]:
    """Capabilities after login (servers announce more once authenticated)."""
    typ, data = conn.capability()
    if typ != "OK" or not data or not isinstance(data[0], bytes):
        return frozenset(conn.capabilities)
    return frozenset(data[0].decode("ascii", "replace").upper().split())


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_mailbox_name(name: str) -> str:
    """RFC 3501 §5.1.3 modified UTF-7: ``Traités`` → ``Trait&AOk-s`` (imaplib sends names as given)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)
