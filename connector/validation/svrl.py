"""Reading the schematrons' SVRL reports: failed assertions, their place, their text.

Shared by the official run (:class:`SchematronValidator`) and the gate, so both count the
same things: ``svrl:failed-assert`` whose role is not a warning or information, minus the one
waived level-1 contradiction. The gate's texts hide what the ANS assertion quotes from the
document (``<gate:value>``, see fastpath R7) behind ``…``; a pattern the gate does not run
because it cannot fail (fastpath R10) is marked on its ``svrl:active-pattern``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree

from .valuesets import GATE_NS

__all__ = [
    "LEVEL1_WAIVER",
    "NON_FAILING_ROLES",
    "Failure",
    "SvrlEntry",
    "failures_of",
    "is_level1",
    "refused_input",
    "svrl_entries",
    "verdict_free_patterns",
]

SVRL = "{http://purl.oclc.org/dsdl/svrl}"
# Roles that report, not fail (ANS uses role="warning"/"info" on some asserts).
NON_FAILING_ROLES = frozenset({"warning", "warn", "info", "information"})
# The one assert of the six that a level-1 (nonXMLBody) CR-BIO cannot satisfy: the volet wants the
# XD-LAB templateId 1.3.6.1.4.1.19376.1.3.3 on every ClinicalDocument, while StrucMin admits exactly
# three templateIds (…1.2.20, …2.8.2.1, …1.1.1.1) on a nonXMLBody document. The ANS's own level-1
# example (BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml) fails it too and declares only StrucMin +
# terminologies. Waived for nonXMLBody documents only; proof: tests/integration/test_cda_level1.py.
LEVEL1_WAIVER = (
    "CI-SIS_BIO-CR-BIO_2024.01.sch",
    "/ClinicalDocument",
    "@root='1.3.6.1.4.1.19376.1.3.3'",
)
REDACTED = "…"
_NON_XML_BODY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?nonXMLBody[\s>/]")
_STRUCTURED_BODY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?structuredBody[\s>/]")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
VERDICT_FREE = f"{{{GATE_NS}}}verdict-free"  # on an active-pattern the rewritten stylesheet did not run


@dataclass(frozen=True, slots=True)
class Failure:
    """One SVRL ``failed-assert``: which schematron, the XPath location and the assertion text.

    ``result`` names the result the location belongs to (its LOINC and local codes), when it
    is inside an observation; the gate fills it, the official run leaves it empty.
    """

    schematron: str
    location: str
    text: str
    result: str = ""

    def __str__(self) -> str:
        where = f"{self.location} ({self.result})" if self.result else self.location
        return f"{self.schematron}: {where}: {self.text}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SvrlEntry:
    """Everything an SVRL assertion or report says, values included: what the differential compares."""

    schematron: str
    kind: str  # failed-assert | successful-report
    role: str
    location: str
    text: str
    pattern: int = -1  # which svrl:active-pattern it follows (0 the first; -1 before any)

    @property
    def failing(self) -> bool:
        return _fails(self.kind, self.role)


def _fails(kind: str, role: str) -> bool:
    """What the gate and the official run count: a failed assertion whose role is not a warning or info."""
    return kind == "failed-assert" and role.lower() not in NON_FAILING_ROLES


def refused_input(document: bytes) -> Failure | None:
    """Saxon would resolve entities and external DTDs: such a file is not a CDA we accept."""
    if b"<!DOCTYPE" in document[:4096] or b"<!ENTITY" in document:
        return Failure("input", "/", "DOCTYPE or ENTITY declarations are refused")
    return None


def is_level1(document: bytes) -> bool:
    """A ``nonXMLBody`` document (a tag, not text: escaped text cannot start with ``<``)."""
    return bool(_NON_XML_BODY.search(document)) and not _STRUCTURED_BODY.search(document)


def _waived(schematron: str, location: str, text: str) -> bool:
    name, where, marker = LEVEL1_WAIVER
    return schematron == name and location == where and marker in text


def _reports(svrl: str) -> Iterator[tuple[str, etree._Element, int]]:
    """(kind, element, pattern index) of every assertion and report, in document order."""
    root = etree.fromstring(svrl.encode("utf-8"), _PARSER)
    pattern = -1
    for element in root.iter(f"{SVRL}active-pattern", f"{SVRL}failed-assert", f"{SVRL}successful-report"):
        kind = etree.QName(element).localname
        if kind == "active-pattern":
            pattern += 1
        else:
            yield kind, element, pattern


def _text(element: etree._Element, *, redact: bool) -> str:
    def parts(el: etree._Element) -> Iterator[str]:
        yield el.text or ""
        for child in el:
            if not isinstance(child.tag, str):
                pass
            elif redact and child.tag == f"{{{GATE_NS}}}value":
                yield REDACTED
            else:
                yield from parts(child)
            yield child.tail or ""

    return " ".join("".join(parts(element)).split())


def failures_of(name: str, svrl: str, *, level1: bool, redact: bool = False) -> list[Failure]:
    """The failing assertions of one schematron's SVRL; ``level1`` applies :data:`LEVEL1_WAIVER`."""
    if "failed-assert" not in svrl:  # the common case, a valid document: nothing to parse
        return []
    out = []
    for kind, element, _ in _reports(svrl):
        if not _fails(kind, element.get("role") or ""):
            continue
        location = element.get("location", "")
        if level1 and _waived(name, location, _text(element, redact=False)):
            continue
        out.append(Failure(name, location, _text(element, redact=redact)))
    return out


def svrl_entries(name: str, svrl: str) -> list[SvrlEntry]:
    """Every assertion and report, any role, with its full text, in the order the SVRL gives them."""
    return [SvrlEntry(schematron=name, kind=kind, role=element.get("role") or "",
                      location=element.get("location", ""), text=_text(element, redact=False), pattern=pattern)
            for kind, element, pattern in _reports(svrl)]


def verdict_free_patterns(svrl: str) -> frozenset[int]:
    """Indexes of the active-patterns a rewritten stylesheet marked as not run (fastpath R10)."""
    root = etree.fromstring(svrl.encode("utf-8"), _PARSER)
    return frozenset(i for i, pattern in enumerate(root.iter(f"{SVRL}active-pattern"))
                     if pattern.get(VERDICT_FREE) is not None)
