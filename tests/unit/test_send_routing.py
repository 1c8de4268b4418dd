"""Recipients: directory lookups, PRT, patient mailbox rules and the MetaDMPMSS routing matrix."""

from __future__ import annotations

import pytest

from connector.errors import ConfigError, RoutingError
from connector.model import (
    RPPS_OID,
    Coded,
    DocumentFlags,
    Identifier,
    IdentityStatus,
    LabReport,
    MessageHeader,
    Order,
    Participant,
    Patient,
    Practitioner,
)
from connector.send import Directory, recipients_for
from tests.support.directory import directory_of, row
from tests.support.settings import routing_settings

PRESCRIBER = "810000000001"
COPY = "810000000002"
SYNTHETIC_INS = "199990000000042"  # synthetic, not a real NIR


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Directory:
    return directory_of(tmp_path_factory.mktemp("dir"), [
        row(address, idnps, family="TESTEUR", given="JEAN")
        for address, idnps in (("presc@hopital.test", PRESCRIBER), ("presc2@cabinet.test", PRESCRIBER),
                               ("copy@cabinet.test", COPY), ("PRESC@hopital.test", COPY))])


def doctor(idnps: str) -> Practitioner:
    return Practitioner(identifier=Identifier(idnps, oid=RPPS_OID, type_code="IDNPS"))


def report(*, prescriber: str | None = PRESCRIBER, copies: tuple[str, ...] = (), qualified: bool = True,
           flags: dict[str, bool] | None = None, prt: tuple[Participant, ...] = ()) -> LabReport:
    patient = Patient(
        identifiers=(Identifier(SYNTHETIC_INS, oid="1.2.250.1.213.1.4.8", type_code="INS"),),
        identity_status=IdentityStatus.QUALIFIED if qualified else IdentityStatus.VALIDATED,
    )
    order = Order(service=Coded("NFS"), prescriber=doctor(prescriber) if prescriber else None,
                  copy_to=tuple(doctor(c) for c in copies))
    return LabReport(
        report_id="R-1",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
        patient=patient,
        orders=(order,),
        participants=prt,
        flags=DocumentFlags(values=tuple(flags.items())) if flags is not None else None,
    )


def addresses(recipients) -> list[tuple[str, str]]:
    return [(r.address, r.kind) for r in recipients]


def test_prescriber_all_mailboxes_and_copy_deduplicated(directory: Directory) -> None:
    got = recipients_for(report(copies=(COPY,)), directory, routing_settings())
    assert addresses(got) == [("presc@hopital.test", "prescriber"), ("presc2@cabinet.test", "prescriber"),
                              ("copy@cabinet.test", "copy")]
    assert got[0].idnps == PRESCRIBER and got[0].display_name == "JEAN TESTEUR"


def test_first_mailbox_only_and_no_copy(directory: Directory) -> None:
    got = recipients_for(report(copies=(COPY,)), directory, routing_settings(mailbox_choice="first", copy_to=False))
    assert addresses(got) == [("presc@hopital.test", "prescriber")]


def test_patient_mailbox_only_for_qualified_ins(directory: Directory) -> None:
    settings = routing_settings(patient_mailbox=True, mailbox_choice="first")
    got = recipients_for(report(), directory, settings)
    assert addresses(got)[-1] == (f"{SYNTHETIC_INS}@patient.mssante.fr", "patient")
    got = recipients_for(report(qualified=False), directory, settings)
    assert all(r.kind != "patient" for r in got)


def test_no_address_names_the_idnps_not_the_patient(directory: Directory) -> None:
    with pytest.raises(RoutingError) as err:
        recipients_for(report(prescriber="899999999999"), directory, routing_settings())
    assert "899999999999" in str(err.value) and SYNTHETIC_INS not in str(err.value)
    with pytest.raises(RoutingError, match="no prescriber"):
        recipients_for(report(prescriber=None), directory, routing_settings())


ROW_BOTH = {"MASQUE_PS": False, "INVISIBLE_PATIENT": False, "INVISIBLE_REP_LEGAUX": False,
            "DESTMSSANTEPS": True, "DESTMSSANTEPAT": True, "DESTDMP": True, "CONNEXION_SECRETE": True}
ROW_PROS = {**ROW_BOTH, "INVISIBLE_PATIENT": True, "DESTMSSANTEPAT": False}
ROW_PATIENT = {"MASQUE_PS": True, "INVISIBLE_PATIENT": False, "INVISIBLE_REP_LEGAUX": True,
               "CONNEXION_SECRETE": False, "DESTDMP": False, "DESTMSSANTEPS": False, "DESTMSSANTEPAT": True}
PRT = (
    Participant(role="SB", address="labo@labo.test"),
    Participant(role="RCT", person=doctor(COPY), address="rct@hopital.test"),
    Participant(role="RCT", person=doctor(PRESCRIBER)),  # no PRT-15.4: found in the directory
    Participant(role="RCT", address=f"{SYNTHETIC_INS}@patient.mssante.fr"),
)


def test_matrix_professionals_and_patient(directory: Directory) -> None:
    got = recipients_for(report(flags=ROW_BOTH, prt=PRT), directory, routing_settings(mailbox_choice="first"))
    assert addresses(got) == [("rct@hopital.test", "prt"), ("presc@hopital.test", "prt"),
                              (f"{SYNTHETIC_INS}@patient.mssante.fr", "patient")]


def test_matrix_professionals_only(directory: Directory) -> None:
    got = recipients_for(report(flags=ROW_PROS, prt=PRT), directory, routing_settings(patient_mailbox=True))
    assert all(r.kind == "prt" for r in got)


def test_masked_document_goes_to_the_patient_only(directory: Directory) -> None:
    got = recipients_for(report(flags=ROW_PATIENT, prt=PRT), directory, routing_settings())
    assert addresses(got) == [(f"{SYNTHETIC_INS}@patient.mssante.fr", "patient")]
    with pytest.raises(RoutingError, match="qualified INS"):
        recipients_for(report(flags=ROW_PATIENT, prt=PRT, qualified=False), directory, routing_settings())


@pytest.mark.parametrize("change", [
    {"MASQUE_PS": True},  # masked but professionals asked: never
    {"DESTMSSANTEPS": False, "DESTMSSANTEPAT": False},  # no MSSanté recipient at all
    {"INVISIBLE_PATIENT": True},  # invisible to the patient yet sent to the patient
])
def test_combinations_outside_the_matrix(directory: Directory, change: dict[str, bool]) -> None:
    with pytest.raises(RoutingError, match="outside the routing matrix"):
        recipients_for(report(flags={**ROW_BOTH, **change}, prt=PRT), directory, routing_settings())


def test_shape_b_without_usable_prt(directory: Directory) -> None:
    with pytest.raises(RoutingError, match="PRT RCT"):
        recipients_for(report(flags=ROW_PROS, prt=()), directory, routing_settings())


def test_bad_mailbox_choice() -> None:
    with pytest.raises(ConfigError):
        routing_settings(mailbox_choice="random")

