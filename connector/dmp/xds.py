"""ebRIM 3.0 building blocks for the DMP's XDS requests: ids, slots, classifications, external ids.

The scheme UUIDs are IHE's (ITI TF-3 table 4.2.5-1), the same as the XDM METADATA.XML of
``connector/package``. Object ids are symbolic (``SubmissionSet01``, ``Document01``…), as in
the DMP's examples: the registry assigns the entryUUIDs (dmp.md §4.1).
"""

from __future__ import annotations

from lxml import etree

from connector.package import Code
from connector.package.rim import RIM, RimElements

__all__ = ["LCM", "QUERY", "RIM", "RS", "XDSB", "RimWriter"]

LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"

SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SS_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
DE_OBJECT_TYPE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
DE_CLASS = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
DE_CONFIDENTIALITY = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
DE_EVENT = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
DE_FORMAT = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
DE_FACILITY = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
DE_PRACTICE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
DE_TYPE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
ASSOCIATION_TYPE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"


class RimWriter(RimElements):
    """Appends rim elements with short symbolic ids (``cla1``, ``ei1``…) numbered in document order."""

    charset, lang = "UTF8", "FR"  # as the DMP's examples write them

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def next_id(self, prefix: str) -> str:
        self._counts[prefix] = self._counts.get(prefix, 0) + 1
        return f"{prefix}{self._counts[prefix]}"

    def classification(self, parent: etree._Element, scheme: str, owner: str, code: Code) -> etree._Element:
        node = self.el(parent, "Classification", classificationScheme=scheme, classifiedObject=owner,
                       id=self.next_id("cla"), nodeRepresentation=code.code)
        self.slot(node, "codingScheme", code.system)
        self.name(node, code.display or code.code)
        return node

    def author(self, parent: etree._Element, scheme: str, owner: str, *, person: str, institution: str,
               specialty: str) -> None:
        node = self.el(parent, "Classification", classificationScheme=scheme, classifiedObject=owner,
                       id=self.next_id("cla"), nodeRepresentation="")
        self.slot(node, "authorPerson", person)
        self.slot(node, "authorInstitution", institution)
        self.slot(node, "authorSpecialty", specialty)

    def external_id(self, parent: etree._Element, scheme: str, owner: str, value: str, label: str) -> None:
        node = self.el(parent, "ExternalIdentifier", id=self.next_id("ei"), identificationScheme=scheme,
                       registryObject=owner, value=value)
        self.name(node, label)

    def association(self, parent: etree._Element, kind: str, source: str, target: str,
                    **slots: str) -> etree._Element:
        node = self.el(parent, "Association", associationType=kind, id=self.next_id("assoc"),
                       objectType=ASSOCIATION_TYPE, sourceObject=source, targetObject=target)
        for name, value in slots.items():
            self.slot(node, name, value)
        return node
