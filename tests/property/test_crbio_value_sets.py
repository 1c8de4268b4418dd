"""Issue 12 class 1: every coded element the builder emits is a member of the CI-SIS value set that governs it.

Checked on documents built from generated messages (tests/support/oru_strategy.py), against the
kit's ``jeuxDeValeurs`` read in place (skipped when the kit is absent), two ways:

- **governed elements** (:data:`GOVERNED`): the element's ``@code``/``@codeSystem`` must be in the
  named JDV (administrativeGenderCode in JDV_J143, interpretationCode in the interpretation JDV…);
- **any coded element** whose codeSystem appears in some JDV of the kit must be a member of one of
  them: a code outside every value set of its own code system (``U`` under AdministrativeGender)
  fails even where no JDV is named here. Large external terminologies (LOINC, SNOMED CT) and the
  lab's own OIDs are left to the schematrons.

XSD only, no schematrons: fast enough for many examples (``CRBIO_VS_EXAMPLES``, default 150).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from lxml import etree

from connector.cda import XsdValidator
from connector.xmlsafe import parse_xml
from tests.support.crbio_harness import Harness, generated_lab
from tests.support.oru_strategy import GeneratedMessage, oru_messages
from tests.support.paths import ANS_KIT

KIT = ANS_KIT  # read in place; the tests that need it take the skipping ``ans_kit`` fixture
EXAMPLES = int(os.environ.get("CRBIO_VS_EXAMPLES", "150"))
SVS = "{urn:ihe:iti:svs:2008}"
NS = {"h": "urn:hl7-org:v3"}
# XPath (from ClinicalDocument) → the JDV file that governs the element (docs/spec/cda-crbio.md, StrucMin).
GOVERNED = {
    "h:recordTarget/h:patientRole/h:patient/h:administrativeGenderCode": "JDV_J143_AdministrativeGender_CISIS.xml",
    "h:code": "JDV_J07_XdsTypeCode_CISIS.xml",
    "h:confidentialityCode": "JDV_J08_XdsConfidentialityCode_CISIS.xml",
    "(h:author/h:assignedAuthor | .//h:assignedEntity)/h:code": "JDV_J01_XdsAuthorSpecialty_CISIS.xml",
    ".//h:representedOrganization/h:standardIndustryClassCode[@code]": "JDV_J04_XdsPracticeSettingCode_CISIS.xml",
    ".//h:healthCareFacility/h:code": "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
    "h:participant/h:functionCode": "JDV_J47_FunctionCode_CISIS.xml",
    ".//h:observation//h:interpretationCode": "JDV_HL7_ObservationInterpretation_CISIS.xml",
    ".//h:procedure/h:participant/h:participantRole/h:playingEntity/h:code[@code]": "JDV_HL7_SpecimenType_CISIS.xml",
    ".//h:observation/h:methodCode[@code]": "JDV_TechniqueBiologie_CISIS.xml",
}
# Name parts whose text is a code: civilité (prefix) and titre (suffix).
TEXT_CODED = {".//h:name/h:prefix": "JDV_J245_Civilite_CISIS.xml", ".//h:name/h:suffix": "JDV_J246_Titre_CISIS.xml"}
# Code systems the kit's JDVs quote but that are checked elsewhere (terminology files, not value sets).
EXTERNAL = frozenset({"2.16.840.1.113883.6.1", "2.16.840.1.113883.6.96", "2.16.840.1.113883.6.8"})
# The kit's own SPRECEIVE quirk (docs/spec/cda-crbio.md §2): its code system is in no JDV's concepts.
IHE_ACT_CODES = "1.3.5.1.4.1.19376.1.5.3.2"


@cache
def concepts(name: str) -> frozenset[tuple[str, str]]:
    root = parse_xml((KIT / "jeuxDeValeurs" / name).read_bytes(), source=name)
    return frozenset((c.get("code", ""), c.get("codeSystem", "")) for c in root.iter(f"{SVS}Concept"))


@cache
def by_code_system() -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((KIT / "jeuxDeValeurs").glob("*.xml")):
        for code, system in concepts(path.name):
            found.setdefault(system, set()).add(code)
    return {system: frozenset(codes) for system, codes in found.items()}


def off_value_set(root: etree._Element, lab_root: str) -> list[str]:
    """Every coded element of ``root`` outside the value set that governs it (empty when all are members)."""
    problems = []
    for path, jdv in GOVERNED.items():
        for el in root.xpath(path, namespaces=NS):
            if el.get("nullFlavor"):
                continue
            pair = (el.get("code", ""), el.get("codeSystem", ""))
            if pair not in concepts(jdv):
                problems.append(f"{etree.QName(el).localname} {pair} not in {jdv}")
    for path, jdv in TEXT_CODED.items():
        codes = {code for code, _ in concepts(jdv)}
        problems += [f"{path} '{el.text}' not in {jdv}" for el in root.xpath(path, namespaces=NS)
                     if el.text not in codes]
    known = by_code_system()
    for el in root.iter():
        system, code = el.get("codeSystem"), el.get("code")
        if not system or code is None or system in EXTERNAL or system.startswith(lab_root):
            continue
        if system == IHE_ACT_CODES and code == "SPRECEIVE":
            continue
        if system in known and code not in known[system]:
            problems.append(f"{etree.QName(el).localname} ({code}, {system}) in no value set of its code system")
    return problems


@pytest.fixture(scope="module")
def harness(ans_kit: Path, cda_validator: XsdValidator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    yield Harness(xsd=cda_validator, schematron=None, scratch=tmp_path_factory.mktemp("value-sets"))


def test_gender_u_would_be_caught(ans_kit: Path) -> None:
    """The check itself: PID-8 U written as administrativeGenderCode U (the old builder) is reported."""
    doc = etree.fromstring(
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><recordTarget><patientRole><patient>'
        b'<administrativeGenderCode code="U" codeSystem="2.16.840.1.113883.5.1"/>'
        b"</patient></patientRole></recordTarget></ClinicalDocument>")
    problems = off_value_set(doc, "1.2.250.1.999")
    assert any("JDV_J143" in p for p in problems) and any("in no value set" in p for p in problems)


@seed(20261204)
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated=oru_messages())
def test_every_emitted_code_is_in_its_value_set(harness: Harness, generated: GeneratedMessage) -> None:
    lab_root = generated_lab(standin=True).oid_root
    for outcome in harness.run(generated, standin=True):
        if outcome.artifacts is None:
            continue
        assert outcome.failures == [], outcome.failures[:3]  # XSD
        assert off_value_set(outcome.root, lab_root) == []


def test_kit_value_sets_are_read(harness: Harness) -> None:
    assert ("UN", "2.16.840.1.113883.5.1") in concepts("JDV_J143_AdministrativeGender_CISIS.xml")
    assert len(by_code_system()) > 50
    assert (KIT / "jeuxDeValeurs").is_dir()
