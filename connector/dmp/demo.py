"""Embedded defaults for the DMP feed: a throwaway PKI made at run time, in place of the lab's certificates.

``connector build --dmp`` signs with these when the configuration names no DMP certificates: a demo
CA (never IGC-Santé, refused in production), the organisation's AUTH_CLI and SIGN certificates
under the configured structure id, written 0600 into a private folder the caller owns. Every other
value is the configuration's own (its defaults live in ``connector.config.schema``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .pki import make_demo_pki
from .settings import DEMO_HOMOLOGATION, DmpCredentials, DmpSettings

__all__ = ["DEMO_BASE_URL", "demo_settings"]

DEMO_BASE_URL = "https://localhost/si-dmp-server/v2/services"


def _write(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)


def demo_settings(configured: DmpSettings, folder: Path) -> tuple[DmpSettings, DmpCredentials]:
    """``configured`` with a demo PKI (and demo values where it has none); PEM files go into ``folder`` (0700)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = make_demo_pki(structure_id=configured.structure_id, structure_name=configured.structure_name)
    settings = dataclasses.replace(
        configured,
        base_url=configured.base_url or DEMO_BASE_URL,
        responsible_id=configured.responsible_id or "DEMO",
        homologation_number=configured.homologation_number or DEMO_HOMOLOGATION,
        auth_cert_file=_write(folder / "org-auth.crt", pki.auth.cert_pem),
        auth_key_file=_write(folder / "org-auth.key", pki.auth.key_pem),
        sign_cert_file=_write(folder / "org-sign.crt", pki.sign.cert_pem + pki.ca.cert_pem),
        sign_key_file=_write(folder / "org-sign.key", pki.sign.key_pem),
        ca_file=_write(folder / "ca.crt", pki.ca.cert_pem),
    )
    return settings, DmpCredentials(sign_key=pki.sign.key, sign_chain=(pki.sign.cert, pki.ca.cert))
