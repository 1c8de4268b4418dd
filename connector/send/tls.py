"""The one TLS client context of the connector (SMTP submission and IMAP).

MSSanté rules (docs/spec/mssante.md §4): TLS >= 1.2 with ANSSI suites, the server certificate must chain to
IGC-Santé (the only CA allowed) and match the host name, the applicative mailbox authenticates with an
``ORG_AUTH_CLI`` client certificate. Trust is therefore limited to ``cafile``: the system store is never
loaded. ``verify=False`` exists for the local demo only and is refused in production.
"""

from __future__ import annotations

import ssl
import stat
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError

__all__ = ["TlsSettings", "create_ssl_context"]

MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2  # MSSanté / ANSSI: nothing older
# TLS 1.2 suites with forward secrecy and AEAD only (ANSSI guide); TLS 1.3 suites are all acceptable.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"
KEY_FORBIDDEN_MODE = stat.S_IRWXG | stat.S_IRWXO  # a private key readable by group/other is a leak


@dataclass(frozen=True, kw_only=True)
class TlsSettings:
    """Where the trust anchor and the client identity live.

    ``cafile``: the IGC-Santé chain (PEM) in production, the test CA otherwise.
    ``certfile``/``keyfile``: the ORG_AUTH_CLI certificate and key (the key may be inside ``certfile``).
    """

    cafile: Path
    certfile: Path | None  # None: no client certificate (refused by MSSanté operators, fine for some tests)
    keyfile: Path | None  # None: the key is inside ``certfile``
    verify: bool  # False is refused when production: there is no path to an unverified server in production


def create_ssl_context(tls: TlsSettings, *, production: bool) -> ssl.SSLContext:
    """Build the client ``SSLContext``: certificate + host-name checks, TLS >= 1.2, trust = ``cafile`` only.

    Raises :class:`ConfigError` for a missing or unreadable file, an unverified context in production, a
    production context without client certificate, or a private key readable by group/other in production.
    """
    if not tls.verify and production:
        raise ConfigError("TLS verification cannot be disabled in production", key="tls.verify")
    if production and tls.certfile is None:
        raise ConfigError("a client certificate (ORG_AUTH_CLI) is required in production", key="tls.certfile")
    _require_file(tls.cafile, "tls.cafile")
    try:
        # cafile given: create_default_context loads only that file, not the system store
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.cafile))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"cannot load CA file: {exc.__class__.__name__}", path=str(tls.cafile), key="tls.cafile"
        ) from None
    ctx.minimum_version = MIN_TLS_VERSION
    ctx.set_ciphers(TLS12_CIPHERS)
    if tls.certfile is not None:
        _require_file(tls.certfile, "tls.certfile")
        key = tls.keyfile or tls.certfile
        _require_file(key, "tls.keyfile")
        if production and key.stat().st_mode & KEY_FORBIDDEN_MODE:
            raise ConfigError(
                "private key must not be readable by group or other (chmod 600)", path=str(key), key="tls.keyfile"
            )
        try:
            ctx.load_cert_chain(str(tls.certfile), str(tls.keyfile) if tls.keyfile else None)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"cannot load client certificate/key: {exc.__class__.__name__}",
                path=str(tls.certfile),
                key="tls.certfile",
            ) from None
    if not tls.verify:
        ctx.check_hostname = False  # demo only (refused above when production)
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _require_file(path: Path, key: str) -> None:
    if not path.is_file():
        raise ConfigError("file not found or not a regular file", path=str(path), key=key)
