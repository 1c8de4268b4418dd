"""CR-BIO header: ids, patient, participations (parties.py), order, service events (one
per chapter, each with the lab as performer) and the encounter. Rules: docs/spec/cda-crbio.md §1."""

from __future__ import annotations

from lxml import etree

from connector.errors import ReportRefused
from connector.model import Coded, Order, Patient
from connector.model.oids import IdKind, oid_for
from connector.model.outcomes import RefusalReason

from .context import FINAL_STATUSES, BuildContext
from .elements import address, coded, ident, loinc, sub, templates, text_sub
from .parties import (
    assigned,
    authenticator,
    author,
    custodian,
    information_recipient,
    legal_authenticator,
    prescriber,
    samplers,
)

__all__ = ["build_header", "chapter_status"]

DOC_TEMPLATES = (
    "2.16.840.1.113883.2.8.2.1",
    "1.2.250.1.213.1.1.1.1",
    "1.3.6.1.4.1.19376.1.3.3",
    "1.2.250.1.213.1.1.1.55",
)
# JDV_J143_AdministrativeGender_CISIS: F, M, UN. PID-8 (HL7 table 0001) also has U unknown, O other,
# A ambiguous, N not applicable and empty: none of them is F or M, and the value set has only UN for them.
GENDERS = {"F": "Féminin", "M": "Masculin", "UN": "Inconnu"}
GENDER_OF_PID8 = {"F": "F", "M": "M"}
GENDER_SYSTEM = "2.16.840.1.113883.5.1"
PERFORMER_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.7"
FACILITY_SYSTEM = "1.2.250.1.71.4.2.4"



