"""Issue 12 class 8: no recipient the message names vanishes. Each is routed, or unresolved with a reason."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.model import (
    Coded,
    DocumentFlags,
    Identifier,
    IdentityStatus,
    LabReport,
    MessageHeader,
    Order,
    Participant,
    Patient,
    PersonName,
    Practitioner,
)
from connector.model.outcomes import RecipientProblem
from connector.parse import parse_message
from connector.send import Directory, route
from tests.support.directory import directory_of, row
from tests.support.settings import PARSE, routing_settings

LISTED, UNLISTED = "810000000101", "810000000901"


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Directory:
    return directory_of(tmp_path_factory.mktemp("dir"), [row("listed@cabinet.test", LISTED, family="LISTE")])


def _doctor(kind: str) -> Practitioner:
    if kind == "listed":
        return Practitioner(identifier=Identifier(LISTED, oid="1.2.250.1.71.4.2.1", type_code="IDNPS"),
                            name=PersonName(family="LISTE"))
    if kind == "unlisted":
        return Practitioner(identifier=Identifier(UNLISTED, oid="1.2.250.1.71.4.2.1"), name=PersonName(family="ABSENT"))
    if kind == "local":
        return Practitioner(identifier=Identifier("DR42", authority="LABO"), name=PersonName(family="LOCAL"))
    return Practitioner(identifier=None, name=PersonName(family="SANSID"))


def _report(prescriber: str, copies: list[str], *, flags: DocumentFlags | None = None,
            prt: tuple[Participant, ...] = ()) -> LabReport:
    order = Order(service=Coded("NFS"), prescriber=_doctor(prescriber), copy_to=tuple(_doctor(c) for c in copies))
    patient = Patient(identifiers=(Identifier("IPP1"),), identity_status=IdentityStatus.VALIDATED)
    return LabReport(report_id="r-1", header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
                     patient=patient, orders=(order,), participants=prt, flags=flags)


KINDS = ("listed", "unlisted", "local", "name")
EXPECTED = {"unlisted": RecipientProblem.NOT_IN_DIRECTORY, "local": RecipientProblem.NO_NATIONAL_ID,
            "name": RecipientProblem.NO_NATIONAL_ID}


@given(prescriber=st.sampled_from(KINDS), copies=st.lists(st.sampled_from(KINDS), max_size=4),
       copy_to=st.booleans())
def test_every_named_doctor_is_routed_or_unresolved_with_a_reason(
    directory: Directory, prescriber: str, copies: list[str], copy_to: bool
) -> None:
    routing = route(_report(prescriber, copies), directory, routing_settings(copy_to=copy_to))
    reached = {r.idnps for r in routing.recipients}
    for kind, role in [(prescriber, "prescriber"), *((c, "copy") for c in copies)]:
        if kind == "listed" and (role == "prescriber" or copy_to or LISTED in reached):
            assert LISTED in reached
            continue
        person = _doctor(kind)
        matches = [u for u in routing.unresolved if u.name == person.name.family]
        assert matches, f"{role} {kind} vanished"
        expected = (RecipientProblem.COPY_TO_DISABLED if role == "copy" and not copy_to and
                    not any(u.kind == "prescriber" for u in matches) else EXPECTED[kind])
        assert any(u.problem is expected for u in matches)
        assert all(u.reason and u.field in ("ORC-12/OBR-16", "OBR-28") for u in matches)


def test_same_copy_on_three_orders_is_one_unresolved_recipient(directory: Directory) -> None:
    one = _report("listed", ["unlisted"])
    report = dataclasses.replace(one, orders=one.orders * 3)
    routing = route(report, directory, routing_settings())
    assert [u.idnps for u in routing.unresolved] == [UNLISTED]
    assert routing.unresolved[0].reason.endswith("import a fresh directory extract")


def test_every_order_prescriber_is_a_recipient(directory: Directory) -> None:
    first = _report("local", [])
    second = _report("listed", [])
    report = dataclasses.replace(first, orders=(*first.orders, *second.orders))
    routing = route(report, directory, routing_settings())
    assert [r.idnps for r in routing.recipients] == [LISTED]  # the second order's prescriber is not dropped
    assert [(u.kind, u.local_id) for u in routing.unresolved] == [("prescriber", "DR42")]


def test_masked_document_reports_the_professionals_it_does_not_reach(directory: Directory) -> None:
    flags = DocumentFlags(values=(("MASQUE_PS", True), ("DESTMSSANTEPAT", True)))
    prt = (Participant(role="RCT", person=_doctor("listed"), address="listed@cabinet.test"),)
    report = _report("listed", [], flags=flags, prt=prt)
    patient = Patient(identifiers=(Identifier("199990000000042", oid="1.2.250.1.213.1.4.8"),),
                      identity_status=IdentityStatus.QUALIFIED)
    routing = route(dataclasses.replace(report, patient=patient),
                    directory, routing_settings())
    assert [r.kind for r in routing.recipients] == ["patient"]
    assert [u.problem for u in routing.unresolved] == [RecipientProblem.NOT_FOR_PROFESSIONALS]


def test_patient_mailbox_without_qualified_ins_is_reported(directory: Directory) -> None:
    routing = route(_report("listed", []), directory, routing_settings(patient_mailbox=True))
    assert [(u.kind, u.problem) for u in routing.unresolved] == [("patient", RecipientProblem.PATIENT_NOT_QUALIFIED)]
    assert routing.unresolved[0].reason.startswith("patient unnamed (PID-3/PID-32)")


def test_copy_to_idnps_without_authority_is_looked_up(directory: Directory) -> None:
    """The case of the issue: OBR-28 '8…' with no assigning authority was dropped without any event."""
    message = (
        "MSH|^~\\&|SIL|LABO|C|D|20260601101500||ORU^R01|R1|P|2.5\r"
        "PID|1||IPP1^^^LABO^PI||ZQNOM^A||19800101|F\r"
        "OBR|1|C1|D1|NFS^NFS^L|||202606010800||||||||||||||||||F|||"
        f"{LISTED}^LISTE^LEA^^^DR~{UNLISTED}^ABSENT^PAUL^^^DR\r"
        "OBX|1|NM|HB^Hb^L||13|g/dL|||||F\r"
    ).encode()
    (report,) = parse_message(message, settings=PARSE)
    assert [d.idnps for d in report.orders[0].copy_to] == [LISTED, UNLISTED]
    routing = route(report, directory, routing_settings())
    assert [r.address for r in routing.recipients] == ["listed@cabinet.test"]
    assert [(u.field, u.idnps, u.problem) for u in routing.unresolved] == [
        ("OBR-28", UNLISTED, RecipientProblem.NOT_IN_DIRECTORY)]
