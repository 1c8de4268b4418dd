"""Header and observation completeness: methodCode (OBX-17), prescriber as recipient,
a performer on every service event with the chapter's own times, validator times."""

from __future__ import annotations

import csv
import dataclasses

import pytest
from lxml import etree

from connector.cda import build_document
from connector.cda.methods import ANSM_SYSTEM, TECHNIQUES, ansm_method
from connector.model import Coded, Identifier, MappedReport, Practitioner
from tests.support.refkit import ref_file
from tests.support.samples import sample_ids, sample_lab, sample_mapped_report, tiny_pdf

NS = {"h": "urn:hl7-org:v3", "lab": "urn:oid:1.3.6.1.4.1.19376.1.3.2"}
TECHNIQUE_CSV = ("terminology", "cisis_jdv", "JDV_TechniqueBiologie_CISIS.csv")  # in the shared reference folder
VALIDATOR = "810003461041"  # the sample's ionogram validator (OBX-16)


def build(mapped: MappedReport | None = None) -> etree._Element:
    doc = build_document(mapped or sample_mapped_report(), lab=sample_lab(), ids=sample_ids(), pdf=tiny_pdf())
    return etree.fromstring(doc)


def xp(root: etree._Element, path: str):
    return root.xpath(path, namespaces=NS)


def with_results(mapped: MappedReport, **changes) -> MappedReport:
    """The sample with ``changes`` applied to every OBX (orders and mapped results kept in step)."""
    new = {id(m.result): dataclasses.replace(m.result, **changes) for m in mapped.results}
    orders = tuple(
        dataclasses.replace(o, results=tuple(new.get(id(r), r) for r in o.results)) for o in mapped.report.orders
    )
    results = tuple(dataclasses.replace(m, result=new[id(m.result)]) for m in mapped.results)
    return dataclasses.replace(mapped, report=dataclasses.replace(mapped.report, orders=orders), results=results)


# ---------------------------------------------------------------------------- methodCode


def test_techniques_match_the_ans_value_set() -> None:
    with ref_file(*TECHNIQUE_CSV).open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["code_system_oid"] for r in rows} == {ANSM_SYSTEM}
    assert {r["code"]: r["display_fr"] for r in rows} == TECHNIQUES


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (Coded("9EI", "x", ANSM_SYSTEM), "9EI"),
        (Coded("dEg", "", "ANSM"), "DEG"),
        (Coded("POT", "local", "L", "9EI", "", ANSM_SYSTEM), "9EI"),  # the alternate triplet
        (Coded("9EI", "Potentiométrie", "L"), None),  # an ANSM-looking code in a local table
        (Coded("ZZZ", "", ANSM_SYSTEM), None),  # not in the value set
        (None, None),
    ],
)
def test_ansm_method(method: Coded | None, expected: str | None) -> None:
    found = ansm_method(method)
    assert (found[0] if found else None) == expected
    if found:
        assert found[1] == TECHNIQUES[expected]  # type: ignore[index]


def test_method_code_only_for_ansm_codes() -> None:
    root = build()
    methods = xp(root, "//h:observation/h:methodCode")
    assert len(methods) == 1  # sodium (ANSM 9EI); potassium's local technique is left out
    method = methods[0]
    assert (method.get("code"), method.get("codeSystem")) == ("9EI", ANSM_SYSTEM)
    assert method.get("displayName") == "Potentiométrie indirecte"
    obs = method.getparent()
    assert xp(obs, "string(h:code/@code)") == "2951-2"
    # CDA order: after interpretationCode, before the comment / antériorité relationships
    names = [etree.QName(e).localname for e in obs]
    assert names.index("methodCode") == names.index("interpretationCode") + 1


# ---------------------------------------------------------------------------- recipients


def test_prescriber_with_rpps_is_the_information_recipient() -> None:
    root = build()
    recipient = xp(root, "h:informationRecipient/h:intendedRecipient")
    assert len(recipient) == 1
    assert xp(recipient[0], "h:templateId/@root") == ["1.3.6.1.4.1.19376.1.3.3.1.4"]
    assert xp(recipient[0], "string(h:id/@extension)") == "810002422979"
    assert xp(recipient[0], "string(h:informationRecipient/h:name/h:family)") == "PRESCRIPTEUR"
    assert xp(recipient[0], "h:telecom | h:addr") == []  # not known at this stage: not invented


