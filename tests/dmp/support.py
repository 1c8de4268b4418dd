"""Test-side helpers: DMP documents built the way the pipeline builds them, and client settings for the double."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from connector.cda import build_tree, serialize
from connector.config import demo_config
from connector.config.settings import dmp_settings
from connector.config.settings import lab_identity as lab_identity_of
from connector.dmp import DmpCredentials, DmpDocument, DmpSettings, plain_oid_identity
from connector.dmp.pki import DemoPki
from connector.mapping import Mappings, map_report
from connector.model import DocumentFlags, DocumentIdentity, LabIdentity, LabReport
from connector.ops.offline import offline_identity
from connector.parse import parse_message, split_messages
from connector.pdf import render_pdf
from tests.support.settings import MAPPING, PARSE

ROOT = Path(__file__).resolve().parents[2]
ORU = ROOT / "tests" / "data" / "oru"


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[LabIdentity, Mappings]:
    config = demo_config()
    return lab_identity_of(config), Mappings.load(config.mappings_path,
                                                loinc_dir=config.loinc_path)


def lab() -> LabIdentity:
    return _setup()[0]


def report_from(name: str = "13_ins_qualified.hl7") -> LabReport:
    data = (ORU / name).read_bytes()
    message = split_messages(data, source=name)[0]
    return parse_message(message, source=name, index=0, settings=PARSE)[0]


def document(report: LabReport | None = None, *, ids: DocumentIdentity | None = None,
             flags: dict[str, bool] | None = None) -> DmpDocument:
    """A DMP document built as the pipeline builds it: our CDA with root-only OID ids."""
    lab_identity, mappings = _setup()
    report = report or report_from()
    if flags is not None:
        report = dataclasses.replace(report, flags=DocumentFlags(values=tuple(flags.items())))
    ids = ids or plain_oid_identity(offline_identity(report, oid_root=lab_identity.oid_root,
                                                     zone=lab_identity.timezone))
    mapped = map_report(report, mappings, MAPPING)
    cda = serialize(build_tree(mapped, lab=lab_identity, ids=ids, pdf=render_pdf(mapped, lab=lab_identity, ids=ids)))
    return DmpDocument(cda=cda, report=report, ids=ids, lab=lab_identity)


def next_version(doc: DmpDocument) -> DmpDocument:
    """The corrected version of ``doc``: new id, same set, version + 1, RPLC on ``doc``."""
    ids = dataclasses.replace(doc.ids, document_id_root=doc.ids.document_id_root + ".2",
                              version=doc.ids.version + 1, replaces=(doc.ids.document_id_root, ""))
    return document(doc.report, ids=ids)


def write_pki(pki: DemoPki, folder: Path) -> dict[str, str]:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    files = {"auth_cert_file": pki.auth.cert_pem, "auth_key_file": pki.auth.key_pem,
             "sign_cert_file": pki.sign.cert_pem + pki.ca.cert_pem, "sign_key_file": pki.sign.key_pem,
             "ca_file": pki.ca.cert_pem}
    out = {}
    for key, data in files.items():
        path = folder / key.replace("_file", ".pem")
        path.write_bytes(data)
        path.chmod(0o600)
        out[key] = str(path)
    return out


def settings_for(base_url: str, pki_files: dict[str, str], **overrides: object) -> DmpSettings:
    """The demo configuration's DMP settings (its defaults, its lab) pointing at the double."""
    values: dict[str, object] = dict(base_url=base_url, homologation_number="TEST-HOMOLOGATION", read_timeout=1.0,
                                     connect_timeout=2.0, **pki_files)
    values.update(overrides)
    return dataclasses.replace(dmp_settings(demo_config()), **values)  # type: ignore[arg-type]


def credentials_of(pki: DemoPki) -> DmpCredentials:
    return DmpCredentials(sign_key=pki.sign.key, sign_chain=(pki.sign.cert, pki.ca.cert))
