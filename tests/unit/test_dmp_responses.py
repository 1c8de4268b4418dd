"""DMP answers → outcomes (dmp.md §6), starting from the official example responses."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.dmp import DmpStatus
from connector.dmp.mtom import Attachment, multipart_related
from connector.dmp.responses import classify

SOAP_CT = "application/soap+xml; charset=UTF-8"


def _example(shared_ref: Path, name: str) -> bytes:
    path = shared_ref / "dmp" / "examples" / name
    if not path.is_file():
        pytest.skip(f"the DMP examples are absent ({path})")
    return path.read_bytes()


@pytest.mark.parametrize("name", ["TD2.1_alimentation_response.xml", "TD3.3c_supprimer_response.xml"])
def test_official_success_responses(shared_ref: Path, name: str) -> None:
    outcome = classify(200, SOAP_CT, _example(shared_ref, name))
    assert outcome.status is DmpStatus.SUCCESS and outcome.z01() is not None


def test_official_query_response_lists_its_entries(shared_ref: Path) -> None:
    outcome = classify(200, SOAP_CT, _example(shared_ref, "TD3.1_recherche_response.xml"))
    assert outcome.ok and len(outcome.entry_uuids) == 21
    assert outcome.entry_uuids[0] == "urn:uuid:7953af1a-ba1c-11eb-816f-0050569e422e"


def test_an_answer_to_another_request_is_not_trusted(shared_ref: Path) -> None:
    body = _example(shared_ref, "TD2.1_alimentation_response.xml")
    outcome = classify(200, SOAP_CT, body, message_id="urn:uuid:00000000-0000-4000-8000-000000000000")
    assert outcome.status is DmpStatus.RETRY


def test_mtom_answer_is_read_from_its_root_part(shared_ref: Path) -> None:
    body = _example(shared_ref, "TD2.1_alimentation_response.xml")
    content_type, data = multipart_related(root=body, root_id="r@x", action="a",
                                           attachments=(Attachment("other@x", b"\x00\x01"),), seed="s")
    assert classify(200, content_type, data).ok


def _failure(code: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body>'
            f'<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0" '
            f'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList>'
            f'<rs:RegistryError errorCode="{code}" codeContext="Le DMP du patient 2850575120042 est fermé" '
            f'severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>'
            f"</rs:RegistryResponse></soap:Body></soap:Envelope>").encode()


@pytest.mark.parametrize(("code", "status"), [
    ("DMPClosed", DmpStatus.FAILED), ("XDSUnknownPatientId", DmpStatus.FAILED),
    ("XDSRegistryMetadataError", DmpStatus.FAILED), ("XDSRegistryBusy", DmpStatus.RETRY),
    ("XDSRepositoryOutOfResources", DmpStatus.RETRY), ("DMPAccessDeniedByRightsService", DmpStatus.FAILED),
])
def test_registry_errors(code: str, status: DmpStatus) -> None:
    outcome = classify(200, SOAP_CT, _failure(code))
    assert (outcome.status, outcome.code) == (status, code)
    assert "2850575120042" not in outcome.label  # the DMP's free text never reaches the label


def test_soap_faults() -> None:
    def fault(code: str, sub: str) -> bytes:
        subcode = f"<soap:Subcode><soap:Value>{sub}</soap:Value></soap:Subcode>" if sub else ""
        return (f'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault>'
                f"<soap:Code><soap:Value>soap:{code}</soap:Value>{subcode}</soap:Code></soap:Fault></soap:Body>"
                f"</soap:Envelope>").encode()

    certificate = classify(500, SOAP_CT, fault("Sender", "DMPInvalidCertificate"))
    assert (certificate.status, certificate.stops_queue) == (DmpStatus.FAILED, True)
    assert classify(500, SOAP_CT, fault("Receiver", "")).status is DmpStatus.RETRY
    assert classify(500, SOAP_CT, fault("Sender", "InvalidSecurity")).status is DmpStatus.FAILED


@pytest.mark.parametrize(("status", "body"), [(503, b"<html>busy</html>"), (502, b""), (200, b"not xml"),
                                              (200, b"<x/>"), (500, b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>")])
def test_non_soap_answers_are_retried(status: int, body: bytes) -> None:
    assert classify(status, "text/html", body).status is DmpStatus.RETRY


@given(status=st.integers(100, 599), body=st.binary(max_size=400))
def test_random_bytes_never_pass_for_a_success(status: int, body: bytes) -> None:
    assert classify(status, SOAP_CT, body).status is not DmpStatus.SUCCESS
