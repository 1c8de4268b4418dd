"""Issue 12 classes 10 and 11: distinct ids for distinct inputs, ids XDS can carry, one OID per kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.config import parse_config
from connector.model import IdentityStatus
from connector.model.oids import (
    MAX_UNIQUE_ID_EXTENSION,
    IdKind,
    document_extension,
    oid_for,
    overlapping_arcs,
    unique_id_problem,
)
from connector.ops.offline import build_files, offline_identity
from connector.parse import parse_message, report_id_for
from tests.support.settings import PARSE

ROOT = "1.2.250.1.999.1"


def _message(control: str, value: str, when: str = "20260715101500") -> bytes:
    return (f"MSH|^~\\&|SIL|LABO|C|D|{when}||ORU^R01|{control}|P|2.5\r"
            "PID|1||IPP1^^^LABO^PI||ZQNOM^A||19800101|F\r"
            f"OBR|1|C1|D1|NFS^NFS^L\rOBX|1|NM|HB^Hb^L||{value}|g/dL|||||F\r").encode()


def test_every_kind_has_its_own_arc() -> None:
    oids = [oid_for(ROOT, kind) for kind in IdKind]
    assert len(set(oids)) == len(oids)
    assert oid_for(ROOT, IdKind.LOCAL_CODE) != oid_for(ROOT, IdKind.DOCUMENT)  # they shared .1
    assert f"{ROOT}.4" not in oids  # the example configurations' IPP authority


@pytest.mark.parametrize(("ipp", "clash"), [(f"{ROOT}.4", []), (f"{ROOT}.5", ["practitioner"]),
                                            (f"{ROOT}.1", ["document"]), (ROOT, ["the lab's root OID"])])
def test_ipp_authority_must_not_share_an_arc(ipp: str, clash: list[str]) -> None:
    assert overlapping_arcs(ROOT, ipp) == clash


@given(st.text(min_size=1, max_size=40))
def test_document_extensions_fit_xds(report_id: str) -> None:
    ext = document_extension(report_id)
    assert len(ext) <= MAX_UNIQUE_ID_EXTENSION
    assert unique_id_problem(oid_for(ROOT, IdKind.DOCUMENT), ext) is None


def test_the_store_ids_of_today_fit_xds() -> None:
    report_id = report_id_for(parse_message(_message("M1", "13"), settings=PARSE)[0].header, 0)
    assert len(report_id) == 18  # "r-" + 16: one too many for XDS (the 18-character extension)
    assert unique_id_problem(ROOT + ".1", report_id) is not None
    assert document_extension(report_id) == report_id[2:]


@given(first=st.integers(1, 99), second=st.integers(1, 99))
def test_reused_msh10_never_shares_an_id_offline(first: int, second: int) -> None:
    a, b = _message("M1", str(first)), _message("M1", str(second))
    (ra,), (rb,) = parse_message(a, settings=PARSE), parse_message(b, settings=PARSE)
    assert ra.report_id == rb.report_id  # the SIL reused MSH-10
    ia = offline_identity(ra, message=a, oid_root=ROOT, zone="Europe/Paris")
    ib = offline_identity(rb, message=b, oid_root=ROOT, zone="Europe/Paris")
    if first == second:
        assert ia == ib  # the same bytes: the same files, built twice
    else:
        assert ia.document_id_extension != ib.document_id_extension
        assert ia.set_id_extension != ib.set_id_extension
    assert len(ia.document_id_extension) <= MAX_UNIQUE_ID_EXTENSION


@pytest.mark.parametrize(("msh7", "effective"), [
    ("20260715101500", "20260715101500+0200"), ("20260115101500", "20260115101500+0100"),
    ("20260715101500+0000", "20260715101500+0000"), ("202607151015", "20260715101500+0200"),
])
def test_offline_document_time_is_msh7_in_its_zone(msh7: str, effective: str) -> None:
    data = _message("M1", "13", msh7)
    (report,) = parse_message(data, settings=PARSE)
    assert report.patient.identity_status is IdentityStatus.UNKNOWN
    assert offline_identity(report, message=data, oid_root=ROOT, zone="Europe/Paris").effective_time == effective


def test_offline_build_keeps_both_inputs_that_reuse_an_msh10(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[1] / "data" / "oru" / "34_sil_habits_lf_latin1.hl7"
    other = tmp_path / "other.hl7"
    other.write_bytes(corpus.read_bytes().replace(b"|139|", b"|141|"))  # same MSH-10, another value
    config = parse_config("mode: test\n", source="c.yaml", base_dir=Path(__file__).resolve().parents[2])
    results = build_files([corpus, corpus, other], tmp_path / "out", config)
    assert results.failures == []
    folders = sorted({folder.name for _, folder in results.built})
    assert len(folders) == 2  # the same bytes twice: one folder; another message under the same MSH-10: its own
    docs = {(tmp_path / "out" / name / "cda.xml").read_bytes() for name in folders}
    assert len(docs) == 2