def test_prescriber_without_national_id_is_no_recipient() -> None:
    mapped = sample_mapped_report()
    local = Practitioner(identifier=Identifier("P42", type_code="L"), name=mapped.report.prescriber.name)  # type: ignore[union-attr]
    orders = tuple(dataclasses.replace(o, prescriber=local if o.prescriber else None) for o in mapped.report.orders)
    root = build(dataclasses.replace(mapped, report=dataclasses.replace(mapped.report, orders=orders)))
    assert xp(root, "h:informationRecipient") == []
    assert xp(root, "string(h:participant[@typeCode='REF']//h:id/@extension)") == "P42"


def test_the_collector_of_obr_10_is_the_sampler_participant() -> None:
    (part,) = xp(build(), "h:participant[@typeCode='PRF']")
    assert xp(part, "string(h:functionCode/@code)") == "PRELV"
    assert xp(part, "string(h:functionCode/@codeSystem)") == "1.2.250.1.213.1.1.4.2.280"
    assert xp(part, "string(h:time/h:high/@value)") == "202401040735+0100"  # the collection time, OBR-7
    assert xp(part, "string(h:associatedEntity/@classCode)") == "PROV"
    assert xp(part, "string(h:associatedEntity/h:id/@extension)") == "810003456789"  # 8 + RPPS
    assert xp(part, "string(h:associatedEntity/h:associatedPerson/h:name/h:family)") == "INFIRMIERE"


def test_no_sampler_participant_without_a_collector() -> None:
    mapped = sample_mapped_report()
    orders = tuple(dataclasses.replace(o, collector=None) for o in mapped.report.orders)
    mapped = dataclasses.replace(mapped, report=dataclasses.replace(mapped.report, orders=orders))
    assert xp(build(mapped), "h:participant[@typeCode='PRF']") == []


# ---------------------------------------------------------------------------- service events


def test_every_service_event_has_its_performer_and_times() -> None:
    root = build()
    events = xp(root, "h:documentationOf/h:serviceEvent")
    assert [xp(e, "string(h:code/@code)") for e in events] == ["18723-7", "18719-5", "18727-8", "18725-2"]
    for event in events:
        performer = xp(event, "h:performer[@typeCode='PRF']")
        assert len(performer) == 1
        assert xp(performer[0], "string(h:assignedEntity/h:id/@extension)") == "810003461033"
        high = xp(event, "string(h:effectiveTime/h:high/@value)")
        assert xp(performer[0], "string(h:time/h:high/@value)") == high
    # Sérologie's order carries no time: its bounds come from the whole report, not the document time.
    assert xp(events[2], "string(h:effectiveTime/h:low/@value)") == "202401040735+0100"
    assert xp(events[2], "string(h:effectiveTime/h:high/@value)") == "202401041600+0100"


# ---------------------------------------------------------------------------- authenticators


def _validator_time(root: etree._Element) -> str:
    return xp(root, f"string(h:authenticator[h:assignedEntity/h:id/@extension='{VALIDATOR}']/h:time/@value)")


def test_validator_time_is_the_latest_analysis_of_their_results() -> None:
    root = build()
    assert xp(root, "h:authenticator/h:assignedEntity/h:id/@extension") == [VALIDATOR]
    assert _validator_time(root) == "202401041410+0100"  # max OBX-19 of sodium, potassium


def test_validator_time_without_obx19_is_the_release_of_their_orders() -> None:
    mapped = with_results(sample_mapped_report(), analysed_at="")
    # the ionogram order has no OBR-22: then the document time (validation happened before it)
    assert _validator_time(build(mapped)) == "20240104160527+0100"
    orders = tuple(
        dataclasses.replace(o, reported_at="202401041530") if o.service.code == "IONO" else o
        for o in mapped.report.orders
    )
    released = dataclasses.replace(mapped, report=dataclasses.replace(mapped.report, orders=orders))
    assert _validator_time(build(released)) == "202401041530+0100"


def test_validator_time_ignores_obx14() -> None:
    # OBX-14 is the collection time in lab results: earlier than any validation.
    mapped = with_results(sample_mapped_report(), analysed_at="", observed_at="202401040500")
    assert _validator_time(build(mapped)) == "20240104160527+0100"
