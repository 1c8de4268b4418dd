"""`connector build --dmp --config FILE` signs with the configured DMP certificates and values; without them
(no ``dmp.sign_cert_file``) with a demo certificate made for the run, and it says so."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import yaml
from cryptography.hazmat.primitives.serialization import Encoding

from connector.config import load_config
from connector.dmp.pki import DemoPki
from connector.ops.offline import build_files
from tests.support.paths import ROOT

ORU = ROOT / "tests" / "data" / "oru" / "13_ins_qualified.hl7"


def _site(tmp_path: Path, dmp: dict[str, object]) -> Path:
    demo = yaml.safe_load((ROOT / "connector" / "demo" / "demo.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "connector.yaml"
    path.write_text(yaml.safe_dump({"mode": "test", "lab": demo["lab"], "identity": {"allow_test_ins": True},
                                    "mappings": {"dir": str(ROOT / "mappings")}, "dmp": dmp}), encoding="utf-8")
    return path


def _signers(request: bytes) -> set[bytes]:
    """Every certificate a signature in the request carries (the VIHF's and the XAdES's KeyInfo)."""
    return {base64.b64decode(b"".join(c.split()))
            for c in re.findall(rb"X509Certificate>([A-Za-z0-9+/=\s]+)</", request)}


def test_the_configured_certificates_and_values_sign_the_request(tmp_path: Path, dmp_pki: DemoPki,
                                                                 dmp_pki_files: dict[str, str]) -> None:
    config = load_config(_site(tmp_path, {"homologation_number": "HOMOL-LABO-42", "software_name": "LIS-X",
                                          **dmp_pki_files}))
    results = build_files([ORU], tmp_path / "out", config, dmp=True)
    assert not results.failures and not results.notes
    [(_, folder)] = results.built
    request = (folder / "dmp-request.mime").read_bytes()
    assert dmp_pki.sign.cert.public_bytes(Encoding.DER) in _signers(request)
    assert b"HOMOL-LABO-42" in request and b"LIS-X" in request


def test_without_configured_certificates_a_demo_one_signs_and_it_is_said(tmp_path: Path, dmp_pki: DemoPki) -> None:
    config = load_config(_site(tmp_path, {"homologation_number": "HOMOL-LABO-42"}))
    results = build_files([ORU], tmp_path / "out", config, dmp=True)
    assert any("demo certificate" in note for note in results.notes)
    [(_, folder)] = results.built
    request = (folder / "dmp-request.mime").read_bytes()
    signers = _signers(request)
    assert signers and dmp_pki.sign.cert.public_bytes(Encoding.DER) not in signers
    assert b"HOMOL-LABO-42" in request  # the configured values still apply
