"""CR-BIO header: ids, patient, author, custodian, authenticators, prescriber, order,
service events (one per chapter) and the encounter. Rules: docs/spec/cda-crbio.md §1."""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from connector.errors import CdaBuildError
from connector.model import RPPS_OID, Coded, Patient

from .context import BIOLOGIST_ROLE, FINAL_STATUSES, STRUCTURE_OID, BuildContext, Person
from .elements import (
    XSI_TYPE,
    address,
    coded,
    ident,
    loinc,
    person_name,
    sub,
    telecom,
    templates,
    text_sub,
)

__all__ = ["build_header", "chapter_status"]

DOC_TEMPLATES = (
    "2.16.840.1.113883.2.8.2.1",
    "1.2.250.1.213.1.1.1.1",
    "1.3.6.1.4.1.19376.1.3.3",
    "1.2.250.1.213.1.1.1.55",
)
# Level 1 (nonXMLBody): StrucMin admits exactly these three templateIds.
N1_TEMPLATES = (
    "2.16.840.1.113883.2.8.2.1",
    "1.2.250.1.213.1.1.1.1",
    "1.3.6.1.4.1.19376.1.2.20",
)
# Service event of a level-1 report (no chapter is known): the document type itself.
N1_SERVICE = Coded("11502-2", "CR d'examens biologiques", "2.16.840.1.113883.6.1")
GENDERS = {"F": "Féminin", "M": "Masculin", "U": "Inconnu"}
GENDER_SYSTEM = "2.16.840.1.113883.5.1"
VALIDATOR_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.5"
PRESCRIBER_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.6"
PERFORMER_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.7"
FACILITY_SYSTEM = "1.2.250.1.71.4.2.4"
PRACTICE_SETTING_SYSTEM = "1.2.250.1.213.1.1.4.9"
PRACTICE_SETTINGS = {
    "AMBULATOIRE": "Ambulatoire",
    "ETABLISSEMENT": "Etablissement de santé",
}
LOCAL_PRESCRIBER_SUFFIX = (
    ".4"  # non-national prescriber ids are minted under <lab OID>.4
)
ORDER_SUFFIX = ".2"  # order (placer) numbers: <lab OID>.2


