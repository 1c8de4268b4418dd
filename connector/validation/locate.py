"""From a schematron location to the result it concerns: "which test failed" for the lab.

The ANS skeleton writes locations as ``/ClinicalDocument/component/…/observation[2]/value``:
each step is the element's name as written in the document, with ``[n]`` only when earlier
siblings share that name (``schematron-get-full-path-2``), and a final ``/@attribute`` for
attributes. The lab reads the failure against its own test codes, so the gate names the
observation's LOINC code and the local code the builder put in its ``translation``.
"""

from __future__ import annotations

import re

from lxml import etree

__all__ = ["element_at", "result_codes"]

HL7 = "urn:hl7-org:v3"
LOINC = "2.16.840.1.113883.6.1"
_STEP = re.compile(r"([^\[\]/@]+)(?:\[(\d+)\])?")


def _name(element: etree._Element) -> str:
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def element_at(root: etree._Element, location: str) -> etree._Element | None:
    """The element a location names (the owner, for an attribute), or None if it names none."""
    steps = [s for s in location.split("/") if s]
    if not steps or steps[-1].startswith("@"):
        steps = steps[:-1]
    current: etree._Element | None = None
    for step in steps:
        match = _STEP.fullmatch(step)
        if match is None:
            return None
        name, index = match.group(1), int(match.group(2) or 1)
        if current is None:
            candidates = [root] if _name(root) == name else []
        else:
            candidates = [c for c in current if isinstance(c.tag, str) and _name(c) == name]
        if len(candidates) < index:
            return None
        current = candidates[index - 1]
    return current


def result_codes(root: etree._Element, location: str) -> str:
    """``LOINC 2951-2, local NA`` for a location inside an observation; "" elsewhere."""
    element = element_at(root, location)
    while element is not None and element.tag != f"{{{HL7}}}observation":
        element = element.getparent()
    if element is None:
        return ""
    code = element.find(f"{{{HL7}}}code")
    if code is None:
        return ""
    parts = []
    if code.get("code") and code.get("codeSystem") == LOINC:
        parts.append(f"LOINC {code.get('code')}")
    for translation in code.findall(f"{{{HL7}}}translation"):
        if translation.get("code") and translation.get("codeSystem") != LOINC:
            parts.append(f"local {translation.get('code')}")
    return ", ".join(parts)
