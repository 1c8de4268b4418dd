"""OBX-23, the lab that performed a test (a subcontractor), as the observation's performer.

Template FR-Laboratoire-executant (IHE Laboratory Performer ``1.3.6.1.4.1.19376.1.3.3.1.7`` + CI-SIS
``1.2.250.1.213.1.1.3.23``, E_laboratoireExecutant_fr.sch): ``time``, ``assignedEntity/id`` and an
organization with id, name, telecom, addr and standardIndustryClassCode. OBX-23 gives a name and
maybe an id; what it does not give is written ``nullFlavor="UNK"`` (never invented).
"""

from __future__ import annotations

import re

from lxml import etree

from connector.model import LabIdentity, Organization

from .elements import ident, sub, templates, text_sub

__all__ = ["EXECUTING_TEMPLATES", "executing_lab", "is_this_lab", "organization_id"]

EXECUTING_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.3.1.7", "1.2.250.1.213.1.1.3.23")
STRUCTURE_OID = "1.2.250.1.71.4.2.2"  # national structure ids: 1 + FINESS, 3 + SIRET…
FINESS_TYPES = frozenset({"FINEG", "FINEJ", "FINESS"})
_FINESS = re.compile(r"\d{9}")


def organization_id(org: Organization) -> tuple[str, str] | None:
    """(root, extension) of OBX-23's organisation: a national structure id, its own OID, else None."""
    ident_ = org.identifier
    if ident_ is None or not ident_.value:
        return None
    if ident_.type_code.upper() in FINESS_TYPES or (
        ident_.oid in ("", STRUCTURE_OID) and _FINESS.fullmatch(ident_.value)
    ):
        return STRUCTURE_OID, "1" + ident_.value  # idNat_Struct of a FINESS (9 digits)
    if ident_.oid == STRUCTURE_OID:
        return STRUCTURE_OID, ident_.value  # already an idNat_Struct
    if ident_.oid:
        return ident_.oid, ident_.value
    return None


def is_this_lab(org: Organization, lab: LabIdentity) -> bool:
    """OBX-23 naming the sending lab itself adds nothing: the header's performer already says it."""
    found = organization_id(org)
    if found is not None:
        return found == (STRUCTURE_OID, "1" + lab.finess) or found[1] == lab.finess
    return org.name.strip().casefold() == lab.name.strip().casefold()


def executing_lab(obs: etree._Element, org: Organization, time: str) -> None:
    """``performer`` of one observation: the organisation of OBX-23, at ``time`` (a TS, or "" unknown)."""
    performer = sub(obs, "performer", typeCode="PRF")
    templates(performer, *EXECUTING_TEMPLATES)
    if time:
        sub(performer, "time", value=time)
    else:
        sub(performer, "time", nullFlavor="UNK")
    entity = sub(performer, "assignedEntity")
    sub(entity, "id", nullFlavor="UNK")  # OBX-23 names the lab, not the person who ran the test
    organization = sub(entity, "representedOrganization")
    found = organization_id(org)
    if found is not None:
        ident(organization, found[0], found[1])
    else:
        sub(organization, "id", nullFlavor="UNK")
    text_sub(organization, "name", org.name or "Laboratoire exécutant")
    sub(organization, "telecom", nullFlavor="UNK")
    sub(organization, "addr", nullFlavor="UNK")
    sub(organization, "standardIndustryClassCode", nullFlavor="UNK")