def build_header(
    root: etree._Element, ctx: BuildContext, chapters: tuple[Coded, ...]
) -> None:
    """Header of a level-3 document, or of a level-1 one when ``chapters`` is empty."""
    ids, report = ctx.ids, ctx.mapped.report
    sub(root, "realmCode", code="FR")
    sub(root, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    templates(root, *(DOC_TEMPLATES if chapters else N1_TEMPLATES))
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
    _author(root, ctx)
    _custodian(root, ctx)
    _legal_authenticator(root, ctx)
    for validator in ctx.validators:
        _authenticator(root, ctx, validator)
    _prescriber(root, ctx)
    _order(root, ctx)
    for i, chapter in enumerate(chapters or (N1_SERVICE,)):
        _service_event(root, ctx, chapter, main=i == 0)
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
        ident(role, ctx.lab.ipp_oid, ipp.value)
    elif not qualified:
        raise CdaBuildError(
            f"report {ctx.report_id}: PID-3 holds no lab patient id (IPP) and no qualified INS"
        )
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
    sex = patient.sex.upper() if patient.sex.upper() in GENDERS else "U"
    coded(person, "administrativeGenderCode", sex, GENDER_SYSTEM, GENDERS[sex])
    if patient.birth_date:
        sub(person, "birthTime", value=ctx.ts(patient.birth_date, "PID-7"))
    elif qualified:
        raise CdaBuildError(
            f"report {ctx.report_id}: qualified INS without birth date (PID-7)"
        )
    if qualified:
        place = patient.birth_place
        if place is None or not place.county:
            raise CdaBuildError(
                f"report {ctx.report_id}: qualified INS without the INSEE code of the birth place (PID-11 BDL, XAD-9)"
            )
        addr = sub(sub(sub(person, "birthplace"), "place"), "addr")
        text_sub(addr, "county", place.county)
        if place.city:
            text_sub(addr, "city", place.city)


def _patient_name(
    person: etree._Element, ctx: BuildContext, patient: Patient, qualified: bool
) -> None:
    birth = patient.birth_name
    if birth is None or not birth.family:
        raise CdaBuildError(f"report {ctx.report_id}: PID-5 holds no family name")
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


# ---------------------------------------------------------------------------- professionals


def _organization(
    parent: etree._Element, ctx: BuildContext, tag: str, *, setting: bool = False
) -> None:
    lab = ctx.lab
    org = sub(parent, tag)
    ident(org, STRUCTURE_OID, ctx.structure_id)
    text_sub(org, "name", lab.name)
    telecom(org, lab.telecom)
    address(org, lab.street, lab.postal_code, lab.city)
    if setting:
        code = lab.practice_setting_code
        coded(
            org,
            "standardIndustryClassCode",
            code,
            PRACTICE_SETTING_SYSTEM,
            PRACTICE_SETTINGS.get(code, code),
        )


def _assigned(
    parent: etree._Element,
    ctx: BuildContext,
    person: Person,
    tag: str,
    *,
    setting: bool = False,
) -> None:
    # The same biologist appears up to five times: build once per document, then copy (C-level, ~20× faster).
    key = (person.idnps, tag, setting)
    cached = ctx.cache.get(key)
    if cached is not None:
        parent.append(deepcopy(cached))
        return
    entity = sub(parent, tag)
    ctx.cache[key] = entity
    ident(entity, RPPS_OID, person.idnps)
    coded(entity, "code", *BIOLOGIST_ROLE[:1], BIOLOGIST_ROLE[2], BIOLOGIST_ROLE[1])
    address(entity, ctx.lab.street, ctx.lab.postal_code, ctx.lab.city)
    telecom(entity, ctx.lab.telecom)
    person_name(sub(entity, "assignedPerson"), person.name)
    _organization(entity, ctx, "representedOrganization", setting=setting)


def _author(root: etree._Element, ctx: BuildContext) -> None:
    author = sub(root, "author")
    sub(author, "time", value=ctx.effective_time)
    _assigned(author, ctx, ctx.biologist, "assignedAuthor", setting=True)


def _custodian(root: etree._Element, ctx: BuildContext) -> None:
    _organization(
        sub(sub(root, "custodian"), "assignedCustodian"),
        ctx,
        "representedCustodianOrganization",
    )


def _legal_authenticator(root: etree._Element, ctx: BuildContext) -> None:
    legal = sub(root, "legalAuthenticator")
    sub(legal, "time", value=ctx.effective_time)
    sub(legal, "signatureCode", code="S")
    _assigned(legal, ctx, ctx.biologist, "assignedEntity", setting=True)


def _authenticator(root: etree._Element, ctx: BuildContext, validator: Person) -> None:
    auth = sub(root, "authenticator")
    templates(auth, VALIDATOR_TEMPLATE)
    sub(auth, "time", value=ctx.effective_time)
    sub(auth, "signatureCode", code="S")
    _assigned(auth, ctx, validator, "assignedEntity")


def _prescriber(root: etree._Element, ctx: BuildContext) -> None:
    report = ctx.mapped.report
    prescriber = report.prescriber
    if prescriber is None:
        return
    part = sub(root, "participant", typeCode="REF")
    templates(part, PRESCRIBER_TEMPLATE)
    requested = next((o.requested_at for o in report.orders if o.requested_at), "")
    if requested:
        time = sub(part, "time", {XSI_TYPE: "IVL_TS"})
        sub(time, "high", value=ctx.ts(requested, "OBR-6 (prescription date)"))
    else:
        sub(part, "time", nullFlavor="UNK")
    entity = sub(part, "associatedEntity", classCode="PROV")
    if prescriber.idnps:
        ident(entity, RPPS_OID, prescriber.idnps)
    elif prescriber.identifier is not None and prescriber.identifier.value:
        ident(
            entity,
            ctx.lab.oid_root + LOCAL_PRESCRIBER_SUFFIX,
            prescriber.identifier.value,
        )
    else:
        sub(entity, "id", nullFlavor="UNK")
    person_name(sub(entity, "associatedPerson"), prescriber.name)


def _order(root: etree._Element, ctx: BuildContext) -> None:
    for order in ctx.mapped.report.orders:
        number = order.placer_number or order.filler_number
        if number is not None and number.value:
            ident(
                sub(sub(root, "inFulfillmentOf"), "order"),
                ctx.lab.oid_root + ORDER_SUFFIX,
                number.value,
            )
            return


# ---------------------------------------------------------------------------- acts


def chapter_status(ctx: BuildContext, chapter: Coded) -> str:
    """``completed`` when every result of the chapter is final, else ``active``."""
    for mapped in ctx.mapped.results:
        if (
            mapped.chapter.code == chapter.code
            and mapped.result.status.upper() not in FINAL_STATUSES
        ):
            return "active"
    return "completed"


def _times(ctx: BuildContext, chapter: Coded | None) -> tuple[str, str]:
    """(earliest receipt or collection, latest report) over the chapter's orders, as TS."""
    lows, highs = [], []
    for order in ctx.mapped.report.orders:
        lows += [t for t in (order.received_at, order.collected_at) if t]
        lows += [
            s.received_at or s.collected_at
            for s in order.specimens
            if s.received_at or s.collected_at
        ]
        highs += [t for t in (order.reported_at,) if t]
    low = ctx.ts(min(lows), "OBR-14/OBR-7") if lows else ctx.effective_time
    high = ctx.ts(max(highs), "OBR-22") if highs else ctx.effective_time
    return low, high


def _service_event(
    root: etree._Element, ctx: BuildContext, chapter: Coded, *, main: bool
) -> None:
    """The main act (first chapter) carries the performer; each chapter its status and times."""
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
    if not main:
        return
    performer = sub(event, "performer", typeCode="PRF")
    templates(performer, PERFORMER_TEMPLATE)
    sub(sub(performer, "time"), "high", value=high)
    _assigned(performer, ctx, ctx.biologist, "assignedEntity", setting=True)


def _encounter(root: etree._Element, ctx: BuildContext) -> None:
    encounter = sub(sub(root, "componentOf"), "encompassingEncounter")
    low, _ = _times(ctx, None)
    sub(sub(encounter, "effectiveTime"), "low", value=low)
    responsible = sub(encounter, "responsibleParty")
    _assigned(responsible, ctx, ctx.biologist, "assignedEntity")
    facility = sub(sub(encounter, "location"), "healthCareFacility")
    code = ctx.lab.healthcare_facility_code
    coded(
        facility,
        "code",
        code,
        FACILITY_SYSTEM,
        "Laboratoire de biologie médicale" if code == "SA25" else code,
    )
