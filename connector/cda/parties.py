"""Header participations: author, custodian, recipients, authenticators, prescriber, samplers.

Only what the SIL's data can fill honestly; rules in docs/spec/cda-crbio.md §1. Each
shape here was checked against the six ANS schematrons (tests/integration/test_cda_*.py).
"""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

from connector.model import RPPS_OID, Order, Practitioner, Result
from connector.model.oids import IdKind, oid_for

from .context import BIOLOGIST_ROLE, STRUCTURE_OID, BuildContext, Person
from .elements import XSI_TYPE, address, coded, ident, person_name, sub, telecom, templates, text_sub

__all__ = [
    "assigned",
    "authenticator",
    "author",
    "custodian",
    "information_recipient",
    "legal_authenticator",
    "prescriber",
    "samplers",
    "validation_time",
]

VALIDATOR_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.5"
PRESCRIBER_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.6"
RECIPIENT_TEMPLATE = "1.3.6.1.4.1.19376.1.3.3.1.4"
PRACTICE_SETTING_SYSTEM = "1.2.250.1.213.1.1.4.9"
PRACTICE_SETTINGS = {
    "AMBULATOIRE": "Ambulatoire",
    "ETABLISSEMENT": "Etablissement de santé",
}
SAMPLER_FUNCTION = ("PRELV", "1.2.250.1.213.1.1.4.2.280", "Préleveur")  # CR-BIO participant PRF


def organization(parent: etree._Element, ctx: BuildContext, tag: str, *, setting: bool = False) -> None:
    lab = ctx.lab
    org = sub(parent, tag)
    ident(org, STRUCTURE_OID, ctx.structure_id)
    text_sub(org, "name", lab.name)
    telecom(org, lab.telecom)
    address(org, lab.street, lab.postal_code, lab.city)
    if setting:
        code = lab.practice_setting_code
        coded(org, "standardIndustryClassCode", code, PRACTICE_SETTING_SYSTEM, PRACTICE_SETTINGS.get(code, code))


def assigned(parent: etree._Element, ctx: BuildContext, person: Person, tag: str, *, setting: bool = False) -> None:
    """A biologist of the lab (id, role, lab address, name, lab)."""
    # The same biologist appears up to ~10 times: build once per document, then copy (C-level, ~20× faster).
    key = (person.idnps, tag, setting)
    cached = ctx.cache.get(key)
    if cached is not None:
        parent.append(deepcopy(cached))
        return
    entity = sub(parent, tag)
    ctx.cache[key] = entity
    ident(entity, RPPS_OID, person.idnps)
    coded(entity, "code", BIOLOGIST_ROLE[0], BIOLOGIST_ROLE[2], BIOLOGIST_ROLE[1])
    address(entity, ctx.lab.street, ctx.lab.postal_code, ctx.lab.city)
    telecom(entity, ctx.lab.telecom)
    person_name(sub(entity, "assignedPerson"), person.name)
    organization(entity, ctx, "representedOrganization", setting=setting)


def author(root: etree._Element, ctx: BuildContext) -> None:
    el = sub(root, "author")
    sub(el, "time", value=ctx.effective_time)
    assigned(el, ctx, ctx.biologist, "assignedAuthor", setting=True)


def custodian(root: etree._Element, ctx: BuildContext) -> None:
    organization(sub(sub(root, "custodian"), "assignedCustodian"), ctx, "representedCustodianOrganization")


def information_recipient(root: etree._Element, ctx: BuildContext) -> None:
    """The prescriber as intended recipient, when we know their national id (IDNPS).

    The volet shows ``telecom mailto:`` too, but the MSSanté address is looked up later by
    the send stage and may not exist; the schematrons accept the recipient without it.
    """
    doctor = ctx.mapped.report.prescriber
    if doctor is None or not doctor.idnps:
        return
    recipient = sub(sub(root, "informationRecipient"), "intendedRecipient")
    templates(recipient, RECIPIENT_TEMPLATE)
    ident(recipient, RPPS_OID, doctor.idnps)
    person_name(sub(recipient, "informationRecipient"), doctor.name)


def legal_authenticator(root: etree._Element, ctx: BuildContext) -> None:
    legal = sub(root, "legalAuthenticator")
    sub(legal, "time", value=ctx.effective_time)
    sub(legal, "signatureCode", code="S")
    assigned(legal, ctx, ctx.biologist, "assignedEntity", setting=True)


