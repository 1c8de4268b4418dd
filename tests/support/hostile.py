"""Hostile inputs for the issue-13 tests, built from the committed samples (synthetic patients only).

Each builder takes a sample that the connector accepts and changes one thing, so a test that sees
it refused knows the one change is the reason: an embedded CDA with a DOCTYPE (UTF-16, after a long
comment, an external entity), a name that is not UTF-8 under MSH-18 "UNICODE UTF-8", a comment
of one unbroken word.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHAPE_B = ROOT / "tests" / "data" / "embedded" / "b01_n3_new.hl7"
NFS = ROOT / "tests" / "data" / "oru" / "01_nfs.hl7"
E2E = ROOT / "tests" / "data" / "e2e" / "three_recipients.hl7"
_B64 = re.compile(rb"\^Base64\^([A-Za-z0-9+/=]{100,})")
_XML_DECL = re.compile(r"^<\?xml[^>]*\?>\s*")
# cp1252 reads these bytes as "DUPŸÞÃONT"; they are not UTF-8 (0x9F cannot start a sequence).
NOT_UTF8_FAMILY = b"DUP\x9f\xde\xc3ONT"

DOCTYPE_KINDS = ("utf16-entity", "utf16-external", "comment-then-doctype", "utf8-internal-subset")


def sample_cda() -> bytes:
    """The SIL's CDA N3 embedded in b01 (valid: XSD, patient ids, PDF copy)."""
    match = _B64.search(SHAPE_B.read_bytes())
    assert match, "b01_n3_new.hl7 no longer carries a Base64 CDA: update tests/support/hostile.py"
    return base64.b64decode(match.group(1))


def cda_with_doctype(kind: str, *, target: str = "file:///etc/hostname") -> bytes:
    """The sample CDA with a DOCTYPE the byte scan of the first 4 kB in UTF-8 cannot see."""
    body = _XML_DECL.sub("", sample_cda().decode("utf-8"), count=1)
    if kind == "utf16-entity":  # an internal entity, referenced in the title
        doc = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE ClinicalDocument [<!ENTITY e "x">]>' + body
        return doc.replace("<title>", "<title>&e;", 1).encode("utf-16")
    if kind == "utf16-external":  # an external entity a recipient's parser may resolve
        doc = (f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE ClinicalDocument '
               f'[<!ENTITY x SYSTEM "{target}">]>' + body)
        return doc.replace("<title>", "<title>&x;", 1).encode("utf-16")
    if kind == "comment-then-doctype":  # the DOCTYPE after a 5 kB comment, no entity used
        doc = f'<?xml version="1.0" encoding="UTF-8"?><!--{"x" * 5000}--><!DOCTYPE ClinicalDocument SYSTEM "{target}">'
        return (doc + body).encode("utf-8")
    if kind == "utf8-internal-subset":  # the plain case the old byte scan did see
        return ('<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE ClinicalDocument [<!ENTITY e "x">]>'
                + body).encode("utf-8")
    raise ValueError(f"unknown DOCTYPE kind {kind!r} (one of {DOCTYPE_KINDS})")


def shape_b_with(cda: bytes, *, control_id: str | None = None) -> bytes:
    """b01 (a shape-B ORU) carrying ``cda`` instead of its own CDA; MSH-10 changed when given."""
    data = SHAPE_B.read_bytes()
    match = _B64.search(data)
    assert match, "b01_n3_new.hl7 no longer carries a Base64 CDA: update tests/support/hostile.py"
    data = data[: match.start(1)] + base64.b64encode(cda) + data[match.end(1):]
    if control_id is not None:
        data = data.replace(b"|EMB01|", f"|{control_id}|".encode(), 1)
    return data


def nfs_with_family_name(family: bytes, *, control_id: str | None = None) -> bytes:
    """01_nfs.hl7 (MSH-18 UNICODE UTF-8) with PID-5.1 replaced by ``family`` (raw bytes)."""
    data = NFS.read_bytes().replace(b"TESTPATIENT^ALICE", family + b"^ALICE", 1)
    if control_id is not None:
        data = data.replace(b"|MSG0001|", f"|{control_id}|".encode(), 1)
    return data


def e2e_oru(control_id: str, *, index: int = 0) -> bytes:
    """The end-to-end ORU (prescriber and copy-to in tests/data/e2e/directory.txt) with its own MSH-10."""
    text = E2E.read_text(encoding="utf-8").replace("E2E0001", control_id)
    return text.replace("IPPE2E01", f"IPPH{index:05d}").encode("utf-8")


def with_comment(message: bytes, comment: str) -> bytes:
    """``message`` with one more NTE (a report comment) after its first OBR."""
    segments = message.replace(b"\r\n", b"\r").replace(b"\n", b"\r").rstrip(b"\r").split(b"\r")
    at = next(i for i, s in enumerate(segments) if s.startswith(b"OBR|")) + 1
    segments.insert(at, b"NTE|1|L|" + comment.encode("utf-8"))
    return b"\r".join(segments) + b"\r"
