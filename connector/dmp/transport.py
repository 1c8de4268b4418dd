"""HTTPS to the DMP: TLS 1.2 only, the DMP's cipher suites, our ORG AUTH_CLI certificate, bounded timeouts.

stdlib ``http.client`` over an ``ssl`` context: it separates the two failures the feed must
tell apart (:class:`~connector.errors.DmpUnavailable` ``sent``): before the request was
fully written (the DMP cannot have acted: resend) and after (it may have: check with
TD3.1b first). One persistent connection, re-opened after any failure; one thread at a
time (the caller's worker).
"""

from __future__ import annotations

import http.client
import ssl
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from connector.errors import DmpUnavailable

from .settings import DMP_CIPHERS, DmpSettings

__all__ = ["HttpAnswer", "TlsRefused", "Transport", "client_context"]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    content_type: str
    body: bytes = field(repr=False)


class TlsRefused(DmpUnavailable):
    """The TLS handshake failed: a certificate (ours or the DMP's) or the protocol was refused."""


def client_context(settings: DmpSettings) -> ssl.SSLContext:
    """TLS 1.2 exactly (PDT-INF-579), the four DMP suites, our client certificate, trust = ``ca_file`` only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(DMP_CIPHERS))
    context.load_verify_locations(cafile=settings.ca_file)  # never the system store: IGC-Santé only
    context.load_cert_chain(settings.auth_cert_file, settings.auth_key_file)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class Transport:
    def __init__(self, settings: DmpSettings, context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.context = context or client_context(settings)
        self._connections: dict[str, http.client.HTTPSConnection] = {}
        self._lock = threading.Lock()

    def _connection(self, host: str, port: int) -> http.client.HTTPSConnection:
        key = f"{host}:{port}"
        conn = self._connections.get(key)
        if conn is None:
            conn = http.client.HTTPSConnection(host, port, timeout=self.settings.connect_timeout,
                                               context=self.context)
            self._connections[key] = conn
        return conn

    def _drop(self, host: str, port: int) -> None:
        conn = self._connections.pop(f"{host}:{port}", None)
        if conn is not None:
            conn.close()

    def post(self, url: str, content_type: str, body: bytes) -> HttpAnswer:
        """POST ``body``; DmpUnavailable(sent=…) when no complete answer came back."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 443
        path = parts.path or "/"
        with self._lock:
            conn = self._connection(host, port)
            try:
                if conn.sock is None:
                    conn.connect()
                conn.sock.settimeout(self.settings.read_timeout)
                conn.request("POST", path, body=body,
                              headers={"Content-Type": content_type, "Content-Length": str(len(body))})
            except ssl.SSLError as exc:
                self._drop(host, port)
                raise TlsRefused(f"DMP {host}: TLS handshake refused ({type(exc).__name__})") from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(host, port)
                raise DmpUnavailable(f"DMP {host}: request not sent ({type(exc).__name__})", sent=False) from None
            try:
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as exc:
                # The whole request went out: the DMP may have acted on it.
                self._drop(host, port)
                raise DmpUnavailable(f"DMP {host}: no answer after the request was sent ({type(exc).__name__})",
                                     sent=True) from None
            if response.will_close:
                self._drop(host, port)
            return HttpAnswer(response.status, response.getheader("Content-Type", ""), data)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections.values():
                conn.close()
            self._connections.clear()