def build_header(root: etree._Element, ctx: BuildContext, chapters: tuple[Coded, ...]) -> None:
    """Header of a level-3 document (``chapters``: at least one; a report without results is refused before)."""
    ids, report = ctx.ids, ctx.mapped.report
    sub(root, "realmCode", code="FR")
    sub(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    templates(root, *DOC_TEMPLATES)
    ident(root, ids.document_id_root, ids.document_id_extension)
    coded(
        root,
        "code",
        "11502-2",
        "2.16.840.1.113883.6.1",
        "CR d'examens biologiques",
        "LOINC",
    )
    text_sub(root, "title", "Compte rendu d'examens biologiques")
    sub(root, "effectiveTime", value=ctx.effective_time)
    coded(root, "confidentialityCode", "N", "2.16.840.1.113883.5.25", "Normal")
    sub(root, "languageCode", code="fr-FR")
    ident(root, ids.set_id_root, ids.set_id_extension, "setId")
    sub(root, "versionNumber", value=str(ids.version))
    _record_target(root, ctx, report.patient)
    author(root, ctx)
    custodian(root, ctx)
    information_recipient(root, ctx)
    legal_authenticator(root, ctx)
    for validator in ctx.validators:
        authenticator(root, ctx, validator)
    prescriber(root, ctx)
    samplers(root, ctx)
    _order(root, ctx)
    for chapter in chapters:
        _service_event(root, ctx, chapter)
    if ids.replaces:
        rel = sub(root, "relatedDocument", typeCode="RPLC")
        ident(sub(rel, "parentDocument"), ids.replaces[0], ids.replaces[1])
    _encounter(root, ctx)


# ---------------------------------------------------------------------------- patient


def _record_target(root: etree._Element, ctx: BuildContext, patient: Patient) -> None:
    role = sub(sub(root, "recordTarget"), "patientRole")
    qualified = patient.ins_qualified
    ins, ipp = patient.ins, patient.ipp
    if qualified and ins is not None:
        ident(role, ins.oid, ins.value)
    if ipp is not None and ipp.value:
        # The SIL's own assigning authority (PID-3 CX-4) when it sends one; the configured one otherwise.
        ident(role, ipp.oid or ctx.lab.ipp_oid, ipp.value)
    elif not qualified:
        raise ReportRefused(f"report {ctx.report_id}: PID-3 holds no lab patient id (IPP) and no qualified INS",
                            reason=RefusalReason.PATIENT_ID_MISSING)
    home = next((a for a in patient.addresses if a.address_type != "BDL"), None)
    if home is not None:
        address(
            role,
            " ".join(p for p in (home.street, home.other) if p),
            home.postal_code,
            home.city,
            use="H",
        )
    person = sub(role, "patient", classCode="PSN")
    _patient_name(person, ctx, patient, qualified)
    sex = GENDER_OF_PID8.get(patient.sex.strip().upper(), "UN")
    coded(person, "administrativeGenderCode", sex, GENDER_SYSTEM, GENDERS[sex])
    if not patient.birth_date:
        # StrucMin (CI-SISRecordTarget) requires birthTime with @value, and dtr1-1-ANY forbids a value
        # beside a nullFlavor: the volet's birthTime nullFlavor="UNK" fails it. No valid document exists.
        raise ReportRefused(f"report {ctx.report_id}: PID-7 (birth date) is empty: a CR-BIO document needs the "
                            "patient's birth date (StrucMin CI-SISRecordTarget); the SIL must send it",
                            reason=RefusalReason.BIRTH_DATE_MISSING)
    sub(person, "birthTime", value=ctx.ts(patient.birth_date, "PID-7"))
    if qualified:
        place = patient.birth_place
        if place is None or not place.county:
            raise ReportRefused(
                f"report {ctx.report_id}: qualified INS without the INSEE code of the birth place (PID-11 BDL, XAD-9)",
                reason=RefusalReason.INS_TRAITS_MISSING,
            )
        addr = sub(sub(sub(person, "birthplace"), "place"), "addr")
        text_sub(addr, "county", place.county)
        if place.city:
            text_sub(addr, "city", place.city)


def _patient_name(person: etree._Element, ctx: BuildContext, patient: Patient, qualified: bool) -> None:
    birth = patient.birth_name
    if birth is None or not birth.family:
        raise ReportRefused(f"report {ctx.report_id}: PID-5 holds no family name",
                            reason=RefusalReason.PATIENT_NAME_MISSING)
    name = sub(person, "name")
    given = list(birth.given)
    if len(given) > 1 and given[1].split(" ")[:1] == given[:1]:
        given = given[1:]  # XPN-3 repeats the first given name: keep the full list once
    all_given = " ".join(g for g in given if g)
    # StrucMin wants a qualifier on every family: BR for the birth name (XPN-7 L or unspecified), CL otherwise.
    text_sub(
        name,
        "family",
        birth.family,
        {"qualifier": "BR" if qualified or birth.name_type in ("L", "") else "CL"},
    )
    if all_given:
        text_sub(name, "given", all_given)
    if qualified and birth.given:
        text_sub(name, "given", birth.given[0].split(" ")[0], {"qualifier": "BR"})


# ---------------------------------------------------------------------------- order


def _order(root: etree._Element, ctx: BuildContext) -> None:
    for order in ctx.mapped.report.orders:
        number = order.placer_number or order.filler_number
        if number is not None and number.value:
            ident(
                sub(sub(root, "inFulfillmentOf"), "order"),
                oid_for(ctx.lab.oid_root, IdKind.ORDER),
                number.value,
            )
            return


# ---------------------------------------------------------------------------- acts


def chapter_status(ctx: BuildContext, chapter: Coded) -> str:
    """``completed`` when every result of the chapter is final, else ``active``."""
    for mapped in ctx.mapped.results:
        if mapped.chapter.code == chapter.code and mapped.result.status.upper() not in FINAL_STATUSES:
            return "active"
    return "completed"


def _chapter_orders(ctx: BuildContext, chapter: Coded | None) -> list[Order]:
    """The orders holding a result of ``chapter`` (all orders for None or when none match)."""
    orders = list(ctx.mapped.report.orders)
    if chapter is None:
        return orders
    wanted = {id(m.result) for m in ctx.mapped.results if m.chapter.code == chapter.code}
    mine = [
        o for o in orders if any(id(r) in wanted for r in (*o.results, *(r for s in o.specimens for r in s.results)))
    ]
    return mine or orders


def _bounds(orders: list[Order]) -> tuple[list[str], list[str]]:
    lows, highs = [], []
    for order in orders:
        lows += [t for t in (order.received_at, order.collected_at) if t]
        lows += [s.received_at or s.collected_at for s in order.specimens if s.received_at or s.collected_at]
        highs += [t for t in (order.reported_at,) if t]
    return lows, highs


def _times(ctx: BuildContext, chapter: Coded | None) -> tuple[str, str]:
    """(earliest receipt or collection, latest report) over the chapter's orders, as TS.

    A bound the chapter's orders do not carry comes from the whole report (same visit),
    then from the document time.
    """
    lows, highs = _bounds(_chapter_orders(ctx, chapter))
    if not lows or not highs:
        all_lows, all_highs = _bounds(list(ctx.mapped.report.orders))
        lows, highs = lows or all_lows, highs or all_highs
    low = ctx.ts(min(lows), "OBR-14/OBR-7") if lows else ctx.effective_time
    high = ctx.ts(max(highs), "OBR-22") if highs else ctx.effective_time
    return low, high


def _service_event(root: etree._Element, ctx: BuildContext, chapter: Coded) -> None:
    """One act per chapter: its status, its orders' times and the lab as performer.

    The examples give the performer to the first act only; the schematrons check it
    wherever present, and every chapter is executed by this lab under its director.
    """
    event = sub(sub(root, "documentationOf"), "serviceEvent")
    loinc(event, chapter)
    sub(
        event,
        "{urn:oid:1.3.6.1.4.1.19376.1.3.2}statusCode",
        code=chapter_status(ctx, chapter),
    )
    low, high = _times(ctx, chapter)
    times = sub(event, "effectiveTime")
    sub(times, "low", value=low)
    sub(times, "high", value=high)
    performer = sub(event, "performer", typeCode="PRF")
    templates(performer, PERFORMER_TEMPLATE)
    sub(sub(performer, "time"), "high", value=high)
    assigned(performer, ctx, ctx.biologist, "assignedEntity", setting=True)


def _encounter(root: etree._Element, ctx: BuildContext) -> None:
    encounter = sub(sub(root, "componentOf"), "encompassingEncounter")
    low, _ = _times(ctx, None)
    sub(sub(encounter, "effectiveTime"), "low", value=low)
    responsible = sub(encounter, "responsibleParty")
    assigned(responsible, ctx, ctx.biologist, "assignedEntity")
    facility = sub(sub(encounter, "location"), "healthCareFacility")
    code = ctx.lab.healthcare_facility_code
    coded(
        facility,
        "code",
        code,
        FACILITY_SYSTEM,
        "Laboratoire de biologie médicale" if code == "SA25" else code,
    )
