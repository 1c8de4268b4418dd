"""Sections that are not chapters: report-level comments (55112-7) and the PDF copy (55108-5)."""

from __future__ import annotations

import base64
import uuid

from lxml import etree

from connector.model import Comment

from .elements import LOINC, XSI_TYPE, coded, ident, sub, templates, text_sub
from .narrative import IdSource, multiline

__all__ = ["comment_section", "pdf_section"]

COMMENT_SECTION_TEMPLATES = (
    "2.16.840.1.113883.10.12.201",
    "1.3.6.1.4.1.19376.1.4.1.2.16",
    "1.2.250.1.213.1.1.2.73",
)
PDF_SECTION_TEMPLATE = "1.2.250.1.213.1.1.2.243"
PDF_ORGANIZER_TEMPLATE = "1.2.250.1.213.1.1.3.18"
PDF_OBSERVATION_TEMPLATES = (
    "1.3.6.1.4.1.19376.1.5.3.1.4.13",
    "1.2.250.1.213.1.1.3.48",
    "1.2.250.1.213.1.1.3.48.18",
)
PDF_MEDIA_ID = "doc-1"
PDF_LABEL_ID = "doc-1-label"


def comment_section(
    body: etree._Element, comments: tuple[Comment, ...], ids: IdSource
) -> None:
    """Report- and order-level NTE as a comment section (narrative only, as in the kit's examples)."""
    section = sub(sub(body, "component"), "section")
    templates(section, *COMMENT_SECTION_TEMPLATES)
    coded(section, "code", "55112-7", LOINC, "Commentaire", "LOINC")
    text_sub(section, "title", "Commentaires")
    text = sub(section, "text")
    for comment in comments:
        multiline(sub(text, "paragraph", ID=ids("note")), comment.text)


def _uuid(seed: str, part: str) -> str:
    """Stable ids derived from the document id: a rebuilt document is byte-identical."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}/{part}")).upper()


def pdf_section(
    body: etree._Element, pdf: bytes, seed: str, effective_time: str
) -> None:
    section = sub(sub(body, "component"), "section")
    templates(section, PDF_SECTION_TEMPLATE)
    ident(section, _uuid(seed, "pdf-section"))
    coded(section, "code", "55108-5", LOINC, "Copie du document", "LOINC")
    text_sub(section, "title", "Copie du document")
    td = sub(
        sub(sub(sub(sub(section, "text"), "table", border="0"), "tbody"), "tr"), "td"
    )
    text_sub(td, "content", "Copie PDF du compte rendu", {"ID": PDF_LABEL_ID})
    sub(td, "renderMultiMedia", referencedObject=PDF_MEDIA_ID)
    organizer = sub(
        sub(section, "entry"), "organizer", classCode="CLUSTER", moodCode="EVN"
    )
    templates(organizer, PDF_ORGANIZER_TEMPLATE)
    ident(organizer, _uuid(seed, "pdf-organizer"))
    coded(organizer, "code", "55107-7", LOINC, "Document attaché", "LOINC")
    sub(organizer, "statusCode", code="completed")
    obs = sub(
        sub(organizer, "component"), "observation", classCode="OBS", moodCode="EVN"
    )
    templates(obs, *PDF_OBSERVATION_TEMPLATES)
    ident(obs, _uuid(seed, "pdf-observation"))
    coded(obs, "code", "69764-9", LOINC, "Type de document", "LOINC")
    sub(sub(obs, "text"), "reference", value="#" + PDF_LABEL_ID)
    sub(obs, "statusCode", code="completed")
    sub(obs, "effectiveTime", nullFlavor="NA")
    sub(
        obs,
        "value",
        {
            XSI_TYPE: "CD",
            "code": "55108-5",
            "displayName": "Copie du document",
            "codeSystem": LOINC,
            "codeSystemName": "LOINC",
        },
    )
    media = sub(
        sub(organizer, "component"),
        "observationMedia",
        classCode="OBS",
        moodCode="EVN",
        ID=PDF_MEDIA_ID,
    )
    value = sub(media, "value", mediaType="application/pdf", representation="B64")
    value.text = base64.b64encode(pdf).decode("ascii")
