"""Generated CR-BIO documents for the differential test: valid ones, and broken ones on purpose.

Valid: every shape the builder makes from the shared synthetic reports (tests.support.samples:
full, unqualified, preliminary, level 1, a replacement, 1 to 40 numeric results, text only),
plus the ANS examples read in place. Broken: those documents after 1–5 random mutations drawn
from a seeded RNG: an element deleted, duplicated, moved, renamed or swapped; an attribute
dropped or set to a value the schematrons test for (template ids, codes, code systems, units,
``xsi:type``, ``nullFlavor``, harvested from the kit's own compiled rules); a templateId
added (so that rules of other templates fire); comments, processing instructions and text
inserted. Synthetic patients only.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from connector.cda import build_document
from tests.support.samples import (
    sample_ids,
    sample_lab,
    sample_mapped_report,
    sample_numeric_report,
    sample_text_report,
    tiny_pdf,
)

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ATTRIBUTES = ("code", "codeSystem", "root", "extension", "nullFlavor", "classCode", "moodCode", "typeCode",
              "unit", "value", "displayName", "use", "qualifier", "inclusive", "mediaType", "representation")
XSI_TYPES = ("PQ", "IVL_PQ", "CD", "CE", "CO", "ST", "INT", "REAL", "BL", "TS", "IVL_TS", "ED", "RTO", "SC")
NULL_FLAVORS = ("UNK", "NA", "NI", "ASKU", "MSK", "OTH")
UNITS = ("m[IU]/L", "mUI/l", "mmol/L", "g/dL", "10*9/L", "%", "{ratio}", "mL/min/{1.73_m2}", "")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
_QUOTED = re.compile(r"'([^'\s]{1,64})'")
_OID = re.compile(r"\d+(?:\.\d+){2,}")


def built_documents() -> list[tuple[str, bytes]]:
    """Every document shape the builder makes from the shared synthetic reports.

    The ``numeric-*`` reports are made for the PDF copy: some of their units are not UCUM, so the
    terminology schematron refuses them (good inputs here). The others pass (:data:`VALID`).
    """
    lab, pdf = sample_lab(), tiny_pdf()
    reports = {
        "full": (sample_mapped_report(), sample_ids()),
        "unqualified": (sample_mapped_report(qualified=False), sample_ids()),
        "preliminary": (sample_mapped_report(preliminary=True), sample_ids()),
        "twenty-results": (sample_mapped_report(extra_numeric=7), sample_ids()),
        "replacement": (sample_mapped_report(), sample_ids(2, ("1.2.250.1.999.1.1", "DOC1"))),
        "text": (sample_text_report(), sample_ids()),
        **{f"numeric-{n}": (sample_numeric_report(n, comments=n % 2 == 1), sample_ids()) for n in (1, 5, 20, 40)},
    }
    return [(name, build_document(mapped, lab=lab, ids=ids, pdf=pdf)) for name, (mapped, ids) in reports.items()]


# No "level1": a report without results is refused, never written as a level-1 document (issue 12, class 3:
# no level-1 CR-BIO passes both the volet and StrucMin, tests/integration/test_cda_level1.py).
VALID = frozenset({"full", "unqualified", "preliminary", "twenty-results", "replacement", "text"})


def ans_examples(kit_root: Path) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted((kit_root / "ExemplesCDA").glob("BIO-CR-BIO_*.xml"))]


def value_pool(prepared_root: Path) -> list[str]:
    """Quoted constants of the compiled schematrons: the values their rules and asserts test for."""
    found: set[str] = set()
    for path in (prepared_root / "schematrons").rglob("*.compiled.xsl"):
        found.update(m.group(1) for m in _QUOTED.finditer(path.read_text(encoding="utf-8")))
    return sorted(v for v in found if len(v) <= 64)


class Mutator:
    """Seeded, reproducible breakage of a document (see the module docstring)."""

    def __init__(self, pool: list[str], rng: random.Random) -> None:
        self.rng = rng
        self.pool = pool
        self.oids = [v for v in pool if _OID.fullmatch(v)] or ["1.2.3.4"]

    def mutate(self, document: bytes, count: int) -> bytes:
        root = etree.fromstring(document, _PARSER)
        for _ in range(count):
            elements = [e for e in root.iter(etree.Element)][1:]
            if not elements:
                break
            operation = self.rng.choice(self.OPERATIONS)
            operation(self, root, self.rng.choice(elements))
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    def _value(self) -> str:
        roll = self.rng.random()
        if roll < 0.75:
            return self.rng.choice(self.pool)
        if roll < 0.9:
            return self.rng.choice(UNITS + NULL_FLAVORS)
        return "".join(self.rng.choice("abcXYZ019.-_ ") for _ in range(self.rng.randint(0, 12)))

    def delete(self, root: etree._Element, el: etree._Element) -> None:
        parent = el.getparent()
        if parent is not None:
            parent.remove(el)

    def duplicate(self, root: etree._Element, el: etree._Element) -> None:
        el.addnext(copy.deepcopy(el))

    def drop_attribute(self, root: etree._Element, el: etree._Element) -> None:
        if el.attrib:
            del el.attrib[self.rng.choice(list(el.attrib))]

    def set_attribute(self, root: etree._Element, el: etree._Element) -> None:
        names = list(el.attrib) + list(ATTRIBUTES)
        el.set(self.rng.choice(names), self._value())

    def set_xsi_type(self, root: etree._Element, el: etree._Element) -> None:
        el.set(f"{{{XSI}}}type", self.rng.choice(XSI_TYPES))

    def add_template_id(self, root: etree._Element, el: etree._Element) -> None:
        el.insert(0, etree.Element(f"{{{HL7}}}templateId", root=self.rng.choice(self.oids)))

    def add_null_flavor(self, root: etree._Element, el: etree._Element) -> None:
        el.set("nullFlavor", self.rng.choice(NULL_FLAVORS))

    def rename(self, root: etree._Element, el: etree._Element) -> None:
        other = self.rng.choice([e for e in root.iter(etree.Element)])
        el.tag = other.tag

    def swap(self, root: etree._Element, el: etree._Element) -> None:
        sibling = el.getnext()
        if sibling is not None and isinstance(sibling.tag, str):
            sibling.addnext(el)

    def move(self, root: etree._Element, el: etree._Element) -> None:
        targets = [e for e in root.iter(etree.Element) if e is not el and el not in e.iterancestors()]
        self.rng.choice(targets).append(el)

    def insert_node(self, root: etree._Element, el: etree._Element) -> None:
        node = etree.Comment(" gate ") if self.rng.random() < 0.5 else etree.ProcessingInstruction("gate", "x")
        el.insert(self.rng.randint(0, len(el)), node)

    def set_text(self, root: etree._Element, el: etree._Element) -> None:
        el.text = self._value()

    OPERATIONS = (delete, duplicate, drop_attribute, set_attribute, set_attribute, set_xsi_type, add_template_id,
                  add_template_id, add_null_flavor, rename, swap, move, insert_node, set_text)


def corpus(count: int, *, seed: int, kit_root: Path, prepared_root: Path) -> Iterator[tuple[str, bytes]]:
    """``count`` documents: the valid bases first (as many as fit), then mutated ones."""
    bases = built_documents() + ans_examples(kit_root)
    mutator = Mutator(value_pool(prepared_root), random.Random(seed))
    for name, document in bases[:count]:
        yield name, document
    for index in range(max(0, count - len(bases))):
        name, base = mutator.rng.choice(bases)
        mutations = mutator.rng.randint(1, 5)
        yield f"{name}+{mutations}m#{index}", mutator.mutate(base, mutations)
