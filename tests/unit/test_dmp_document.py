"""DMP document rules: root-only OIDs, qualified INS, masking flags, and the TD2.1 metadata's shape
compared with the DMP's official example request."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connector.dmp import DmpAction, DmpDocument, plain_oid, plain_oid_identity, refuse_in_indirect_mode
from connector.dmp.document import is_plain_oid
from connector.dmp.metadata import build_submission
from connector.dmp.requests import read_cda_header
from connector.errors import DmpRefused
from connector.model import DocumentIdentity
from tests.dmp.support import document, report_from

OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
ROOTS = st.sampled_from(["1.2.250.1.999.1.1", "1.2.250.1.213.1.1.9.1234.1", "2.25"])
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"


@given(root=ROOTS, extension=st.text(max_size=40))
def test_plain_oid_is_a_short_root_only_oid_and_stable(root: str, extension: str) -> None:
    oid = plain_oid(root, extension)
    assert OID.match(oid) and len(oid) <= 64 and oid.startswith(root)
    assert plain_oid(root, extension) == oid


@given(root=ROOTS, a=st.text(min_size=1, max_size=20), b=st.text(min_size=1, max_size=20))
def test_plain_oid_keeps_distinct_documents_distinct(root: str, a: str, b: str) -> None:
    if a != b:
        assert plain_oid(root, a) != plain_oid(root, b)


def test_plain_oid_identity_converts_the_replaced_version_too() -> None:
    ids = DocumentIdentity(document_id_root="1.2.3.1", document_id_extension="r-ff", set_id_root="1.2.3.3",
                           set_id_extension="r-ff", version=2, replaces=("1.2.3.1", "r-0a"))
    plain = plain_oid_identity(ids)
    assert (plain.document_id_root, plain.document_id_extension) == ("1.2.3.1.255", "")
    assert plain.replaces == ("1.2.3.1.10", "")
    assert (plain.set_id_root, plain.set_id_extension) == ("1.2.3.3", "r-ff")  # the setId is not an XDS id


def test_the_dmp_refuses_an_oid_with_an_extension_and_an_unqualified_ins() -> None:
    doc = document()
    with pytest.raises(DmpRefused) as err:
        _ = dataclasses.replace(doc, ids=dataclasses.replace(doc.ids, document_id_extension="X1")).unique_id
    assert err.value.code == "PFI_ID_DOCUMENT_NON_OID"
    unqualified = document(report_from("14_ins_validated_not_qualified.hl7"))
    with pytest.raises(DmpRefused) as err:
        unqualified.ins_cx()
    ins = unqualified.report.patient.ins
    assert ins is not None and err.value.code == "PFI_INS_NON_QUALIFIE" and ins.value not in str(err.value)
    assert not is_plain_oid("1." + "1" * 70)


@pytest.mark.parametrize("action", [DmpAction.ARCHIVE, DmpAction.CHANGE_MASKING])
def test_what_indirect_authentication_forbids_is_refused_with_a_reason(action: DmpAction) -> None:
    with pytest.raises(DmpRefused) as err:
        refuse_in_indirect_mode(action, report_id="r-1")
    assert err.value.code == "PFI_INTERDIT_AUTH_INDIRECTE" and "indirect authentication" in str(err.value)
    refuse_in_indirect_mode(DmpAction.DELETE, report_id="r-1")  # allowed: no exception


def test_author_institution_must_be_the_vihf_structure() -> None:
    doc = document()
    with pytest.raises(DmpRefused) as err:
        build_submission(doc, header=read_cda_header(doc), structure_id="1000000001", source_oid="1.2.3",
                         submitted=datetime(2026, 1, 1, tzinfo=UTC))
    assert err.value.code == "PFI_STRUCTURE_AUTEUR"


def _shape(root: etree._Element) -> dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]]:
    """Per object kind (set / document / signature): slot names, classification schemes, id schemes."""
    objects = root.find(f".//{{{RIM}}}RegistryObjectList")
    assert objects is not None
    out = {}
    for node in objects:
        tag = etree.QName(node).localname
        if tag not in ("RegistryPackage", "ExtrinsicObject"):
            continue
        kind = "set" if tag == "RegistryPackage" else (
            "signature" if node.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString[@value='Source']") is not None
            else "document")
        out[kind] = (frozenset(s.get("name", "") for s in node.iterfind(f"{{{RIM}}}Slot")),
                     frozenset(c.get("classificationScheme", "") for c in node.iterfind(f"{{{RIM}}}Classification")),
                     frozenset(e.get("identificationScheme", "") for e in
                               node.iterfind(f"{{{RIM}}}ExternalIdentifier")))
    return out


def test_metadata_has_the_shape_of_the_dmp_example(shared_ref: Path) -> None:
    path = shared_ref / "dmp" / "examples" / "TD2.1_alimentation_request.mime"
    if not path.is_file():
        pytest.skip(f"the DMP examples are absent ({path})")
    text = path.read_bytes()
    start = text.index(b"<ns3:SubmitObjectsRequest")
    end = text.index(b"</ns3:SubmitObjectsRequest>") + len(b"</ns3:SubmitObjectsRequest>")
    wrapper = (b'<w xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
               b'xmlns:ns3="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0">' + text[start:end] + b"</w>")
    theirs = _shape(etree.fromstring(wrapper))
    doc = document()
    ours = _shape(build_submission(doc, header=read_cda_header(doc), structure_id="1999999999",
                                   source_oid="1.2.250.1.999.1", submitted=datetime(2026, 1, 1, tzinfo=UTC)))
    assert set(ours) == set(theirs) == {"set", "document", "signature"}
    for kind in ours:
        assert ours[kind] == theirs[kind], kind


@given(flags=st.fixed_dictionaries({}, optional={
    "MASQUE_PS": st.booleans(), "INVISIBLE_PATIENT": st.booleans(), "INVISIBLE_REP_LEGAUX": st.booleans(),
    "DESTDMP": st.booleans(), "CONNEXION_SECRETE": st.booleans()}))
def test_confidentiality_is_the_cda_code_plus_one_code_per_masking_flag_set(flags: dict[str, bool]) -> None:
    doc = _doc_with(flags)
    root = build_submission(doc, header=_HEADER, structure_id="1999999999", source_oid="1.2.3",
                            submitted=datetime(2026, 1, 1, tzinfo=UTC))
    entry = root.find(f".//{{{RIM}}}ExtrinsicObject[@id='Document01']")
    assert entry is not None
    codes = [c.get("nodeRepresentation") for c in entry.iterfind(
        f"{{{RIM}}}Classification[@classificationScheme='urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f']")]
    expected = ["N"] + [dmp for flag, dmp in (("MASQUE_PS", "MASQUE_PS"), ("INVISIBLE_PATIENT", "INVISIBLE_PATIENT"),
                                              ("INVISIBLE_REP_LEGAUX", "INVISIBLE_REPRESENTANTS_LEGAUX"))
                        if flags.get(flag)]
    assert codes == expected


_BASE = document()
_HEADER = read_cda_header(_BASE)


def _doc_with(flags: dict[str, bool]) -> DmpDocument:
    from connector.model import DocumentFlags

    report = dataclasses.replace(_BASE.report, flags=DocumentFlags(values=tuple(flags.items())))
    return dataclasses.replace(_BASE, report=report)
