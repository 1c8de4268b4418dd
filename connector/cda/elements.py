"""Element factories for CDA R2: namespaced ``SubElement`` with a tag cache (fast), and the
small recurring shapes (ids, codes, names, addresses, telecoms)."""

from __future__ import annotations

import re

from lxml import etree

from connector.model import Coded, PersonName

__all__ = [
    "LAB_NS",
    "LOINC",
    "NSMAP",
    "V3",
    "XSI_TYPE",
    "address",
    "coded",
    "element",
    "ident",
    "loinc",
    "person_name",
    "sub",
    "telecom",
    "templates",
    "text_sub",
]

V3 = "urn:hl7-org:v3"
LAB_NS = "urn:oid:1.3.6.1.4.1.19376.1.3.2"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI}}}type"
NSMAP = {None: V3, "lab": LAB_NS, "xsi": XSI}
LOINC = "2.16.840.1.113883.6.1"

_TAGS: dict[str, str] = {}


def _tag(name: str) -> str:
    tag = _TAGS.get(name)
    if tag is None:
        tag = _TAGS[name] = f"{{{V3}}}{name}" if not name.startswith("{") else name
    return tag


def element(name: str, attrs: dict[str, str] | None = None) -> etree._Element:
    return etree.Element(_tag(name), attrs or {}, nsmap=NSMAP)  # type: ignore[arg-type]


def sub(
    parent: etree._Element, name: str, attrs: dict[str, str] | None = None, **kw: str
) -> etree._Element:
    """``<name …attrs/>`` under ``parent`` (empty attribute values are left out)."""
    # Called ~850 times a report: no dict is copied unless an empty value must be dropped.
    if kw:
        attrs = {**attrs, **kw} if attrs else kw
    if attrs and not all(attrs.values()):
        attrs = {k: v for k, v in attrs.items() if v}
    return etree.SubElement(parent, _TAGS.get(name) or _tag(name), attrs)


# Characters XML 1.0 forbids (C0 controls except TAB/LF/CR): lxml would refuse the whole document.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` with characters XML cannot hold replaced by U+FFFD (visible, not silently dropped)."""
    return _NOT_XML.sub("\ufffd", text)


def text_sub(
    parent: etree._Element, name: str, text: str, attrs: dict[str, str] | None = None
) -> etree._Element:
    el = sub(parent, name, attrs)
    el.text = xml_text(text)
    return el


def templates(parent: etree._Element, *roots: str) -> None:
    for root in roots:
        proto = _TEMPLATE_IDS.get(root)
        if proto is None:
            proto = _TEMPLATE_IDS[root] = etree.Element(
                _tag("templateId"), {"root": root}, nsmap=NSMAP  # type: ignore[arg-type]
            )
        # A C-level copy is ~3x cheaper than a new element with an attribute.
        parent.append(proto.__copy__())  # type: ignore[attr-defined]  # lxml-stubs lack __copy__


_TEMPLATE_IDS: dict[str, etree._Element] = {}


def ident(
    parent: etree._Element, root: str, extension: str = "", name: str = "id"
) -> etree._Element:
    return sub(parent, name, {"root": root, "extension": extension})


def coded(
    parent: etree._Element,
    name: str,
    code: str,
    system: str,
    display: str = "",
    system_name: str = "",
) -> etree._Element:
    return sub(
        parent,
        name,
        {
            "code": code,
            "displayName": display,
            "codeSystem": system,
            "codeSystemName": system_name,
        },
    )


def loinc(parent: etree._Element, code: Coded, name: str = "code") -> etree._Element:
    return coded(parent, name, code.code, LOINC, code.display or code.code, "LOINC")


# JDV_J245 civilité (prefix) and JDV_J246 titre (suffix): other values fail StrucMin, so they are dropped.
CIVILITES = frozenset({"M", "MME"})
TITRES = frozenset({"DR", "MC", "MG", "PC", "PG", "PR"})


def person_name(parent: etree._Element, name: PersonName) -> etree._Element:
    el = sub(parent, "name")
    prefix = name.prefix.upper().rstrip(".")
    if prefix in CIVILITES:
        text_sub(el, "prefix", prefix)
    for given in name.given[:1]:
        text_sub(el, "given", given)
    text_sub(el, "family", name.family or "")
    suffix = next(
        (
            s.upper().rstrip(".")
            for s in (name.suffix, name.degree, name.prefix)
            if s.upper().rstrip(".") in TITRES
        ),
        "",
    )
    if suffix:
        text_sub(el, "suffix", suffix)
    return el


def address(
    parent: etree._Element,
    street: str,
    postal_code: str,
    city: str,
    country: str = "",
    use: str = "",
) -> etree._Element:
    if not (street or postal_code or city):
        # A nullFlavor stands alone (StrucMin dtr1-1-ANY): no use attribute beside it.
        return sub(parent, "addr", nullFlavor="UNK")
    el = sub(parent, "addr", {"use": use})
    if street:
        text_sub(el, "streetAddressLine", street)
    if postal_code:
        text_sub(el, "postalCode", postal_code)
    if city:
        text_sub(el, "city", city)
    if country:
        text_sub(el, "country", country)
    return el


def telecom(parent: etree._Element, value: str, use: str = "WP") -> etree._Element:
    if not value:
        return sub(parent, "telecom", nullFlavor="NASK")
    return sub(parent, "telecom", value=value, use=use)