def _results(order: Order) -> tuple[Result, ...]:
    return (*order.results, *(r for s in order.specimens for r in s.results))


def validation_time(ctx: BuildContext, validator: Person) -> str:
    """When ``validator`` last validated, as TS: the latest OBX-19 (analysis) of their results,
    else the latest OBR-22 (results released) of their orders, else the document time.

    HL7 v2.5 has no per-result validation time. OBX-19 is the closest lower bound; OBX-14 is
    not used: in lab results it is the specimen collection time, before any analysis.
    """
    analysed: list[str] = []
    released: list[str] = []
    for order in ctx.mapped.report.orders:
        theirs = [
            r
            for r in _results(order)
            if r.responsible_observer is not None and r.responsible_observer.idnps == validator.idnps
        ]
        analysed += [r.analysed_at for r in theirs if r.analysed_at]
        if theirs and order.reported_at:
            released.append(order.reported_at)
    if analysed:
        return ctx.ts(max(analysed), "OBX-19 (analysis time)")
    if released:
        return ctx.ts(max(released), "OBR-22 (results released)")
    return ctx.effective_time


def authenticator(root: etree._Element, ctx: BuildContext, validator: Person) -> None:
    auth = sub(root, "authenticator")
    templates(auth, VALIDATOR_TEMPLATE)
    sub(auth, "time", value=validation_time(ctx, validator))
    sub(auth, "signatureCode", code="S")
    assigned(auth, ctx, validator, "assignedEntity")


def prescriber(root: etree._Element, ctx: BuildContext) -> None:
    report = ctx.mapped.report
    doctor = report.prescriber
    if doctor is None or _participant_id(ctx, doctor) is None:
        return  # StrucMin wants a participant id with root and extension; the PDF copy still names them
    part = sub(root, "participant", typeCode="REF")
    templates(part, PRESCRIBER_TEMPLATE)
    requested = next((o.requested_at for o in report.orders if o.requested_at), "")
    if requested:
        time = sub(part, "time", {XSI_TYPE: "IVL_TS"})
        sub(time, "high", value=ctx.ts(requested, "OBR-6 (prescription date)"))
    else:
        sub(part, "time", nullFlavor="UNK")
    _associated(part, ctx, doctor)


def samplers(root: etree._Element, ctx: BuildContext) -> None:
    """``participant PRF`` / ``PRELV`` for each person who collected a specimen (OBR-10), at its time."""
    seen: set[tuple[str, str]] = set()
    for order in ctx.mapped.report.orders:
        person = order.collector
        if person is None or _participant_id(ctx, person) is None:
            continue
        key = (person.idnps or (person.identifier.value if person.identifier else ""), person.name.family)
        if key in seen:
            continue
        seen.add(key)
        part = sub(root, "participant", typeCode="PRF")
        coded(part, "functionCode", SAMPLER_FUNCTION[0], SAMPLER_FUNCTION[1], SAMPLER_FUNCTION[2])
        if order.collected_at:
            time = sub(part, "time", {XSI_TYPE: "IVL_TS"})
            sub(time, "high", value=ctx.ts(order.collected_at, "OBR-7 (collection time)"))
        else:
            sub(part, "time", nullFlavor="UNK")
        _associated(part, ctx, person)


def _participant_id(ctx: BuildContext, person: Practitioner) -> tuple[str, str] | None:
    """National id (RPPS/ADELI), else the SIL's own id under the lab's practitioner arc, else None."""
    if person.idnps:
        return RPPS_OID, person.idnps
    if person.identifier is not None and person.identifier.value:
        return oid_for(ctx.lab.oid_root, IdKind.PRACTITIONER), person.identifier.value
    return None


def _associated(part: etree._Element, ctx: BuildContext, person: Practitioner) -> None:
    """``associatedEntity`` PROV: its id (root and extension, StrucMin CI-SISParticipant) and name."""
    entity = sub(part, "associatedEntity", classCode="PROV")
    root, extension = _participant_id(ctx, person) or ("", "")
    ident(entity, root, extension)
    person_name(sub(entity, "associatedPerson"), person.name)
