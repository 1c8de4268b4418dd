"""IHE_XDM.ZIP (IHE ITI-32 "Distribute Document Set on Media", zip over e-mail).

Layout, uppercase 8.3 names as three public MSSanté generators write it::

    README.TXT                      who sent it, with which application
    INDEX.HTM                       links to README.TXT and the document
    IHE_XDM/SUBSET01/METADATA.XML   lcm:SubmitObjectsRequest
    IHE_XDM/SUBSET01/DOC0001.XML    the CDA, byte for byte as given

The archive is deterministic: entry order, timestamps (from the submission time),
permissions and compression are fixed, so a package rebuilt on retry is byte-identical.
README and INDEX hold no patient data; only the CDA and METADATA do.
"""

from __future__ import annotations

import html
import io
import zipfile
from collections.abc import Sequence

from connector.model import DocumentIdentity, LabIdentity, MappedReport, Recipient

from ._times import parse_instant
from .cda_header import CdaHeader
from .metadata import DOCUMENT_URI, build_metadata

__all__ = ["APPLICATION_VENDOR", "DOCUMENT_PATH", "METADATA_PATH", "build_xdm"]

SUBSET = "IHE_XDM/SUBSET01"
METADATA_PATH = f"{SUBSET}/METADATA.XML"
DOCUMENT_PATH = f"{SUBSET}/{DOCUMENT_URI}"
README_PATH = "README.TXT"
INDEX_PATH = "INDEX.HTM"
APPLICATION_VENDOR = "lab-results-connector project"  # LabIdentity has no vendor field yet
# zip stores local times from 1980 on; an earlier submission time can only be a bug.
ZIP_EPOCH_YEAR = 1980
_UNIX = 3  # ZipInfo.create_system: fixed, so the archive does not depend on the build host


def _readme(lab: LabIdentity) -> str:
    lines = [
        "IHE XDM - Distribute Document Set on Media",
        "",
        f"Emetteur / Sender: {lab.mailbox or '-'}",
        f"Organisation: {lab.name} (FINESS {lab.finess})",
        f"Adresse: {' '.join(p for p in (lab.street, lab.postal_code, lab.city) if p) or '-'}",
        f"Application: {lab.application_name}",
        f"Version: {lab.application_version}",
        f"Editeur / Vendor: {APPLICATION_VENDOR}",
        "",
        f"Contenu: {INDEX_PATH}, {README_PATH}, {METADATA_PATH}, {DOCUMENT_PATH}",
        "",
    ]
    return "\r\n".join(lines)


def _index(lab: LabIdentity) -> str:
    org = html.escape(lab.name)
    return (
        '<!DOCTYPE html>\r\n<html lang="fr">\r\n<head><meta charset="UTF-8"/>'
        f"<title>IHE XDM - {org}</title></head>\r\n<body>\r\n"
        f"<h1>IHE XDM - {org}</h1>\r\n"
        f'<p><a href="{README_PATH}">{README_PATH}</a></p>\r\n'
        "<ul>\r\n"
        f'<li><a href="{DOCUMENT_PATH}">Compte rendu d\'examens biologiques (CDA R2)</a>'
        f' - <a href="{METADATA_PATH}">METADATA.XML</a></li>\r\n'
        "</ul>\r\n</body>\r\n</html>\r\n"
    )


# Level 1: the CDA is mostly the PDF copy in base64, which deflates about as well at level 1
# (+5 % size) for a third less time than the default level 6 (measured on a 20-result report).
ZIP_LEVEL = 1


def _entry(name: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = _UNIX
    info.external_attr = 0o644 << 16
    return info


def build_xdm(
    cda: bytes,
    *,
    mapped: MappedReport,
    lab: LabIdentity,
    ids: DocumentIdentity,
    recipients: Sequence[Recipient],
    submission_time: str,
    source_oid: str = "",
    header: CdaHeader | None = None,
) -> bytes:
    """The IHE_XDM.ZIP bytes for one CDA; same inputs, same bytes."""
    metadata = build_metadata(
        cda,
        mapped=mapped,
        lab=lab,
        ids=ids,
        recipients=recipients,
        submission_time=submission_time,
        source_oid=source_oid,
        header=header,
    )
    instant = parse_instant(submission_time, default_zone=lab.timezone)
    if instant.year < ZIP_EPOCH_YEAR:
        raise ValueError("build_xdm: submission_time must be 1980 or later (zip timestamps)")
    when = (instant.year, instant.month, instant.day, instant.hour, instant.minute, instant.second - instant.second % 2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_entry(README_PATH, when), _readme(lab).encode("utf-8"), compresslevel=ZIP_LEVEL)
        archive.writestr(_entry(INDEX_PATH, when), _index(lab).encode("utf-8"), compresslevel=ZIP_LEVEL)
        archive.writestr(_entry(METADATA_PATH, when), metadata, compresslevel=ZIP_LEVEL)
        archive.writestr(_entry(DOCUMENT_PATH, when), cda, compresslevel=ZIP_LEVEL)
    return buffer.getvalue()
