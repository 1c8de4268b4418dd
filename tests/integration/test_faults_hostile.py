"""Hostile input: entity tricks in an embedded CDA (shape-B ORU, CDA in OBX ED), file names that try to
leave the drop folder, an attachment name built from a hostile patient name. Each is refused with a reason
or made harmless; nothing is expanded, read from disk or written outside the connector's folders.

Already covered elsewhere (not repeated here): XXE/billion-laughs parts, deep MIME nesting and a zip bomb in
returned mail (tests/unit/test_track_acks.py); the DOCTYPE sample b09 (tests/unit/test_embedded_forward.py);
TLS unknown CA, wrong host, expired server certificate, missing/rogue/expired client certificate
(tests/unit/test_send_smtp.py, tests/integration/test_send_operator.py).
"""

from __future__ import annotations

import base64
import os
import re
import time
from pathlib import Path

import pytest
from lxml import etree

from connector.cda import XsdValidator
from connector.config import demo_config
from connector.config.settings import lab_identity
from connector.embedded import check_embedded
from connector.errors import InputError
from connector.intake import DropFolder
from connector.parse import parse_message, split_messages
from connector.xmlsafe import parse_xml
from tests.support.settings import PARSE, folder_settings, mapping_settings

ROOT = Path(__file__).resolve().parents[2]
SHAPE_B = ROOT / "tests" / "data" / "embedded" / "b01_n3_new.hl7"
LAB = lab_identity(demo_config())
CANARY = "hostile-canary-8d1f0c"  # written to a local file an external entity would pull in
PARSE_BUDGET_SECONDS = 2.0  # a refused or unexpanded document is parsed in milliseconds
_B64 = re.compile(rb"\^Base64\^([A-Za-z0-9+/=]{100,})")

LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))


def _payloads(secret: Path) -> dict[str, bytes]:
    cda_tail = '<ClinicalDocument xmlns="urn:hl7-org:v3"><title>{ref}</title></ClinicalDocument>'
    return {
        "xxe-file": (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
                     + cda_tail.format(ref="&x;")).encode(),
        "xxe-parameter": (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "file://{secret}"> %p;]>'
                          + cda_tail.format(ref="x")).encode(),
        "billion-laughs": (f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "ha">{LAUGHS}]>'
                           + cda_tail.format(ref="&l9;")).encode(),
        "doctype-after-long-comment": (f'<?xml version="1.0"?><!--{"x" * 5000}-->'
                                       f'<!DOCTYPE d SYSTEM "file://{secret}">'
                                       + cda_tail.format(ref="x")).encode(),
        "utf16-billion-laughs": (f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY l0 "ha">{LAUGHS}]>'
                                 + cda_tail.format(ref="&l9;")).encode("utf-16"),
    }


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(CANARY, encoding="utf-8")
    return path


def _shape_b_with(cda: bytes) -> bytes:
    data = SHAPE_B.read_bytes()
    match = _B64.search(data)
    assert match, "b01_n3_new.hl7 no longer carries a Base64 CDA: update this test"
    return data[: match.start(1)] + base64.b64encode(cda) + data[match.end(1):]


def _no_expansion(root: etree._Element) -> None:
    text = etree.tostring(root)
    assert CANARY.encode() not in text and b"hahaha" not in text and len(text) < 20_000


@pytest.mark.parametrize("kind", ["xxe-file", "xxe-parameter", "billion-laughs", "doctype-after-long-comment",
                                  "utf16-billion-laughs"])
def test_embedded_cda_with_entity_tricks_is_refused(kind: str, secret: Path) -> None:
    data = _shape_b_with(_payloads(secret)[kind])
    start = time.monotonic()
    report = parse_message(split_messages(data, source="b.hl7")[0], source="b.hl7", settings=PARSE)[0]
    with pytest.raises(InputError) as caught:
        check_embedded(report, lab=LAB)
    assert time.monotonic() - start < PARSE_BUDGET_SECONDS
    assert caught.value.field == "OBX-5" and "document OBX" in (caught.value.segment or "")
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize("kind", ["xxe-file", "xxe-parameter", "billion-laughs", "doctype-after-long-comment",
                                  "utf16-billion-laughs"])
def test_safe_parser_refuses_or_never_expands(kind: str, secret: Path) -> None:
    start = time.monotonic()
    try:
        root = parse_xml(_payloads(secret)[kind], source="hostile.xml")
    except InputError as exc:
        assert CANARY not in str(exc)
    else:  # a DOCTYPE the cheap pre-check cannot see (after 4 kB, other encoding): the parser must not expand
        _no_expansion(root)
    assert time.monotonic() - start < PARSE_BUDGET_SECONDS


