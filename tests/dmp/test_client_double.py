"""The DMP client against the double: new, replace, delete, every error of dmp.md §6, the unsure send."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from connector.dmp import DmpClient, DmpCredentials, DmpSettings, DmpStatus, RateLimiter
from tests.dmp.double import APPROVED, DELETED, DEPRECATED, DmpDouble, Fault
from tests.dmp.support import document, next_version, report_from

PROVIDE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"


def test_new_document_lands_once_and_answers_success(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document()
    outcome = dmp_client.submit(doc)
    assert outcome.status is DmpStatus.SUCCESS, outcome
    entries = dmp_double.by_unique_id(doc.unique_id)
    assert [e.status for e in entries] == [APPROVED]
    assert entries[0].cda == doc.cda  # the bytes the XAdES signed are the bytes stored
    assert [r.refused for r in dmp_double.received] == [""]
    assert outcome.z01() is not None and outcome.z01().ok  # type: ignore[union-attr]


def test_replace_finds_the_current_entry_then_sends_rplc(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    first = document()
    assert dmp_client.submit(first).ok
    second = next_version(first)
    outcome = dmp_client.replace(second)
    assert outcome.ok, outcome
    assert [e.status for e in dmp_double.by_unique_id(first.unique_id)] == [DEPRECATED]
    assert [e.status for e in dmp_double.by_unique_id(second.unique_id)] == [APPROVED]
    actions = [r.action.rsplit(":", 1)[-1] for r in dmp_double.received]
    assert actions == ["ProvideAndRegisterDocumentSet-b", "RegistryStoredQuery", "ProvideAndRegisterDocumentSet-b"]


def test_replace_of_a_document_never_fed_fails_with_a_clear_code(dmp_client: DmpClient) -> None:
    outcome = dmp_client.submit(next_version(document()))
    assert outcome.status is DmpStatus.FAILED and outcome.code == "PFI_DOCUMENT_ABSENT_DMP"


def test_delete_marks_the_entry_deleted_and_is_idempotent(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document()
    assert dmp_client.submit(doc).ok
    assert dmp_client.delete(doc).ok
    assert [e.status for e in dmp_double.by_unique_id(doc.unique_id)] == [DELETED]
    again = dmp_client.delete(doc)  # nothing left: TD3.1b finds no reference, no TD3.3c is sent
    assert again.ok
    assert [r.action.rsplit(":", 1)[-1] for r in dmp_double.received][-1] == "RegistryStoredQuery"


@pytest.mark.parametrize(("fault", "status", "code"), [
    (Fault.DMP_CLOSED, DmpStatus.FAILED, "DMPClosed"),
    (Fault.UNKNOWN_PATIENT, DmpStatus.FAILED, "XDSUnknownPatientId"),
    (Fault.BUSY, DmpStatus.RETRY, "XDSRegistryBusy"),
    (Fault.HTTP_503, DmpStatus.RETRY, "503"),
    (Fault.INVALID_CERTIFICATE, DmpStatus.FAILED, "DMPInvalidCertificate"),
])
def test_each_error_maps_to_retry_or_final(dmp_client: DmpClient, dmp_double: DmpDouble, fault: Fault,
                                           status: DmpStatus, code: str) -> None:
    doc = document()
    dmp_double.inject(fault, action=PROVIDE)
    outcome = dmp_client.submit(doc)
    assert (outcome.status, outcome.code) == (status, code)
    assert outcome.stops_queue is (fault is Fault.INVALID_CERTIFICATE)
    assert dmp_double.by_unique_id(doc.unique_id) == []
    z01 = outcome.z01()
    if status is DmpStatus.FAILED:
        assert z01 is not None and not z01.ok and z01.error_code == code and z01.error_label
    else:
        assert z01 is None  # no Z01 while retrying
        assert dmp_client.submit(doc).ok  # the retry lands
        assert len(dmp_double.by_unique_id(doc.unique_id)) == 1


def test_closed_dmp_is_final_for_that_patient_only(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document()
    dmp_double.closed_patients.add(doc.ins_cx())
    assert dmp_client.submit(doc).code == "DMPClosed"


def test_timeout_after_body_is_settled_by_td31b_not_resent(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document()
    dmp_double.inject(Fault.TIMEOUT_AFTER_BODY, action=PROVIDE)
    outcome = dmp_client.submit(doc)
    assert outcome.ok and outcome.recovered, outcome
    assert len(dmp_double.by_unique_id(doc.unique_id)) == 1
    actions = [r.action.rsplit(":", 1)[-1] for r in dmp_double.received]
    assert actions == ["ProvideAndRegisterDocumentSet-b", "RegistryStoredQuery"]


def test_lost_request_is_resent_once_after_td31b_finds_nothing(dmp_client: DmpClient,
                                                               dmp_double: DmpDouble) -> None:
    doc = document()
    dmp_double.inject(Fault.LOST_AFTER_BODY, action=PROVIDE)
    outcome = dmp_client.submit(doc)
    assert outcome.ok and not outcome.recovered
    assert len(dmp_double.by_unique_id(doc.unique_id)) == 1
    actions = [r.action.rsplit(":", 1)[-1] for r in dmp_double.received]
    assert actions == ["ProvideAndRegisterDocumentSet-b", "RegistryStoredQuery", "ProvideAndRegisterDocumentSet-b"]


def test_resend_of_a_landed_version_is_a_success_never_a_second_entry(dmp_client: DmpClient,
                                                                      dmp_double: DmpDouble) -> None:
    doc = document()
    assert dmp_client.submit(doc).ok
    again = dmp_client.submit(doc)  # e.g. the service crashed before recording the first success
    assert again.ok and again.recovered
    assert len(dmp_double.by_unique_id(doc.unique_id)) == 1
    assert dmp_double.received[1].refused == "XDSDuplicateUniqueIdInRegistry"


def test_tls_refusal_stops_the_queue_and_sends_nothing(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document()
    dmp_double.inject(Fault.TLS_REFUSAL)
    outcome = dmp_client.submit(doc)
    assert (outcome.status, outcome.code, outcome.stops_queue) == (DmpStatus.RETRY, "PFI_TLS", True)
    assert dmp_double.received == []
    assert dmp_client.submit(doc).ok  # the next handshake is a good one


def test_masking_flags_become_confidentiality_codes(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    doc = document(flags={"MASQUE_PS": True, "INVISIBLE_PATIENT": False, "INVISIBLE_REP_LEGAUX": True})
    assert dmp_client.submit(doc).ok
    (entry,) = dmp_double.by_unique_id(doc.unique_id)
    assert entry.confidentiality == ("N", "MASQUE_PS", "INVISIBLE_REPRESENTANTS_LEGAUX")


def test_masking_after_the_fact_is_refused_before_anything_is_sent(dmp_client: DmpClient,
                                                                   dmp_double: DmpDouble) -> None:
    outcome = dmp_client.submit(document(flags={"MODIF_CONF_CODE": True}))
    assert (outcome.status, outcome.code) == (DmpStatus.FAILED, "PFI_INTERDIT_AUTH_INDIRECTE")
    assert dmp_double.received == []


def test_unqualified_ins_is_never_sent(dmp_client: DmpClient, dmp_double: DmpDouble) -> None:
    outcome = dmp_client.submit(document(report_from("14_ins_validated_not_qualified.hl7")))
    assert (outcome.status, outcome.code) == (DmpStatus.FAILED, "PFI_INS_NON_QUALIFIE")
    assert dmp_double.received == []


def test_an_unreachable_dmp_is_retried_without_a_td31b(dmp_settings: DmpSettings,
                                                       dmp_credentials: DmpCredentials) -> None:
    """Nothing was sent (connection refused): no doubt to settle, the next attempt simply sends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the with ends: nobody listens there
    settings = dataclasses.replace(dmp_settings, base_url=f"https://127.0.0.1:{port}/si-dmp-server/v2/services")
    client = DmpClient(settings, dmp_credentials, limiter=RateLimiter(5))
    try:
        outcome = client.submit(document())
    finally:
        client.close()
    assert (outcome.status, outcome.code, outcome.recovered) == (DmpStatus.RETRY, "PFI_DMP_INJOIGNABLE", False)
