"""Who may talk MLLP to the connector: an allow-list of networks and of certificate subjects, and
the server TLS context that asks SILs on other hosts for a client certificate.

A SIL on the same host needs none of this (the listener binds 127.0.0.1). A SIL elsewhere connects
over TLS (>= 1.2) with a certificate from the CA the lab names (``intake.mllp.tls.client_cafile``):
the handshake fails without one. The allow-lists then narrow who, among the hosts that can reach
the port or the holders of a certificate from that CA, is a SIL: a peer outside them is closed
before a byte is read (``mllp.peer_refused``).
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConfigError

__all__ = ["PeerPolicy", "server_tls_context"]

MIN_TLS_VERSION = ssl.TLSVersion.TLSv1_2  # as for the MSSanté side: nothing older
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, kw_only=True)
class PeerPolicy:
    """``networks``: the peer's address must be in one (empty: any); ``subjects``: its certificate's
    subject CN or a DNS subjectAltName must be one of them (empty: any certificate the CA signed)."""

    networks: tuple[Network, ...] = ()
    subjects: tuple[str, ...] = ()

    @classmethod
    def parse(cls, networks: tuple[str, ...], subjects: tuple[str, ...]) -> PeerPolicy:
        """From configuration text; :class:`ConfigError` naming the entry that is not a network."""
        parsed = []
        for text in networks:
            try:
                parsed.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"an IP network such as 10.1.2.0/24 or 10.1.2.3, not {text!r}",
                                  key="intake.mllp.allowed_peers") from None
        return cls(networks=tuple(parsed), subjects=tuple(s.strip() for s in subjects if s.strip()))

    def refusal(self, address: str, certificate: dict[str, object] | None) -> str:
        """Why this peer may not send (for the log: which rule, never a certificate's content), or ""."""
        if self.networks:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                return "address not in intake.mllp.allowed_peers"
            if not any(ip in network for network in self.networks):
                return "address not in intake.mllp.allowed_peers"
        if self.subjects and not (_names(certificate) & set(self.subjects)):
            return "certificate subject not in intake.mllp.tls.allowed_subjects"
        return ""


def _names(certificate: dict[str, object] | None) -> set[str]:
    """The subject's commonName values and the DNS subjectAltNames of a peer certificate (getpeercert())."""
    if not certificate:
        return set()
    names: set[str] = set()
    subject = certificate.get("subject", ())
    for rdn in subject if isinstance(subject, tuple) else ():
        for key, value in rdn:
            if key == "commonName":
                names.add(str(value))
    alt = certificate.get("subjectAltName", ())
    for kind, value in alt if isinstance(alt, tuple) else ():
        if kind == "DNS":
            names.add(str(value))
    return names


def server_tls_context(*, certfile: Path, keyfile: Path | None, client_cafile: Path | None) -> ssl.SSLContext:
    """The listener's context: our certificate; with ``client_cafile``, a client certificate from that CA is
    required (``CERT_REQUIRED``): the handshake fails without one."""
    for path, key in ((certfile, "intake.mllp.tls.certfile"), (keyfile, "intake.mllp.tls.keyfile"),
                      (client_cafile, "intake.mllp.tls.client_cafile")):
        if path is not None and not path.is_file():
            raise ConfigError("file not found or not a regular file", path=str(path), key=key)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = MIN_TLS_VERSION
    ctx.set_ciphers(TLS12_CIPHERS)
    try:
        ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None)
        if client_cafile is not None:
            ctx.load_verify_locations(cafile=str(client_cafile))
            ctx.verify_mode = ssl.CERT_REQUIRED
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(f"cannot load the MLLP certificate, key or client CA ({exc.__class__.__name__})",
                          path=str(certfile), key="intake.mllp.tls") from None
    return ctx
