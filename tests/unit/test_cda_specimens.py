"""Specimen types: every code we can write is in the kit's JDV_HL7_SpecimenType_CISIS; the rest is OTH."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from connector.cda.specimens import _FROM_SNOMED, SNOMED_CT, SPECIMEN_TYPE_SYSTEM, SPECIMEN_TYPES, specimen_code
from connector.model import Coded


def test_every_code_we_write_is_in_the_kit_value_set(ans_kit: Path) -> None:
    root = etree.parse(str(ans_kit / "jeuxDeValeurs" / "JDV_HL7_SpecimenType_CISIS.xml"),
                       etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    jdv = {(c.get("code"), c.get("codeSystem")) for c in root.iter("{urn:ihe:iti:svs:2008}Concept")}
    written = {*SPECIMEN_TYPES, *_FROM_SNOMED.values()}
    assert {(code, SPECIMEN_TYPE_SYSTEM) for code in written} <= jdv


@pytest.mark.parametrize(("sent", "code", "translation", "text"), [
    (Coded("BLD", "Sang", "HL70487"), "BLD", None, ""),
    (Coded("ser", "", ""), "SER", None, ""),  # no system: a 0487 code is still recognised
    (Coded("119364003", "Serum specimen", "SCT"), "SER", ("119364003", SNOMED_CT, "Serum specimen"), ""),
    (Coded("999999", "Autre", "SNOMED-CT"), "", ("999999", SNOMED_CT, "Autre"), ""),
    (Coded("SG", "Sang", "L"), "", None, "Sang"),
    (Coded("BLD", "Sang", "99LAB"), "", None, "Sang"),  # a local table reusing a 0487 spelling: not guessed
])
def test_specimen_code(sent: Coded, code: str, translation: tuple[str, str, str] | None, text: str) -> None:
    found = specimen_code(sent)
    assert (found.code, found.translation, found.text) == (code, translation, text)
