"""What the package stage reads back from the CDA header.

METADATA.XML and the e-mail headers are filled from the very bytes that go into the
zip (ANS mapping "CDA → XDS"), so they agree with the document by construction. The
values here are patient data: never log this object, log the report id.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from lxml import etree

from connector.errors import CdaBuildError, InputError
from connector.model import INS_OIDS
from connector.xmlsafe import parse_xml

__all__ = ["CdaHeader", "Code", "Person", "read_header"]

NS = {"h": "urn:hl7-org:v3"}
RPPS_ORG_OID = "1.2.250.1.71.4.2.2"  # national structure ids (Struct_IdNat: 1+FINESS, 3+SIRET…)


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    display: str = ""
    system: str = ""


@dataclass(frozen=True, slots=True)
class Person:
    """An author or legal authenticator: national id (IDNPS), name, specialty, organisation."""

    id_root: str = ""
    id_extension: str = ""
    family: str = ""
    given: str = ""
    specialty: Code | None = None
    org_name: str = ""
    org_id_root: str = ""
    org_id_extension: str = ""


@dataclass(frozen=True, slots=True)
class CdaHeader:
    id_root: str
    id_extension: str
    code: Code
    title: str
    effective_time: str
    confidentiality: Code
    language: str
    patient_ids: tuple[tuple[str, str], ...] = field(repr=False)  # (root, extension) in order
    family: str = field(default="", repr=False)  # birth name (qualifier BR) else the first
    given: str = field(default="", repr=False)  # first birth given name
    birth_time: str = field(default="", repr=False)
    gender: str = ""
    author: Person = Person()
    legal_authenticator: Person | None = None
    service_start: str = ""
    service_stop: str = ""
    facility_code: str = ""
    practice_code: str = ""
    structured: bool = True  # structuredBody (N3) vs nonXMLBody (N1)

    @property
    def unique_id(self) -> str:
        """XDS uniqueId: ``root`` or ``root^extension`` (ITI TF-3 4.2.3.2.26)."""
        return f"{self.id_root}^{self.id_extension}" if self.id_extension else self.id_root

    @property
    def ins(self) -> tuple[str, str] | None:
        """(root, extension) of the recordTarget INS, when the document carries one."""
        for root, ext in self.patient_ids:
            if root in INS_OIDS and ext:
                return (root, ext)
        return None

    def local_id(self, ipp_oid: str) -> tuple[str, str] | None:
        """The lab's patient id (root = the IPP authority), else the first non-INS id."""
        others = [(r, e) for r, e in self.patient_ids if r not in INS_OIDS and e]
        for root, ext in others:
            if root == ipp_oid:
                return (root, ext)
        return others[0] if others else None


def _attr(node: etree._Element | None, name: str) -> str:
    return (node.get(name) or "").strip() if node is not None else ""


def _first(root: etree._Element, path: str) -> etree._Element | None:
    found = root.find(path, NS)
    return found


def _text(node: etree._Element | None) -> str:
    return " ".join("".join(str(t) for t in node.itertext()).split()) if node is not None else ""


def _code(node: etree._Element | None) -> Code | None:
    if node is None or not node.get("code"):
        return None
    return Code(_attr(node, "code"), _attr(node, "displayName"), _attr(node, "codeSystem"))


def _person(entity: etree._Element | None, person_tag: str, org_tag: str) -> Person | None:
    if entity is None:
        return None
    ident = _first(entity, "h:id")
    name = _first(entity, f"h:{person_tag}/h:name")
    org = _first(entity, f"h:{org_tag}")
    return Person(
        id_root=_attr(ident, "root"),
        id_extension=_attr(ident, "extension"),
        family=_text(_first(name, "h:family")) if name is not None else "",
        given=_text(_first(name, "h:given")) if name is not None else "",
        specialty=_code(_first(entity, "h:code")),
        org_name=_text(_first(org, "h:name")) if org is not None else "",
        org_id_root=_attr(_first(org, "h:id"), "root") if org is not None else "",
        org_id_extension=_attr(_first(org, "h:id"), "extension") if org is not None else "",
    )


