"""Embedded defaults for the DMP feed: demo settings and a throwaway PKI made at run time.

``connector build --dmp`` without a configuration signs with these: a demo CA (never
IGC-Santé, refused in production), the organisation's AUTH_CLI and SIGN certificates under
the demo lab's structure id, written 0600 into a private folder the caller owns.
"""

from __future__ import annotations

import os
from pathlib import Path

from connector.model import LabIdentity

from .pki import make_demo_pki
from .settings import DEMO_HOMOLOGATION, DmpCredentials, DmpSettings

__all__ = ["demo_settings"]


def _write(path: Path, data: bytes) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return str(path)


def demo_settings(lab: LabIdentity, folder: Path) -> tuple[DmpSettings, DmpCredentials]:
    """Demo settings for ``lab`` and their credentials; the PEM files go into ``folder`` (made 0700)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    structure_id = "1" + lab.finess
    pki = make_demo_pki(structure_id=structure_id, structure_name=lab.name)
    settings = DmpSettings(
        base_url="https://localhost/si-dmp-server/v2/services",
        structure_id=structure_id,
        structure_name=lab.name,
        responsible_id=("8" + lab.default_biologist_rpps) if lab.default_biologist_rpps else "DEMO",
        software_name=lab.application_name,
        software_version=lab.application_version,
        homologation_number=DEMO_HOMOLOGATION,
        source_oid=lab.oid_root,
        auth_cert_file=_write(folder / "org-auth.crt", pki.auth.cert_pem),
        auth_key_file=_write(folder / "org-auth.key", pki.auth.key_pem),
        sign_cert_file=_write(folder / "org-sign.crt", pki.sign.cert_pem + pki.ca.cert_pem),
        sign_key_file=_write(folder / "org-sign.key", pki.sign.key_pem),
        ca_file=_write(folder / "ca.crt", pki.ca.cert_pem),
    )
    return settings, DmpCredentials(sign_key=pki.sign.key, sign_chain=(pki.sign.cert, pki.ca.cert))