@pytest.mark.parametrize("kind", ["xxe-file", "xxe-parameter", "billion-laughs", "utf16-billion-laughs"])
def test_xsd_validator_never_expands(kind: str, secret: Path, cda_xsd: Path) -> None:
    start = time.monotonic()
    errors = XsdValidator(cda_xsd).errors(_payloads(secret)[kind])
    assert time.monotonic() - start < PARSE_BUDGET_SECONDS + 5  # schema compile included
    assert errors, "a hostile document must not validate"
    assert not any(CANARY in e or "hahaha" in e for e in errors)


def test_drop_folder_names_never_leave_its_folders(tmp_path: Path) -> None:
    """Symlinks out of drop/, a directory, dot-dot and backslash names: nothing read or written outside."""
    site, outside = tmp_path / "site", tmp_path / "outside"
    outside.mkdir()
    target = outside / "victim.hl7"
    target.write_bytes(b"not for the connector")
    folders = {n: site / n for n in ("drop", "archive", "quarantine")}
    for f in folders.values():
        f.mkdir(parents=True, mode=0o700)
    drop = folders["drop"]
    os.symlink(target, drop / "link.hl7")
    os.symlink("../../outside/victim.hl7", drop / "relative-link.hl7")
    (drop / "dir.hl7").mkdir()
    (drop / "..hidden.hl7").write_bytes(b"MSH|dot file: ignored")
    (drop / "x\\..\\..\\outside\\y.hl7").write_bytes(b"garbage, not HL7")  # backslashes are plain characters here
    (drop / "a..b.hl7").write_bytes(b"garbage too")
    before = sorted(p.name for p in outside.iterdir())

    class Sink:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def receive(self, data: bytes, *, source: str, dedup_key=None):  # type: ignore[no-untyped-def]
            from connector.intake import Receipt

            self.seen.append(source)
            return Receipt(1, errors=(InputError("an HL7 message starting with MSH", source=source),))

        def remember_ack(self, input_id: int, ack: bytes) -> None:  # pragma: no cover - MLLP only
            pass

    sink = Sink()
    folder = DropFolder(folder_settings(drop=drop, archive=folders["archive"], quarantine=folders["quarantine"],
                                       stable_seconds=0), sink)  # type: ignore[arg-type]
    folder.scan_once()
    assert sorted(sink.seen) == sorted(["x\\..\\..\\outside\\y.hl7", "a..b.hl7"])  # no link, dir or dot file
    assert sorted(p.name for p in outside.iterdir()) == before and target.read_bytes() == b"not for the connector"
    quarantined = sorted(p.name for p in folders["quarantine"].iterdir())
    assert "x\\..\\..\\outside\\y.hl7" in quarantined and "a..b.hl7" in quarantined
    assert all(p.parent == folders["quarantine"] for p in folders["quarantine"].iterdir())
    # Not followed, never opened: the link and the folder themselves are given a place (issue 13).
    assert (folders["quarantine"] / "link.hl7").is_symlink() and (folders["quarantine"] / "dir.hl7").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "site"]
    assert sorted(p.name for p in site.iterdir()) == ["archive", "drop", "quarantine"]


@pytest.mark.parametrize("family", ["../../etc/passwd", "..\\..\\windows", "/abs/path", ".."])
def test_attachment_name_from_a_hostile_patient_name_stays_one_plain_name(family: str) -> None:
    from connector.mapping import Mappings
    from connector.mapping.mapper import map_report
    from connector.model import DocumentIdentity
    from connector.pdf import pdf_filename

    data = (ROOT / "tests" / "data" / "oru" / "01_nfs.hl7").read_bytes()
    pid = next(s for s in data.split(b"\r") if s.startswith(b"PID|"))
    fields = pid.split(b"|")
    name = fields[5].split(b"^")
    name[0] = family.encode()
    fields[5] = b"^".join(name)
    data = data.replace(pid, b"|".join(fields))
    report = parse_message(split_messages(data, source="n.hl7")[0], source="n.hl7", settings=PARSE)[0]
    mappings = Mappings.load(ROOT / "mappings", loinc_dir=ROOT / "loinc")
    mapped = map_report(report, mappings, mapping_settings())
    ids = DocumentIdentity(document_id_root="1.2.3", document_id_extension="x", set_id_root="1.2.3",
                           set_id_extension="x", version=1, effective_time="20261119163000+0100")
    filename = pdf_filename(mapped, ids)
    assert "/" not in filename and "\\" not in filename and not filename.startswith(".")
    assert Path(filename).name == filename and filename.endswith(".pdf")
