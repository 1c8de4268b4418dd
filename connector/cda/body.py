"""Chapter sections and their entries: act → specimen, batteries, isolates, observations.

Structure (docs/spec/cda-crbio.md §2): a chapter holds either ``text`` + one entry, or
sub-chapter sections only (each ``text`` + one entry). Antibiogram results (OBR-26 points
to a culture) are rendered inside their culture's isolate organizer (``CLUSTER``).
"""

from __future__ import annotations

from collections import defaultdict
from itertools import groupby

from lxml import etree

from connector.model import Coded, CodedValue, MappedResult, Order, Specimen
from connector.model.oids import IdKind, oid_for

from .context import FINAL_STATUSES, BuildContext
from .elements import LOINC, loinc, sub, templates, text_sub
from .narrative import IdSource, SectionText
from .observation import ObservationWriter, local_code_system
from .specimens import SPECIMEN_TYPE_SYSTEM, SpecimenCode, specimen_code
from .values import code_system

__all__ = ["Renderer", "chapter_sections"]

CHAPTER_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.3.2.1", "1.2.250.1.213.1.1.2.70")
SUBCHAPTER_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.3.2.2", "1.2.250.1.213.1.1.2.71")
ENTRY_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1", "1.2.250.1.213.1.1.3.21")
SPECIMEN_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1.2", "1.2.250.1.213.1.1.3.77")
RECEIVED_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1.3", "1.2.250.1.213.1.1.3.107")
BATTERY_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1.4", "1.2.250.1.213.1.1.3.78")
ISOLATE_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1.5", "1.2.250.1.213.1.1.3.79")
# The kit's value set and examples use this (mistyped) OID for SPRECEIVE: follow them.
IHE_ACT_CODE_SYSTEM = "1.3.5.1.4.1.19376.1.5.3.2"
class Renderer:
    """Builds the chapter sections of one document."""

    def __init__(self, ctx: BuildContext, ids: IdSource) -> None:
        self.ctx = ctx
        self.ids = ids
        self.order_of: dict[int, Order] = {}
        for order in ctx.mapped.report.orders:
            for result in (
                *order.results,
                *(r for s in order.specimens for r in s.results),
            ):
                self.order_of[id(result)] = order
        self.children = self._antibiograms()

    # ------------------------------------------------------------------ structure

    def _antibiograms(self) -> dict[int, list[MappedResult]]:
        """Results whose order's OBR-26 names a culture result of this report, by culture."""
        children: dict[int, list[MappedResult]] = defaultdict(list)
        for mapped in self.ctx.mapped.results:
            order = self.order_of.get(id(mapped.result))
            parent = _parent_code(order.parent_result) if order is not None else None
            if parent is None:
                continue
            for other in self.ctx.mapped.results:
                r = other.result
                same_code = (
                    r.code.code == parent[0]
                    and isinstance(other.value, CodedValue)
                    and other is not mapped
                )
                if same_code and (
                    not parent[1] or not r.sub_id or r.sub_id == parent[1]
                ):
                    children[id(r)].append(mapped)
                    break
        return children

    def chapter_sections(self, body: etree._Element) -> None:
        nested = {id(m) for kids in self.children.values() for m in kids}
        results = [m for m in self.ctx.mapped.results if id(m) not in nested]
        for chapter in self.ctx.mapped.chapters:
            in_chapter = [m for m in results if m.chapter.code == chapter.code]
            if not in_chapter:
                continue
            section = sub(sub(body, "component"), "section")
            templates(section, *CHAPTER_TEMPLATES)
            loinc(section, chapter)
            text_sub(section, "title", chapter.display or chapter.code)
            if any(m.subchapter is not None for m in in_chapter):
                subs: dict[str, tuple[Coded, list[MappedResult]]] = {}
                for m in in_chapter:
                    code = m.subchapter or chapter
                    subs.setdefault(code.code, (code, []))[1].append(m)
                for code, members in subs.values():
                    inner = sub(sub(section, "component"), "section")
                    templates(inner, *SUBCHAPTER_TEMPLATES)
                    loinc(inner, code)
                    text_sub(inner, "title", code.display or code.code)
                    self._content(inner, code, members)
            else:
                self._content(section, chapter, in_chapter)

    def _content(
        self, section: etree._Element, code: Coded, members: list[MappedResult]
    ) -> None:
        text = SectionText(section, self.ids)
        writer = ObservationWriter(self.ctx, text)
        entry = sub(section, "entry", typeCode="DRIV")
        templates(entry, *ENTRY_TEMPLATES)
        act = sub(entry, "act", classCode="ACT", moodCode="EVN")
        loinc(act, code)
        final = all(m.result.status.upper() in FINAL_STATUSES for m in members)
        sub(act, "statusCode", code="completed" if final else "active")
        for specimen in self._specimens(members):
            self._specimen(sub(act, "entryRelationship", typeCode="COMP"), specimen)
        for battery_code, group in groupby(
            members, key=lambda m: m.battery.code if m.battery else ""
        ):
            group_list = list(group)
            if battery_code and group_list[0].battery is not None:
                slot = sub(act, "entryRelationship", typeCode="COMP")
                self._battery(slot, group_list[0].battery, group_list, text, writer)
            else:
                for m in group_list:
                    self._item(
                        sub(act, "entryRelationship", typeCode="COMP"), m, text, writer
                    )

    def _item(
        self,
        slot: etree._Element,
        m: MappedResult,
        text: SectionText,
        writer: ObservationWriter,
    ) -> None:
        kids = self.children.get(id(m.result))
        if kids and isinstance(m.value, CodedValue):
            self._isolate(slot, m, kids, text, writer)
        else:
            writer.observation(slot, m)

    def _battery(
        self,
        slot: etree._Element,
        battery: Coded,
        members: list[MappedResult],
        text: SectionText,
        writer: ObservationWriter,
    ) -> None:
        organizer = sub(slot, "organizer", classCode="BATTERY", moodCode="EVN")
        templates(organizer, *BATTERY_TEMPLATES)
        heading = text.heading(battery.display or battery.code)
        self._organizer_code(organizer, battery, heading)
        final = all(m.result.status.upper() in FINAL_STATUSES for m in members)
        sub(organizer, "statusCode", code="completed" if final else "active")
        for m in members:
            self._item(sub(organizer, "component"), m, text, writer)

    def _organizer_code(
        self, organizer: etree._Element, code: Coded, heading: str
    ) -> None:
        system = code_system(code.system)
        el = sub(organizer, "code")
        if system == LOINC and code.code:
            el.attrib.update(
                {
                    "code": code.code,
                    "displayName": code.display or code.code,
                    "codeSystem": LOINC,
                }
            )
        sub(sub(el, "originalText"), "reference", value="#" + heading)
        if system != LOINC and code.code:
            sub(
                el,
                "translation",
                code=code.code,
                displayName=code.display or code.code,  # the volet wants a displayName on a local code
                codeSystem=local_code_system(self.ctx.lab),
            )

    def _isolate(
        self,
        slot: etree._Element,
        culture: MappedResult,
        kids: list[MappedResult],
        text: SectionText,
        writer: ObservationWriter,
    ) -> None:
        """CLUSTER: organism (culture value) + the culture result + the antibiogram battery."""
        assert isinstance(culture.value, CodedValue)
        organism = culture.value.coded
        cluster = sub(slot, "organizer", classCode="CLUSTER", moodCode="EVN")
        templates(cluster, *ISOLATE_TEMPLATES)
        sub(cluster, "statusCode", code="completed")
        heading = text.heading(organism.display or organism.code)
        role = sub(
            sub(cluster, "specimen", typeCode="SPC"), "specimenRole", classCode="SPEC"
        )
        entity = sub(role, "specimenPlayingEntity", classCode="MIC")
        system = code_system(organism.system)
        code = sub(
            entity,
            "code",
            code=organism.code if system else "",
            codeSystem=system,
            displayName=organism.display if system else "",
        )
        sub(sub(code, "originalText"), "reference", value="#" + heading)
        # A local organism code stays in the narrative: the isolate's translation must be NCBI taxonomy.
        writer.observation(sub(cluster, "component"), culture)
        battery = kids[0].battery or Coded("18769-0", "Antibiogramme", "LN")
        self._battery(sub(cluster, "component"), battery, kids, text, writer)

    # ------------------------------------------------------------------ specimens

    def _specimens(self, members: list[MappedResult]) -> list[Specimen]:
        seen: dict[tuple[str, str, str], Specimen] = {}
        for m in members:
            specimen = m.specimen
            if specimen is None:
                order = self.order_of.get(id(m.result))
                if order is not None and order.specimens:
                    specimen = order.specimens[0]
                elif order is not None and order.collected_at:
                    specimen = Specimen(
                        collected_at=order.collected_at, received_at=order.received_at
                    )
            if specimen is not None and specimen.collected_at:
                key = (
                    specimen.identifier,
                    specimen.collected_at,
                    specimen.type.code if specimen.type else "",
                )
                seen.setdefault(key, specimen)
        return list(seen.values())

    def _specimen(self, slot: etree._Element, specimen: Specimen) -> None:
        proc = sub(slot, "procedure", classCode="PROC", moodCode="EVN")
        templates(proc, *SPECIMEN_TEMPLATES)
        sub(
            sub(proc, "effectiveTime"),
            "high",
            value=self.ctx.ts(specimen.collected_at, "SPM-17/OBR-7"),
        )
        role = sub(
            sub(proc, "participant", typeCode="PRD"),
            "participantRole",
            classCode="SPEC",
        )
        if specimen.identifier:
            sub(
                role,
                "id",
                root=oid_for(self.ctx.lab.oid_root, IdKind.SPECIMEN),
                extension=specimen.identifier,
            )
        else:
            sub(role, "id", nullFlavor="UNK")
        if specimen.type is not None:
            _specimen_type(sub(role, "playingEntity"), specimen_code(specimen.type))
        if specimen.received_at:
            act = sub(
                sub(proc, "entryRelationship", typeCode="COMP"),
                "act",
                classCode="ACT",
                moodCode="EVN",
            )
            templates(act, *RECEIVED_TEMPLATES)
            sub(
                act,
                "code",
                code="SPRECEIVE",
                displayName="Échantillon reçu",
                codeSystem=IHE_ACT_CODE_SYSTEM,
                codeSystemName="IHEActCode",
            )
            sub(
                act,
                "effectiveTime",
                value=self.ctx.ts(specimen.received_at, "SPM-18/OBR-14"),
            )


def _specimen_type(entity: etree._Element, found: SpecimenCode) -> None:
    """JDV_HL7_SpecimenType-CISIS code, else nullFlavor OTH with what the SIL sent (dtr1-1-ANY allows
    translation and originalText beside OTH)."""
    if found.code:
        el = sub(entity, "code", code=found.code, displayName=found.display, codeSystem=SPECIMEN_TYPE_SYSTEM)
    else:
        el = sub(entity, "code", nullFlavor="OTH")
        if found.text:
            text_sub(el, "originalText", found.text)
    if found.translation is not None:
        code, system, display = found.translation
        sub(el, "translation", code=code, codeSystem=system, displayName=display)


def _parent_code(obr26: str) -> tuple[str, str] | None:
    """OBR-26 ``CULT&Culture&L^1^…`` → (``CULT``, ``1``); None when empty."""
    if not obr26.strip():
        return None
    components = obr26.split("^")
    code = components[0].split("&")[0].strip()
    if not code:
        return None
    return code, components[1].strip() if len(components) > 1 else ""


def chapter_sections(body: etree._Element, ctx: BuildContext, ids: IdSource) -> None:
    Renderer(ctx, ids).chapter_sections(body)
