"""Read one CDA the SIL embedded in an OBX ED (shape B): header ids, patient ids, PDF copy.

The connector is the PFI here: it forwards the SIL's document byte for byte and never
mints ids for it, so everything the package stage needs (ClinicalDocument/id, setId,
versionNumber, relatedDocument RPLC, effectiveTime) is read from the CDA header. The
bytes come from outside: they are parsed only through :mod:`connector.xmlsafe`, and
errors name the document OBX and the element expected, never a value found.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from lxml import etree

from connector.errors import InputError
from connector.limits import MAX_CDA_BYTES, MAX_PDF_BYTES
from connector.model import DocumentIdentity, EmbeddedDocument
from connector.xmlsafe import parse_xml

__all__ = ["SilDocument", "read_document"]

NS = {"h": "urn:hl7-org:v3"}
HL7_V3 = NS["h"]
DOCUMENT_CODE = "11502-2"  # LOINC "CR d'examens biologiques"
PDF_COPY_SECTION = "55108-5"  # CI-SIS "Copie du document" section of a CR-BIO N3
PDF_MAGIC = b"%PDF-"
# effectiveTime must name an instant (at least minutes): it becomes the XDS submission and e-mail times.
_INSTANT = re.compile(r"^\d{12}(\d{2})?(\.\d+)?([+-]\d{4})?$")


@dataclass(frozen=True, slots=True)
class SilDocument:
    """One embedded CDA after reading. Holds patient data: log ``label`` only, never ``repr``."""

    label: str  # "document OBX 1 of 2": where it was in the report
    data: bytes = field(repr=False)
    structured: bool  # structuredBody (N3) vs nonXMLBody (N1)
    identity: DocumentIdentity
    patient_ids: tuple[tuple[str, str], ...] = field(repr=False)  # recordTarget/patientRole/id (root, ext)
    pdf: bytes | None = field(default=None, repr=False)  # PDF copy section (N3) or nonXMLBody (N1)


def _fail(expected: str, *, source: str, label: str, field_name: str = "OBX-5") -> InputError:
    return InputError(expected, source=source, segment=label, field=field_name)


def _attr(node: etree._Element | None, name: str) -> str:
    return (node.get(name) or "").strip() if node is not None else ""


def read_document(doc: EmbeddedDocument, *, label: str, source: str) -> SilDocument:
    """Parse and read one embedded CDA; :class:`InputError` naming ``label`` and what was expected."""
    if len(doc.data) > MAX_CDA_BYTES:
        raise _fail(f"a CDA of at most {MAX_CDA_BYTES} bytes (MAX_CDA_BYTES)", source=source, label=label)
    try:
        root = parse_xml(doc.data, source=source)
    except InputError as exc:
        raise _fail(f"a CDA document: {exc.expected}", source=source, label=label) from None
    qname = etree.QName(root)
    if qname.localname != "ClinicalDocument" or qname.namespace != HL7_V3:
        raise _fail("a CDA R2 ClinicalDocument in namespace urn:hl7-org:v3", source=source, label=label)
    if _attr(root.find("h:code", NS), "code") != DOCUMENT_CODE:
        raise _fail(f"ClinicalDocument/code {DOCUMENT_CODE} (CR d'examens biologiques)", source=source, label=label)
    structured = root.find("h:component/h:structuredBody", NS) is not None
    if not structured and root.find("h:component/h:nonXMLBody", NS) is None:
        raise _fail("a CDA body: component/structuredBody (N3) or component/nonXMLBody (N1)",
                    source=source, label=label)
    role = root.find("h:recordTarget/h:patientRole", NS)
    patient_ids = tuple((_attr(i, "root"), _attr(i, "extension"))
                        for i in (role.findall("h:id", NS) if role is not None else []))
    return SilDocument(
        label=label,
        data=doc.data,
        structured=structured,
        identity=_identity(root, source=source, label=label),
        patient_ids=patient_ids,
        pdf=_pdf(root, structured, source=source, label=label),
    )


def _identity(root: etree._Element, *, source: str, label: str) -> DocumentIdentity:
    """The SIL's ids for this version, exactly as written in the header."""
    doc_id, set_id = root.find("h:id", NS), root.find("h:setId", NS)
    if not _attr(doc_id, "root") or not _attr(set_id, "root"):
        raise _fail("ClinicalDocument/id@root and setId@root (the SIL's document ids)", source=source, label=label)
    version_text = _attr(root.find("h:versionNumber", NS), "value")
    if not version_text.isdigit() or int(version_text) < 1:
        raise _fail("ClinicalDocument/versionNumber@value, an integer from 1", source=source, label=label)
    effective = _attr(root.find("h:effectiveTime", NS), "value")
    if not _INSTANT.match(effective):
        raise _fail("ClinicalDocument/effectiveTime@value YYYYMMDDhhmm[ss][+/-zzzz]", source=source, label=label)
    replaces = None
    for related in root.findall("h:relatedDocument", NS):
        if _attr(related, "typeCode") != "RPLC":
            continue
        parent = related.find("h:parentDocument/h:id", NS)
        if not _attr(parent, "root"):
            raise _fail("relatedDocument RPLC with parentDocument/id@root", source=source, label=label)
        replaces = (_attr(parent, "root"), _attr(parent, "extension"))
    return DocumentIdentity(
        document_id_root=_attr(doc_id, "root"),
        document_id_extension=_attr(doc_id, "extension"),
        set_id_root=_attr(set_id, "root"),
        set_id_extension=_attr(set_id, "extension"),
        version=int(version_text),
        replaces=replaces,
        effective_time=effective,
    )


def _pdf(root: etree._Element, structured: bool, *, source: str, label: str) -> bytes | None:
    """The PDF copy: observationMedia of section 55108-5 (N3), or the nonXMLBody text (N1)."""
    if structured:
        node = None
        for section in root.iterfind("h:component/h:structuredBody/h:component/h:section", NS):
            if _attr(section.find("h:code", NS), "code") == PDF_COPY_SECTION:
                node = section.find(".//h:observationMedia/h:value[@mediaType='application/pdf']", NS)
                break
    else:
        node = root.find("h:component/h:nonXMLBody/h:text[@mediaType='application/pdf']", NS)
    if node is None:
        return None
    if _attr(node, "representation") != "B64":
        raise _fail("the PDF copy with representation B64", source=source, label=label)
    text = "".join((node.text or "").split())
    if len(text) > MAX_PDF_BYTES * 4 // 3 + 4:
        raise _fail(f"a PDF copy of at most {MAX_PDF_BYTES} bytes (MAX_PDF_BYTES)", source=source, label=label)
    try:
        pdf = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail("the PDF copy in valid base64", source=source, label=label) from None
    if not pdf.startswith(PDF_MAGIC):
        raise _fail("a PDF (starting with %PDF-) as the document copy", source=source, label=label)
    return pdf
