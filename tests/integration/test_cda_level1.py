"""Level-1 CR-BIO (nonXMLBody): the 2024.01 volet and StrucMin contradict each other.

Proof on the ANS's own level-1 example (BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml, no
2024.01 one exists): as published it fails only the volet's "templateId
1.3.6.1.4.1.19376.1.3.3 required"; adding that templateId makes StrucMin fail ("a
nonXMLBody document admits exactly three templateIds"). No level-1 document can pass
both, so ``SchematronValidator`` waives that single assert for nonXMLBody documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.cda import SchematronValidator
from connector.validation.schematron import LEVEL1_WAIVER, is_level1

pytestmark = pytest.mark.schematron
N1_EXAMPLE = "BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml"
N1_TEMPLATE = b'<templateId root="1.3.6.1.4.1.19376.1.2.20"/>'
XDLAB_TEMPLATE = b'<templateId root="1.3.6.1.4.1.19376.1.3.3"/>'


@pytest.fixture(scope="module")
def example(ans_kit: Path) -> bytes:
    doc = (ans_kit / "ExemplesCDA" / N1_EXAMPLE).read_bytes()
    assert N1_TEMPLATE in doc and XDLAB_TEMPLATE not in doc
    return doc


def test_example_as_published_fails_only_the_volet_templateid(schematron: SchematronValidator, example: bytes) -> None:
    failures = schematron.failures(example, waive_level1=False)
    assert [(f.schematron, f.location) for f in failures] == [LEVEL1_WAIVER[:2]]
    assert LEVEL1_WAIVER[2] in failures[0].text


def test_adding_the_volet_templateid_breaks_strucmin(schematron: SchematronValidator, example: bytes) -> None:
    for doc in (
        example.replace(N1_TEMPLATE, N1_TEMPLATE + XDLAB_TEMPLATE),  # four templateIds
        example.replace(N1_TEMPLATE, XDLAB_TEMPLATE),  # the volet's instead of the N1 one
    ):
        failures = schematron.failures(doc, waive_level1=False)
        assert failures
        assert {f.schematron for f in failures} == {"ASIP-STRUCT-MIN-StrucMin.sch"}
        assert all("1.3.6.1.4.1.19376.1.2.20" in f.text for f in failures)


def test_waiver_applies_to_level1_only(schematron: SchematronValidator, example: bytes, ans_kit: Path) -> None:
    assert schematron.failures(example) == []
    tsh = (ans_kit / "ExemplesCDA" / "BIO-CR-BIO_2024.01_TSH_1.xml").read_bytes()
    assert not is_level1(tsh) and is_level1(example)
    structured = tsh.replace(XDLAB_TEMPLATE, b"", 1)
    assert any(LEVEL1_WAIVER[2] in f.text for f in schematron.failures(structured))


def test_is_level1_needs_a_tag() -> None:
    assert is_level1(b"<ClinicalDocument><component><nonXMLBody><text/></nonXMLBody>")
    assert not is_level1(b"<text>&lt;nonXMLBody></text><component><structuredBody>")
    assert not is_level1(b"<component><structuredBody/><!-- <nonXMLBody> --></component>")
