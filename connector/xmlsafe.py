"""The only place that parses XML: no entities, no DTD, no network, no huge trees.

lxml (even 5.x/6.x) expands internal entities by default, so every parse of bytes we
did not write ourselves (embedded CDA, XML parts of returned mail, the ANS kit)
goes through :func:`parse_xml`.
"""

from __future__ import annotations

from lxml import etree

from connector.errors import InputError

__all__ = ["SAFE_PARSER", "parse_xml"]

SAFE_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
)


def parse_xml(data: bytes, *, source: str = "") -> etree._Element:
    """Parse ``data`` safely; a DOCTYPE (the door to entity tricks) is refused outright."""
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data:
        raise InputError("XML without DOCTYPE or ENTITY declarations", source=source)
    try:
        return etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        # lxml messages quote positions, not content; keep only the position.
        raise InputError(f"well-formed XML (error at line {exc.lineno})", source=source) from None
