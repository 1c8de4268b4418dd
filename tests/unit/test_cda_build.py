"""build_document: structure and content of the CR-BIO document (XSD-checked; schematrons in integration)."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from lxml import etree

from connector.cda import XsdValidator, build_document
from connector.cda.timestamps import to_ts
from connector.errors import CdaBuildError
from connector.model import Address, MappedReport, PersonName
from tests.support.samples import (
    TEST_INS,
    sample_ids,
    sample_lab,
    sample_mapped_report,
    tiny_pdf,
)

NS = {
    "h": "urn:hl7-org:v3",
    "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def build(mapped: MappedReport | None = None, **kw) -> bytes:
    return build_document(
        mapped or sample_mapped_report(),
        lab=kw.pop("lab", sample_lab()),
        ids=kw.pop("ids", sample_ids()),
        pdf=kw.pop("pdf", tiny_pdf()),
    )


def tree(doc: bytes) -> etree._Element:
    return etree.fromstring(doc)


def xp(root: etree._Element, path: str) -> list:
    return root.xpath(path, namespaces=NS)


def test_full_report_is_xsd_valid(cda_validator: XsdValidator) -> None:
    doc = build()
    assert doc.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert cda_validator.errors(doc) == []


def test_header_fixed_parts() -> None:
    root = tree(build())
    assert xp(root, "string(h:realmCode/@code)") == "FR"
    assert xp(root, "h:templateId/@root") == [
        "2.16.840.1.113883.2.8.2.1",
        "1.2.250.1.213.1.1.1.1",
        "1.3.6.1.4.1.19376.1.3.3",
        "1.2.250.1.213.1.1.1.55",
    ]
    assert xp(root, "string(h:code/@code)") == "11502-2"
    assert xp(root, "string(h:title)") == "Compte rendu d'examens biologiques"
    assert xp(root, "string(h:effectiveTime/@value)") == "20240104160527+0100"
    assert xp(root, "string(h:setId/@extension)") == "SET1"
    assert xp(root, "string(h:versionNumber/@value)") == "1"
    assert xp(root, "h:relatedDocument") == []
    assert (
        xp(root, "string(h:componentOf//h:healthCareFacility/h:code/@code)") == "SA25"
    )
    assert xp(root, "string(h:custodian//h:id/@extension)") == "1920000000"
    assert (
        xp(root, "string(h:legalAuthenticator/h:assignedEntity/h:id/@extension)")
        == "810003461033"
    )
    assert xp(root, "string(h:author/h:assignedAuthor/h:code/@code)") == "G15_10/SM03"
    assert (
        xp(root, "string(h:participant[@typeCode='REF']/h:time/h:high/@value)")
        == "20240103"
    )
    assert (
        xp(root, "string(h:inFulfillmentOf/h:order/h:id/@root)") == "1.2.250.1.999.1.2"
    )


def test_replacement_has_rplc() -> None:
    root = tree(build(ids=sample_ids(2, ("1.2.250.1.999.1.1", "DOC1"))))
    assert xp(root, "string(h:relatedDocument/@typeCode)") == "RPLC"
    assert (
        xp(root, "string(h:relatedDocument/h:parentDocument/h:id/@extension)") == "DOC1"
    )
    assert xp(root, "string(h:versionNumber/@value)") == "2"


def test_qualified_ins_with_traits() -> None:
    root = tree(build())
    patient = "h:recordTarget/h:patientRole"
    assert xp(root, f"{patient}/h:id/@extension") == [TEST_INS, "IPP0001"]
    assert xp(root, f"string({patient}/h:id[2]/@root)") == "1.2.250.1.999.1.3"
    name = f"{patient}/h:patient/h:name"
    assert xp(root, f"string({name}/h:family[@qualifier='BR'])") == "PAT-TEST"
    assert xp(root, f"string({name}/h:given[@qualifier='BR'])") == "CAMILLE"
    assert xp(root, f"string({name}/h:given[not(@qualifier)])") == "CAMILLE MARIE"
    assert xp(root, f"string({patient}/h:patient/h:birthplace//h:county)") == "51215"
    assert xp(root, f"string({patient}/h:patient/h:birthTime/@value)") == "19790328"


def test_unqualified_identity_sends_no_ins_anywhere() -> None:
    doc = build(sample_mapped_report(qualified=False))
    assert TEST_INS.encode() not in doc
    root = tree(doc)
    assert xp(root, "h:recordTarget/h:patientRole/h:id/@extension") == ["IPP0001"]
    assert xp(root, "//h:birthplace") == []
    assert xp(root, "//h:given[@qualifier]") == []


def test_qualified_ins_without_birthplace_is_refused_without_patient_data() -> None:
    mapped = sample_mapped_report()
    patient = dataclasses.replace(
        mapped.report.patient, addresses=(Address(city="PARIS", address_type="H"),)
    )
    mapped = dataclasses.replace(
        mapped, report=dataclasses.replace(mapped.report, patient=patient)
    )
    with pytest.raises(CdaBuildError) as err:
        build(mapped)
    assert "rpt-0001" in str(err.value) and "XAD-9" in str(err.value)
    for secret in (TEST_INS, "PAT-TEST", "CAMILLE", "1979"):
        assert secret not in str(err.value)


def test_chapters_and_service_events() -> None:
    root = tree(build())
    assert xp(root, "h:documentationOf/h:serviceEvent/h:code/@code") == [
        "18723-7",
        "18719-5",
        "18727-8",
        "18725-2",
    ]
    assert (
        xp(root, "h:documentationOf/h:serviceEvent/lab:statusCode/@code")
        == ["completed"] * 4
    )
    sections = xp(
        root, "h:component/h:structuredBody/h:component/h:section/h:code/@code"
    )
    assert sections == [
        "18723-7",
        "18719-5",
        "18727-8",
        "18725-2",
        "55112-7",
        "55108-5",
    ]
    # Hématologie has a mapped sub-chapter: sub-sections only, no text/entry at level 1.
    hema = xp(root, "//h:section[h:code/@code='18723-7']")[0]
    assert xp(hema, "h:text") == [] and xp(hema, "h:entry") == []
    assert xp(hema, "h:component/h:section/h:code/@code") == ["26436-6", "18723-7"]


def test_preliminary_result_makes_chapter_active() -> None:
    root = tree(build(sample_mapped_report(preliminary=True)))
    statuses = xp(root, "h:documentationOf/h:serviceEvent/lab:statusCode/@code")
    assert statuses == ["active", "completed", "completed", "completed"]


def test_every_observation_code_references_one_content_exactly_once() -> None:
    root = tree(build())
    ids = set(xp(root, "//h:content/@ID"))
    refs = [
        r.lstrip("#")
        for r in xp(root, "//h:observation/h:code/h:originalText/h:reference/@value")
    ]
    assert refs and all(r in ids for r in refs)
    main = [
        r.lstrip("#")
        for r in xp(
            root,
            "//h:entryRelationship[@typeCode!='REFR']/h:observation/h:code/"
            "h:originalText/h:reference/@value | //h:component/h:observation/"
            "h:code/h:originalText/h:reference/@value",
        )
    ]
    assert len(main) == len(set(main))
    for obs in xp(
        root, "//h:observation[h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.6']"
    ):
        assert len(xp(obs, "h:code/h:originalText/h:reference")) == 1


def test_values_keep_precision_and_shapes() -> None:
    root = tree(build())
    hb = xp(root, "//h:observation[h:code/@code='718-7']")[0]
    assert xp(hb, "h:value/@*") == ["PQ", "13.5", "g/dL"]
    assert xp(hb, "h:referenceRange//h:low/@value") == ["12.0"]
    crp = xp(root, "//h:observation[h:code/h:translation/@code='CRP']")[
        0
    ]  # non-LOINC: originalText + translation
    assert xp(crp, "h:code/@code") == []
    assert xp(crp, "string(h:code/h:translation/@codeSystem)") == "1.2.250.1.999.1.1"
    assert xp(crp, "string(h:value/@xsi:type)") == "IVL_PQ"
    assert xp(crp, "h:value/h:high/@*") == ["1.0", "mg/L", "false"]
    ratio = xp(root, "//h:observation[h:code/@code='8039-0']/h:value")[0]
    assert ratio.get(f"{{{NS['xsi']}}}type") == "RTO"
    assert xp(ratio, "h:numerator/@value") == ["1"] and xp(
        ratio, "h:denominator/@value"
    ) == ["128"]
    rng = xp(root, "//h:observation[h:code/@code='8040-8']/h:value")[0]
    assert xp(rng, "h:low/@value") == ["10"] and xp(rng, "h:high/@value") == ["20"]
    k = xp(root, "//h:observation[h:code/@code='2823-3']")[0]
    assert xp(k, "h:interpretationCode/@code") == ["H"]


def test_microbiology_isolate_with_antibiogram() -> None:
    root = tree(build())
    cluster = xp(
        root,
        "//h:organizer[@classCode='CLUSTER'][h:templateId/@root='1.3.6.1.4.1.19376.1.3.1.5']",
    )
    assert len(cluster) == 1
    assert xp(cluster[0], "h:specimen//h:specimenPlayingEntity/@classCode") == ["MIC"]
    battery = xp(cluster[0], "h:component/h:organizer[@classCode='BATTERY']")[0]
    assert xp(battery, "string(h:code/@code)") == "18769-0"
    assert xp(battery, "h:component/h:observation/h:interpretationCode/@code") == [
        "R",
        "S",
    ]


def test_comments_and_anteriorites() -> None:
    root = tree(build())
    hb = xp(root, "//h:observation[h:code/@code='718-7']")[0]
    comment = xp(hb, "h:entryRelationship[@typeCode='SUBJ']/h:act")[0]
    assert xp(comment, "string(h:code/@code)") == "48767-8"
    ref = xp(comment, "string(h:text/h:reference/@value)").lstrip("#")
    assert (
        xp(root, f"count(//h:content[@ID='{ref}']/h:br)") == 1
    )  # multi-line NTE keeps its break
    prev = xp(hb, "h:entryRelationship[@typeCode='REFR']/h:observation")[0]
    assert xp(prev, "h:value/@value") == ["12.9"] and xp(
        prev, "h:effectiveTime/@value"
    ) == ["20231104"]
    assert (
        xp(root, "string(//h:section[h:code/@code='55112-7']/h:text/h:paragraph[1])")
        == "Compte rendu de test"
    )


def test_pdf_copy_section_holds_the_pdf() -> None:
    root = tree(build())
    media = xp(root, "//h:section[h:code/@code='55108-5']//h:observationMedia/h:value")[
        0
    ]
    assert base64.b64decode(media.text) == tiny_pdf()


def test_build_is_deterministic() -> None:
    assert build() == build()


def test_level1_without_results(cda_validator: XsdValidator) -> None:
    mapped = dataclasses.replace(sample_mapped_report(), results=())
    doc = build(mapped)
    root = tree(doc)
    assert xp(root, "h:templateId/@root")[-1] == "1.3.6.1.4.1.19376.1.2.20"
    assert (
        base64.b64decode(xp(root, "string(h:component/h:nonXMLBody/h:text)"))
        == tiny_pdf()
    )
    assert cda_validator.errors(doc) == []


def test_not_a_pdf_is_refused() -> None:
    with pytest.raises(CdaBuildError, match="PDF"):
        build(pdf=b"<html>")


def test_no_biologist_anywhere_is_refused() -> None:
    mapped = sample_mapped_report()
    orders = tuple(
        dataclasses.replace(
            o,
            principal_interpreter=None,
            results=tuple(
                dataclasses.replace(r, responsible_observer=None) for r in o.results
            ),
        )
        for o in mapped.report.orders
    )
    mapped = dataclasses.replace(
        mapped, report=dataclasses.replace(mapped.report, orders=orders)
    )
    lab = dataclasses.replace(sample_lab(), default_biologist_rpps="")
    with pytest.raises(CdaBuildError, match="biologist"):
        build(mapped, lab=lab)
    # with the lab default the document is built under the default biologist
    root = tree(build(mapped))
    assert xp(root, "string(h:legalAuthenticator//h:id/@extension)") == "810003461033"


@pytest.mark.parametrize(
    ("dtm", "expected"),
    [
        ("20240104", "20240104"),
        ("202401040735", "202401040735+0100"),
        ("20240104073512.25", "20240104073512.25+0100"),
        ("20240104073512-0500", "20240104073512-0500"),
        ("2024", "2024"),
    ],
)
def test_timestamps_keep_precision_and_get_a_zone(dtm: str, expected: str) -> None:
    assert to_ts(dtm, "+0100") == expected


def test_bad_timestamp_names_field_not_value() -> None:
    with pytest.raises(CdaBuildError) as err:
        to_ts("2024-01-04", "+0100", what="report r1 OBX-14")
    assert "OBX-14" in str(err.value) and "2024-01-04" not in str(err.value)


def test_xsd_errors_have_lines_and_no_values(cda_validator: XsdValidator) -> None:
    doc = build().replace(b'value="13.5"', b'value="13,5-SECRET"', 1)
    errors = cda_validator.errors(doc)
    assert errors and errors[0].startswith("line ")
    assert not any("SECRET" in e for e in errors)
    assert cda_validator.errors(b"<not-xml") and cda_validator.errors(b"<not-xml")[0].startswith("line ")


def test_person_name_filters_titles() -> None:
    from connector.cda.elements import element, person_name

    el = person_name(element("x"), PersonName(family="DOE", given=("Jo",), prefix="Dr", degree="MD"))
    assert [c.tag.split("}")[1] for c in el] == ["given", "family", "suffix"]
    assert el[2].text == "DR"


def _replace_result(mapped: MappedReport, index: int, **changes) -> MappedReport:
    results = list(mapped.results)
    results[index] = dataclasses.replace(results[index], **changes)
    return dataclasses.replace(mapped, results=tuple(results))


def test_aborted_result_without_value(cda_validator: XsdValidator) -> None:
    mapped = _replace_result(
        sample_mapped_report(), 0, value=None, status="aborted", reference_range=None
    )
    doc = build(mapped)
    hb = xp(tree(doc), "//h:observation[h:code/@code='718-7']")[0]
    assert xp(hb, "h:statusCode/@code") == ["aborted"] and xp(hb, "h:value") == []
    assert cda_validator.errors(doc) == []


def test_control_characters_in_text_are_replaced_not_fatal(cda_validator: XsdValidator) -> None:
    from connector.model import Text

    mapped = _replace_result(sample_mapped_report(), 9, value=Text("Clair\x0bici"))
    doc = build(mapped)
    assert "Clair\ufffdici" in doc.decode("utf-8")
    assert cda_validator.errors(doc) == []


def test_annotation_unit_is_written_as_unity() -> None:
    mapped = _replace_result(sample_mapped_report(), 2, unit="{INR}")
    na = xp(tree(build(mapped)), "//h:observation[h:code/@code='2951-2']")[0]
    assert xp(na, "h:value/@unit") == [] and xp(na, "h:value/@value") == ["140"]
    assert xp(na, "h:referenceRange//h:low/@unit") == []
