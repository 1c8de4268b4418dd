"""ebRIM 3.0 elements shared by the two XDS writers: the XDM METADATA.XML and the DMP's requests.

The writers differ in how they number objects (uuid5 for a byte-stable METADATA.XML, symbolic
``cla1``… as in the DMP's examples) and in the LocalizedString conventions each profile's examples
use; how a slot or a name is written is the same and lives here once.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["RIM", "XML_NS", "RimElements"]

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
XML_NS = "http://www.w3.org/XML/1998/namespace"


class RimElements:
    """Appends rim elements; subclasses say how a LocalizedString is labelled."""

    charset = "UTF-8"
    lang = "fr-FR"

    @staticmethod
    def el(parent: etree._Element, tag: str, **attrs: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{RIM}}}{tag}", attrs)

    def slot(self, parent: etree._Element, name: str, *values: str) -> None:
        """A Slot with its non-empty values; nothing when there are none (an empty slot is invalid)."""
        kept = tuple(v for v in values if v)
        if not kept:
            return
        value_list = self.el(self.el(parent, "Slot", name=name), "ValueList")
        for value in kept:
            self.el(value_list, "Value").text = value

    def name(self, parent: etree._Element, text: str, tag: str = "Name") -> None:
        if text:
            string = self.el(self.el(parent, tag), "LocalizedString", charset=self.charset, value=text)
            string.set(f"{{{XML_NS}}}lang", self.lang)
