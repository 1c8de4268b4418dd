"""From a schematron location back to the element, and to the codes of the result it belongs to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from connector.validation.locate import element_at, result_codes

HL7 = "urn:hl7-org:v3"
LAB = "urn:oid:1.3.6.1.4.1.19376.1.3.2"
NAMES = [f"{{{HL7}}}component", f"{{{HL7}}}section", f"{{{HL7}}}entry", f"{{{HL7}}}observation",
         f"{{{HL7}}}code", f"{{{LAB}}}statusCode"]


def location(el: etree._Element) -> str:
    """As the ANS skeleton writes it (schematron-get-full-path-2): [n] only after same-name siblings."""
    steps = []
    for node in [*reversed(list(el.iterancestors())), el]:
        name = f"{node.prefix}:{etree.QName(node).localname}" if node.prefix else etree.QName(node).localname
        earlier = sum(1 for s in node.itersiblings(preceding=True) if s.tag == node.tag)
        steps.append(f"/{name}" + (f"[{earlier + 1}]" if earlier else ""))
    return "".join(steps)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    el = etree.Element(draw(st.sampled_from(NAMES)), nsmap={None: HL7, "lab": LAB})
    if depth < 3:
        for child in draw(st.lists(trees(depth + 1), max_size=4)):
            el.append(child)
    return el


@given(trees())
def test_every_element_is_found_from_its_location(root: etree._Element) -> None:
    for el in root.iter():
        assert element_at(root, location(el)) is el
        assert element_at(root, location(el) + "/@code") is el  # an attribute names its owner


def test_a_location_outside_the_document_names_nothing() -> None:
    root = etree.fromstring(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><component/></ClinicalDocument>')
    assert element_at(root, "/ClinicalDocument/component[2]") is None
    assert element_at(root, "/Other") is None
    assert element_at(root, "/") is None


def test_the_result_is_named_by_its_loinc_and_local_codes() -> None:
    root = etree.fromstring(
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><component><observation>'
        b'<code code="2951-2" codeSystem="2.16.840.1.113883.6.1">'
        b'<translation code="NA" codeSystem="1.2.250.1.999.1.1"/></code><value unit="x"/></observation>'
        b'<observation><code><originalText/><translation code="CRP" codeSystem="1.2.3"/></code></observation>'
        b'</component></ClinicalDocument>')
    assert result_codes(root, "/ClinicalDocument/component/observation/value/@unit") == "LOINC 2951-2, local NA"
    assert result_codes(root, "/ClinicalDocument/component/observation[2]/code") == "local CRP"
    assert result_codes(root, "/ClinicalDocument/component") == ""
