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
    """Parse ``data`` safely; any DOCTYPE (the door to entity tricks) is refused outright.

    The parser itself says whether there was a DTD: a byte scan saw ``<!DOCTYPE`` in UTF-8 within
    the first 4 kB only, so a DTD in UTF-16 or after a long comment slipped through, and the entity
    reference it left in the tree made schema validation raise. Nothing is expanded or fetched
    meanwhile (``resolve_entities=False``, ``load_dtd=False``, ``no_network=True``).
    """
    try:
        root = etree.fromstring(data, SAFE_PARSER)
    except etree.XMLSyntaxError as exc:
        # lxml messages quote positions, not content; keep only the position.
        raise InputError(f"well-formed XML (error at line {exc.lineno})", source=source) from None
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype or info.system_url:
        raise InputError("XML without a DOCTYPE (no DTD, no entity declarations)", source=source)
    return root