def _birth_name(patient: etree._Element | None) -> tuple[str, str]:
    if patient is None:
        return ("", "")
    families = patient.findall("h:name/h:family", NS)
    givens = patient.findall("h:name/h:given", NS)
    family = next((f for f in families if f.get("qualifier") == "BR"), families[0] if families else None)
    given = next((g for g in givens if g.get("qualifier") == "BR"), givens[0] if givens else None)
    first_given = _text(given).split(" ")[0] if given is not None else ""
    return (_text(family), first_given)


@functools.lru_cache(maxsize=4)
def read_header(cda: bytes, *, report_id: str = "") -> CdaHeader:
    """Parse ``cda`` (safely) and return its header values; CdaBuildError when one is missing.

    Cached on the bytes: the zip's METADATA and the e-mail both read the same document's
    header, and a CDA is mostly the PDF copy, so parsing it twice cost 0.4 ms a report.
    """
    where = f"report {report_id or '?'} CDA"
    try:
        doc = parse_xml(cda, source=f"{where} (DOC0001.XML)")
    except InputError as exc:
        raise CdaBuildError(str(exc)) from None
    return header_from_tree(doc, report_id=report_id)


def header_from_tree(doc: etree._Element, *, report_id: str = "") -> CdaHeader:
    """The header values of an already parsed CDA (the build parses it once for the XSD check)."""
    where = f"report {report_id or '?'} CDA"
    if etree.QName(doc).localname != "ClinicalDocument" or etree.QName(doc).namespace != NS["h"]:
        raise CdaBuildError(f"{where}: expected a ClinicalDocument in urn:hl7-org:v3")
    doc_id, code = _first(doc, "h:id"), _code(_first(doc, "h:code"))
    if not _attr(doc_id, "root") or code is None:
        raise CdaBuildError(f"{where}: expected ClinicalDocument/id@root and code@code")
    role = _first(doc, "h:recordTarget/h:patientRole")
    patient = _first(role, "h:patient") if role is not None else None
    family, given = _birth_name(patient)
    event = None
    for candidate in doc.findall("h:documentationOf/h:serviceEvent", NS):
        if _first(candidate, "h:effectiveTime") is not None:
            event = candidate
            break
    author = _person(_first(doc, "h:author/h:assignedAuthor"), "assignedPerson", "representedOrganization")
    return CdaHeader(
        id_root=_attr(doc_id, "root"),
        id_extension=_attr(doc_id, "extension"),
        code=code,
        title=_text(_first(doc, "h:title")),
        effective_time=_attr(_first(doc, "h:effectiveTime"), "value"),
        confidentiality=_code(_first(doc, "h:confidentialityCode")) or Code("N", "Normal", "2.16.840.1.113883.5.25"),
        language=_attr(_first(doc, "h:languageCode"), "code") or "fr-FR",
        patient_ids=tuple(
            (_attr(i, "root"), _attr(i, "extension")) for i in (role.findall("h:id", NS) if role is not None else [])
        ),
        family=family,
        given=given,
        birth_time=_attr(_first(patient, "h:birthTime"), "value") if patient is not None else "",
        gender=_attr(_first(patient, "h:administrativeGenderCode"), "code") if patient is not None else "",
        author=author or Person(),
        legal_authenticator=_person(
            _first(doc, "h:legalAuthenticator/h:assignedEntity"), "assignedPerson", "representedOrganization"
        ),
        service_start=_attr(_first(event, "h:effectiveTime/h:low"), "value") if event is not None else "",
        service_stop=_attr(_first(event, "h:effectiveTime/h:high"), "value") if event is not None else "",
        facility_code=_attr(
            _first(doc, "h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code"), "code"
        ),
        practice_code=_attr(
            _first(
                doc,
                "h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization/h:standardIndustryClassCode",
            ),
            "code",
        ),
        structured=_first(doc, "h:component/h:structuredBody") is not None,
    )
