"""What the parse stage reads from each corpus shape (one test per feature of the brief)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from _parse_helpers import ORU_DIR, reports_of

from connector.model import (
    CodedValue,
    DateValue,
    Encapsulated,
    IdentityStatus,
    Numeric,
    StructuredNumeric,
    Text,
)
from connector.parse import parse_message, split_messages
from tests.support.settings import PARSE, parse_settings


def only(name: str):  # type: ignore[no-untyped-def]
    (report,) = reports_of(name)
    return report


def test_blood_count_values_units_flags_and_biologist() -> None:
    report = only("01_nfs.hl7")
    results = {r.code.code: r for r in report.results}
    assert list(results) == ["HB", "GR", "GB", "PLT", "HT", "VGM"]
    assert results["GR"].units is not None and results["GR"].units.code == "T/L"
    assert results["GB"].abnormal_flags == ("H",) and results["PLT"].abnormal_flags == ("L",)
    assert results["HB"].values == (Numeric(Decimal("13.5"), "13.5"),)
    assert results["HB"].reference_range == "12.0-16.0"
    order = report.orders[0]
    assert order.service.code == "NFS" and order.service.system == "L"
    assert order.principal_interpreter is not None and order.principal_interpreter.idnps == "810000000002"
    assert order.principal_interpreter.name.family == "BIOLO"
    assert results["HB"].responsible_observer is not None
    assert (order.collected_at, order.received_at, order.reported_at) == (
        "202611190815", "202611190900", "202611191630"
    )
    assert order.placer_number is not None and order.placer_number.value == "CMDMSG0001"
    assert order.status == "F" and order.order_control == "RE"


def test_precision_is_kept() -> None:
    (tsh,) = only("05_tsh.hl7").results
    assert tsh.values[0] == Numeric(Decimal("2.350"), "2.350")


def test_micro_units_and_two_unit_glycaemia() -> None:
    crea = only("02_ionogram.hl7").results[3]
    assert crea.units is not None and crea.units.code == "µmol/L"
    assert [r.code.code for r in only("03_glycaemia_two_units.hl7").results] == ["GLY", "GLYM"]
    assert only("04_glycaemia_mgdl.hl7").results[0].units.code == "mg/dL"  # type: ignore[union-attr]


def test_loinc_coded_and_alternate_code() -> None:
    glucose, hb = only("07_loinc_coded.hl7").results
    assert (glucose.code.code, glucose.code.system) == ("2345-7", "LN")
    assert (hb.code.alt_code, hb.code.alt_system) == ("718-7", "LN")


def test_serology_coded_value() -> None:
    _, interpretation = only("08_serology_toxo.hl7").results
    assert interpretation.values == (CodedValue(interpretation.values[0].coded),)  # type: ignore[union-attr]
    assert interpretation.values[0].coded.code == "POS"  # type: ignore[union-attr]


def test_microbiology_antibiogram_and_specimen() -> None:
    ecbu, atb = only("09_microbiology_antibiogram.hl7").orders
    culture = ecbu.results[1]
    assert culture.values[0].coded.code == "ECOLI"  # type: ignore[union-attr]
    assert culture.comments[0].text == "Numération > 10^5 UFC/mL"
    assert ecbu.specimens[0].type is not None and ecbu.specimens[0].type.code == "UR"
    assert atb.parent_result.startswith("CULT&")
    assert [(r.code.code, r.values[0].coded.code) for r in atb.results] == [  # type: ignore[union-attr]
        ("AMX", "R"), ("CTX", "S"), ("CIP", "I")
    ]


def test_corrected_result() -> None:
    report = only("10_corrected_result.hl7")
    assert report.orders[0].status == "C"
    assert [r.status for r in report.results] == ["F", "C"]
    assert report.results[1].comments[0].text.startswith("Résultat corrigé")


def test_anteriorites_attach_to_the_preceding_result() -> None:
    hba1c, tsh = only("11_anteriorites.hl7").results
    assert [(p.value, p.observed_at, p.units) for p in hba1c.previous] == [
        (Numeric(Decimal("7.8"), "7.8"), "20260815", "%"),
        (Numeric(Decimal("8.1"), "8.1"), "20260510", "%"),
    ]
    assert len(tsh.previous) == 1 and tsh.previous[0].observed_at == "202605101030"


def test_comments_belong_to_what_they_follow() -> None:
    report = only("12_comments_all_levels.hl7")
    assert [c.text for c in report.comments] == ["Patiente à jeun depuis 12 h"]
    assert [c.source for c in report.orders[0].comments] == ["L", "P"]
    gly, glym = report.results
    assert gly.comments[0].text == "A contrôler\nsur un nouveau prélèvement" and glym.comments == ()


@pytest.mark.parametrize(
    ("name", "status", "qualified"),
    [
        ("13_ins_qualified.hl7", IdentityStatus.QUALIFIED, True),
        ("14_ins_validated_not_qualified.hl7", IdentityStatus.VALIDATED, False),
        ("15_no_ins_ipp_only.hl7", IdentityStatus.UNKNOWN, False),
    ],
)
def test_ins_and_identity_status(name: str, status: IdentityStatus, qualified: bool) -> None:
    patient = only(name).patient
    assert patient.identity_status is status and patient.ins_qualified is qualified
    assert patient.ipp is not None and patient.ipp.oid == "1.2.250.1.999.1.1"
    if name.startswith("15"):
        assert patient.ins is None
    else:
        assert patient.ins is not None and patient.ins.oid == "1.2.250.1.213.1.4.8"


def test_site_specific_identity_status_codes() -> None:
    data = (ORU_DIR / "13_ins_qualified.hl7").read_bytes().replace(b"|QUAL", b"|Q")
    settings = parse_settings(identity_status_map={"Q": IdentityStatus.QUALIFIED})
    (report,) = parse_message(data, settings=settings)
    assert report.patient.ins_qualified and report.patient.identity_status_raw == "Q"
    (report,) = parse_message(data, settings=PARSE)
    assert not report.patient.ins_qualified


def test_structured_numeric() -> None:
    values = [r.values[0] for r in only("16_structured_numeric.hl7").results]
    assert values[0] == StructuredNumeric("<", Decimal(5), "", None, "<^5")
    assert values[1] == StructuredNumeric(">", Decimal(90), "", None, ">^90")
    assert values[2] == StructuredNumeric("", Decimal(1), ":", Decimal(128), "^1^:^128")
    assert values[3] == StructuredNumeric("", Decimal(10), "-", Decimal(20), "^10^-^20")
    assert values[4].comparator == ">="  # type: ignore[union-attr]


def test_abnormal_flags() -> None:
    assert [r.abnormal_flags for r in only("17_abnormal_flags.hl7").results] == [("LL",), ("HH",), ("H",), ("L",)]


def test_several_orders_copy_to_and_prescriber_from_obr16() -> None:
    report = only("18_several_orders.hl7")
    assert [o.service.code for o in report.orders] == ["NFS", "IONO", "BILHEP", "HEMOS"]
    assert [c.idnps for c in report.orders[0].copy_to] == ["0999999999"]
    bilhep = report.orders[2]
    assert bilhep.raw.startswith("OBR|") and bilhep.prescriber is not None
    assert bilhep.prescriber.idnps == "810000000001"
    inr = report.orders[3].results[1]
    assert inr.units is None


def test_obr_10_collector_is_the_order_s_sampler() -> None:
    nurse = "810003456789^INFIRMIERE^ROSE^^^MME^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    segments = (ORU_DIR / "01_nfs.hl7").read_bytes().decode("utf-8").split("\r")
    obr = next(i for i, seg in enumerate(segments) if seg.startswith("OBR|"))
    fields = segments[obr].split("|")
    fields[10] = nurse
    segments[obr] = "|".join(fields)
    (message,) = split_messages("\r".join(segments).encode("utf-8"))
    (report,) = parse_message(message, settings=parse_settings())
    collector = report.orders[0].collector
    assert collector is not None and collector.idnps == "810003456789" and collector.name.family == "INFIRMIERE"
    assert only("01_nfs.hl7").orders[0].collector is None  # OBR-10 empty: no sampler


def test_two_patients_give_two_reports() -> None:
    first, second = reports_of("19_two_patients.hl7")
    assert first.header == second.header and first.report_id != second.report_id
    assert first.patient.ipp.value == "IPP0019A" and second.patient.ipp.value == "IPP0019B"  # type: ignore[union-attr]
    assert second.patient.ins_qualified and not first.patient.ins_qualified
    assert first.results[0].code.code == "GLY" and second.results[0].code.code == "TSH"


def test_batch_file() -> None:
    messages = split_messages((ORU_DIR / "20_batch.hl7").read_bytes())
    assert len(messages) == 3
    assert [parse_message(m, settings=PARSE)[0].header.control_id for m in messages] == [
        "MSG0201",
        "MSG0202",
        "MSG0203",
    ]


def test_v23_message_with_obr15_specimen() -> None:
    report = only("21_v23.hl7")
    assert report.header.version == "2.3" and report.header.charset == ""
    (specimen,) = report.orders[0].specimens
    assert specimen.type is not None and specimen.type.code == "BLD" and specimen.collected_at == "202611190815"
    assert report.prescriber is not None and report.prescriber.idnps == "810000000001"  # from OBR-16


def test_five_encoding_characters() -> None:
    report = only("22_msh2_five_chars.hl7")
    assert report.results[0].comments[0].text == "Dièse # et esperluette & conservés"


@pytest.mark.parametrize("name", ["23_endings_lf.hl7", "24_endings_cr.hl7", "25_endings_crlf.hl7", "02_ionogram.hl7"])
def test_line_endings(name: str) -> None:
    report = only(name)
    assert report.results and report.orders[0].service.code in ("GLY", "IONO")


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("26_charset_8859_1.hl7", "TESTÉLODIE"),
        ("27_charset_lying.hl7", "TESTÉLODIE"),
        ("28_charset_8859_15.hl7", "TESTŒUVRE"),
        ("29_charset_ascii.hl7", "TESTPATIENT"),
    ],
)
def test_charsets(name: str, family: str) -> None:
    report = only(name)
    assert report.patient.names[0].family == family
    if name.startswith(("26", "27")):
        assert report.results[0].units.code == "µmol/L"  # type: ignore[union-attr]
    if name.startswith("28"):
        assert report.results[0].comments[0].text.endswith("5 €")


def test_given_names_not_duplicated() -> None:
    assert only("13_ins_qualified.hl7").patient.names[0].given == ("CLAIRE",)


def test_embedded_pdf_even_under_a_lying_obx2() -> None:
    _, ed, lying = only("30_embedded_pdf.hl7").results
    for result in (ed, lying):
        (value,) = result.values
        assert isinstance(value, Encapsulated) and value.mime_type == "application/pdf"
        assert value.data.startswith(b"%PDF-")
    assert lying.value_type == "CE"


def test_ans_shape_b() -> None:
    report = only("31_ans_shape_b.hl7")
    assert report.results == () and len(report.documents) == 2
    assert all(
        d.mime_type == "text/xml" and d.status == "F" and b"<ClinicalDocument" in d.data for d in report.documents
    )
    flags = report.flags
    assert flags is not None and flags.get("DESTMSSANTEPAT") is True and flags.get("MASQUE_PS") is False
    assert flags.get("UNKNOWN_FLAG") is None and len(flags.values) == 10
    assert flags.end_of_thread and flags.mail_body_ps.startswith("Cher confrère")
    assert flags.mail_body_patient.startswith("Bonjour")
    roles = [(p.role, p.address) for p in report.participants]
    assert roles[0] == ("SB", "")
    assert ("RCT", "jean.testeur@test-ci-sis.mssante.fr") in roles
    assert roles[-1] == ("REPLY", "laboratoire.exemple@test-ci-sis.mssante.fr")
    sender = report.participants[0]
    assert sender.person is not None and sender.person.idnps == "810000000002"  # "ASIP-SANTE- PS" with a space
    assert "1120459876" in sender.organization
    assert report.patient.ins is not None and report.patient.ins.oid == "1.2.250.1.213.1.4.10"
    assert report.header.profile == "2.1^CISIS_CDA_HL7_V2"


def test_test_ins_refused_in_production() -> None:
    from connector.errors import InputError

    data = (ORU_DIR / "31_ans_shape_b.hl7").read_bytes()
    with pytest.raises(InputError) as caught:
        parse_message(data, settings=parse_settings(allow_test_ins=False))
    assert caught.value.field == "PID-3" and caught.value.segment == "PID[1]"


def test_escapes_value_types_statuses_and_kept_segments() -> None:
    report = only("32_escapes_types_statuses.hl7")
    by_set = {r.set_id: r for r in report.orders[0].results}
    assert by_set["1"].values == (Text("Aspect | trouble ^ & ~ \\ fin"),) and by_set["1"].status == ""
    assert by_set["2"].values == (Text("Ligne un"), Text("Ligne deux"))
    assert by_set["3"].values == (Text("Première ligne\nDeuxième ligne\nTroisième ≥ 4"),)
    assert by_set["4"].values == (DateValue("20261101"),)
    assert by_set["5"].values == (DateValue("202611190815+0100"),)
    assert by_set["6"].values == (StructuredNumeric("", Decimal(10), "-", Decimal(20), "10^20"),)
    assert by_set["7"].values[0].coded.code == "A"  # type: ignore[union-attr]
    assert by_set["8"].values == () and by_set["8"].status == "X"
    assert [by_set[k].status for k in ("9", "10", "11", "12")] == ["W", "D", "O", "I"]
    (specimen,) = report.orders[0].specimens
    assert specimen.identifier == "SP32" and specimen.results[0].code.code == "HB"
    assert [s.name for s in report.other_segments] == ["MSH", "SFT", "PV1", "ZPI", "TQ1", "ZRS"]
    assert report.orders[0].status == "P"


def test_corsican_nir_and_validator_from_obx16() -> None:
    report = only("33_ins_corsica_obx16_validator.hl7")
    assert report.patient.ins_qualified
    assert report.orders[0].principal_interpreter is None
    assert report.validating_biologist is not None and report.validating_biologist.idnps == "810000000002"


def test_ans_reference_example_in_place(ans_oru: Path) -> None:
    (report,) = parse_message(ans_oru.read_bytes(), source=ans_oru.name, settings=PARSE)
    assert len(report.documents) == 2 and len(report.participants) == 4
    assert report.flags is not None and report.flags.get("DESTDMP") is True
    assert report.patient.identity_status is IdentityStatus.VALIDATED
    assert report.participants[0].person is not None and report.participants[0].person.idnps == "801234567866"


def test_large_embedded_cda_and_the_size_limit() -> None:
    import base64

    from connector.errors import MalformedHL7
    from connector.parse import MAX_ENCAPSULATED_CHARS

    cda = b"<?xml version='1.0'?><ClinicalDocument xmlns='urn:hl7-org:v3'>" + b"<x/>" * 150_000 + b"</ClinicalDocument>"
    payload = base64.b64encode(cda)
    assert len(payload) > 600_000
    base = (ORU_DIR / "05_tsh.hl7").read_bytes()
    obx = b"OBX|2|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^" + payload + b"||||||C\r"
    (report,) = parse_message(base + obx, settings=PARSE)
    (document,) = report.documents
    assert document.data == cda and document.status == "C" and document.mime_type == "text/xml"
    too_big = b"OBX|2|ED|PDF^PDF^L||^AP^PDF^Base64^" + b"A" * (MAX_ENCAPSULATED_CHARS + 4) + b"||||||F\r"
    with pytest.raises(MalformedHL7) as caught:
        parse_message(base + too_big, settings=PARSE)
    assert caught.value.field == "OBX-5" and "MAX_ENCAPSULATED_CHARS" in str(caught.value)


def test_public_api_exports() -> None:
    from connector import parse

    for name in ("ParseSettings", "split_messages", "parse_message", "header_of", "report_id_for", "nir_key_ok"):
        assert name in parse.__all__ and callable(getattr(parse, name))
    from connector.parse.identity import nir_key_ok

    assert nir_key_ok is parse.nir_key_ok
