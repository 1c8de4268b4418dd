"""map_report: LOINC pass-through, local mapping, conversions, ranges, flags, status, batteries."""

from decimal import Decimal
from pathlib import Path

import pytest

from connector.errors import LoincUnitConflict, UnmappedCode
from connector.mapping import LOINC_OID, Mappings, map_report, map_report_with_stats
from connector.model import (
    Coded,
    CodedValue,
    LabReport,
    MessageHeader,
    Numeric,
    Order,
    Patient,
    PreviousResult,
    ReferenceRange,
    Result,
    Specimen,
    Text,
)
from tests.support.settings import MAPPING, mapping_settings

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return Mappings.load(MAPPINGS_DIR)


def obx(code: str, value: str = "", unit: str = "", ref: str = "", flags: tuple[str, ...] = (),
        status: str = "F", system: str = "L", label: str = "", **extra: object) -> Result:
    values = (Numeric(Decimal(value), value),) if value else ()
    return Result(set_id="1", value_type="NM", code=Coded(code, label or code, system), values=values,
                  units=Coded(unit) if unit else None, reference_range=ref, abnormal_flags=flags,
                  status=status, **extra)  # type: ignore[arg-type]


def report(*results: Result, battery: str = "NFS", specimens: tuple[Specimen, ...] = ()) -> LabReport:
    header = MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="MSG00001")
    order = Order(service=Coded(battery, "Bilan", "L"), results=results, specimens=specimens)
    return LabReport(report_id="rep-1", header=header, patient=Patient(identifiers=()), orders=(order,))


def test_every_local_code_of_the_corpus_is_mapped(mappings: Mappings) -> None:
    codes = ("HB GR GB PLT HT VGM NA K CL CREA GLY GLYM GLYMG ASAT ALAT HBA1C TSH CRP TOXOG TOXOGI LEUCU CULT AMX"
             " CTX CIP TP INR")
    for code in codes.split():
        entry = mappings.lookup(Coded(code, "", "L"))
        assert entry is not None, code
        assert (entry.loinc is None) == (code == "CRP"), code
    for battery in ["NFS", "IONO", "GLY", "BILHEP", "HBA1C", "TSH", "CRP", "SERTOXO", "ECBU", "ATB", "HEMOS"]:
        assert mappings.battery(Coded(battery)) is not None, battery


def test_local_code_gets_loinc_unit_chapter(mappings: Mappings) -> None:
    mapped = map_report(report(obx("GB", "11.2", "G/L", "4.0-10.0", ("H",))), mappings, settings=MAPPING)
    (r,) = mapped.results
    assert r.loinc == Coded("6690-2", "Leucocytes", LOINC_OID)
    assert r.unit == "10*9/L"
    assert r.value == Numeric(Decimal("11.2"), "11.2")
    assert r.reference_range == ReferenceRange(low=Decimal("4.0"), high=Decimal("10.0"), unit="10*9/L")
    assert r.interpretation == ("H",)
    assert r.chapter.code == "18723-7" and r.chapter.display == "Hématologie"
    assert r.status == "completed"
    assert r.battery == Coded("58410-2", "Numération formule sanguine", LOINC_OID, "NFS", "Bilan", "L")
    assert mapped.unmapped_codes == ()


@pytest.mark.parametrize(("code", "unit", "ucum"), [("GR", "T/L", "10*12/L"), ("CREA", "µmol/L", "umol/L"),
                                                     ("ASAT", "UI/L", "U/L"), ("TSH", "mUI/L", "m[IU]/L"),
                                                     ("TOXOG", "UI/mL", "[IU]/mL")])
def test_unit_traps_become_ucum(mappings: Mappings, code: str, unit: str, ucum: str) -> None:
    (r,) = map_report(report(obx(code, "4.52", unit)), mappings, settings=MAPPING).results
    assert r.unit == ucum and r.loinc is not None


def test_mg_dl_glucose_is_converted_to_g_l_with_its_range(mappings: Mappings) -> None:
    (r,) = map_report(report(obx("GLYMG", "95", "mg/dL", "70-110")), mappings, settings=MAPPING).results
    assert r.loinc is not None and r.loinc.code == "53049-3"
    assert r.unit == "g/L"
    assert r.value == Numeric(Decimal("0.95"), "0.95")
    assert r.reference_range == ReferenceRange(low=Decimal("0.70"), high=Decimal("1.10"), unit="g/L")


def test_two_units_glucose_gives_two_loinc_codes(mappings: Mappings) -> None:
    mapped = map_report(report(obx("GLY", "0.88", "g/L"), obx("GLYM", "4.89", "mmol/L")), mappings, settings=MAPPING)
    assert [(r.loinc.code, r.unit) for r in mapped.results if r.loinc] == [("53049-3", "g/L"), ("40193-5", "mmol/L")]


def test_crp_is_mapped_without_loinc_and_not_counted_unmapped(mappings: Mappings) -> None:
    mapped = map_report(report(obx("CRP", "3.2", "mg/L", "<5"), battery="CRP"), mappings, settings=MAPPING)
    (r,) = mapped.results
    assert r.loinc is None and r.display == "Protéine C réactive" and r.unit == "mg/L"
    assert r.local == Coded("CRP", "CRP", "L")
    assert r.reference_range == ReferenceRange(high=Decimal("5"), unit="mg/L")
    assert mapped.unmapped_codes == ()


def test_loinc_sent_by_the_sil_passes_through(mappings: Mappings) -> None:
    (r,) = map_report(
        report(obx("2345-7", "0.95", "g/L", system="LN", label="Glucose")), mappings, settings=MAPPING
    ).results
    # displayName: the ANS French display of the code; the name shown: the lab's label
    assert r.loinc == Coded("2345-7", "Glucose [Masse/Volume] Sérum/Plasma ; Numérique", LOINC_OID)
    assert r.display == "Glucose"
    assert r.unit == "g/L" and r.chapter.code == "18719-5"
    # a LOINC code the mappings know takes the mapping's chapter, unit rules and French display
    (r,) = map_report(
        report(obx("6690-2", "7", "G/L", system="2.16.840.1.113883.6.1")), mappings, settings=MAPPING
    ).results
    assert r.loinc == Coded("6690-2", "Leucocytes", LOINC_OID) and r.unit == "10*9/L" and r.chapter.code == "18723-7"


def test_unknown_loinc_keeps_the_display_sent(mappings: Mappings) -> None:
    (r,) = map_report(report(obx("99999-9", "1", system="LOINC", label="Test X")), mappings, settings=MAPPING).results
    assert r.loinc == Coded("99999-9", "Test X", LOINC_OID)


def test_unmapped_local_code_uses_default_chapter_and_is_counted(mappings: Mappings) -> None:
    mapped = map_report(report(obx("ZZZ", "1.5", "mmol/l", label="Analyse inconnue")), mappings, settings=MAPPING)
    (r,) = mapped.results
    assert r.loinc is None and r.display == "Analyse inconnue"
    assert r.chapter == mapping_settings().default_chapter
    assert r.unit == "mmol/L"  # local spelling still normalised through units.yaml
    assert mapped.unmapped_codes == ("ZZZ",)


def test_hold_unmapped_raises_without_values_in_message(mappings: Mappings) -> None:
    with pytest.raises(UnmappedCode) as err:
        map_report(report(obx("ZZZ", "123.456")), mappings, mapping_settings(hold_unmapped=True))
    assert "ZZZ" in str(err.value) and "rep-1" in str(err.value) and "123.456" not in str(err.value)


def test_unit_without_conversion_is_not_relabelled(mappings: Mappings) -> None:
    mapped, stats = map_report_with_stats(report(obx("GLY", "5.1", "mmol/L")), mappings, settings=MAPPING)
    (r,) = mapped.results
    assert r.loinc is None and r.unit == "mmol/L" and r.value == Numeric(Decimal("5.1"), "5.1")
    assert stats.unit_mismatches == ("GLY",) and mapped.unmapped_codes == ("GLY",)


def test_status_and_flags(mappings: Mappings) -> None:
    mapped, stats = map_report_with_stats(
        report(obx("HB", "13", "g/dL", status="X"), obx("GB", "7", "G/L", status="D"),
               obx("PLT", "250", "G/L", flags=("N", "ZZ"))),
        mappings, settings=MAPPING,
    )
    assert [(r.local.code, r.status) for r in mapped.results] == [("HB", "aborted"), ("PLT", "completed")]
    assert stats.dropped_results == ("GB",) and stats.dropped_flags == 1
    assert mapped.results[1].interpretation == ("N",)


def test_coded_results_keep_their_value_and_have_no_unit(mappings: Mappings) -> None:
    res = Result(
        set_id="1",
        value_type="CE",
        code=Coded("AMX", "Amoxicilline", "L"),
        values=(CodedValue(Coded("R", "Résistant", "L")),),
        abnormal_flags=("R",),
        status="F",
    )
    (r,) = map_report(report(res, battery="ATB"), mappings, settings=MAPPING).results
    assert r.loinc is not None and r.loinc.code == "18861-5"
    assert r.value == CodedValue(Coded("R", "Résistant", "L")) and r.unit == ""
    assert r.subchapter is not None and r.subchapter.code == "18769-0"
    assert r.battery is not None and r.battery.code == "18769-0"


def test_text_value_under_numeric_test_is_kept(mappings: Mappings) -> None:
    res = Result(set_id="1", value_type="ST", code=Coded("K", "Potassium", "L"), values=(Text("hémolysé"),), status="F")
    (r,) = map_report(report(res), mappings, settings=MAPPING).results
    assert r.value == Text("hémolysé") and r.unit == "" and r.loinc is not None


def test_specimen_and_previous_results_are_attached_and_converted(mappings: Mappings) -> None:
    spm = Specimen(identifier="S1", type=Coded("BLD", "Sang", "HL70487"))
    prev = (PreviousResult(Numeric(Decimal("102"), "102"), "mg/dL", "20250101"),
            PreviousResult(Numeric(Decimal("99"), "99"), "", "20240101"))
    res = obx("GLYMG", "95", "mg/dL", previous=prev)
    (r,) = map_report(report(res, battery="GLY", specimens=(spm,)), mappings, settings=MAPPING).results
    assert r.specimen == spm
    assert r.previous == (PreviousResult(Numeric(Decimal("1.02"), "1.02"), "g/L", "20250101"),
                          PreviousResult(Numeric(Decimal("0.99"), "0.99"), "g/L", "20240101"))


def test_local_battery_without_loinc_keeps_local_code(mappings: Mappings) -> None:
    (r,) = map_report(report(obx("NA", "140", "mmol/L"), battery="IONO"), mappings, settings=MAPPING).results
    assert r.battery == Coded("IONO", "Ionogramme", "L")


def test_chapters_in_first_seen_order(mappings: Mappings) -> None:
    mapped = map_report(
        report(obx("HB", "13", "g/dL"), obx("NA", "140", "mmol/L"), obx("TP", "80", "%")), mappings, settings=MAPPING
    )
    assert [c.code for c in mapped.chapters] == ["18723-7", "18719-5", "18720-3"]


def test_loinc_sent_with_an_unconvertible_unit_keeps_its_code_when_the_unit_fits_it(mappings: Mappings) -> None:
    mapped, stats = map_report_with_stats(report(obx("6690-2", "7000", "/uL", system="LN")), mappings, settings=MAPPING)
    (r,) = mapped.results
    assert r.loinc is not None and r.loinc.code == "6690-2" and r.unit == "/uL"
    assert stats.unit_mismatches == ("6690-2",) and mapped.unmapped_codes == ()


def test_loinc_sent_with_a_unit_it_cannot_have_holds_the_report(mappings: Mappings) -> None:
    """Issue 12.5: a count code (6690-2, #/volume) in mmol/L says something false: never sent as is."""
    with pytest.raises(LoincUnitConflict) as err:
        map_report(report(obx("6690-2", "7.123", "mmol/L", system="LN")), mappings, settings=MAPPING)
    message = str(err.value)
    assert isinstance(err.value, UnmappedCode)  # the pipeline makes it wait, like an unmapped code
    assert "6690-2" in message and "'mmol/L'" in message and "hematologie.yaml:" in message
    assert "rep-1" in message and "7.123" not in message


def test_obx_under_spm_is_mapped_with_its_specimen(mappings: Mappings) -> None:
    spm = Specimen(identifier="S2", type=Coded("UR", "Urine", "HL70487"), results=(obx("LEUCU", "50000", "/mL"),))
    (r,) = map_report(report(battery="ECBU", specimens=(spm,)), mappings, settings=MAPPING).results
    assert r.specimen == spm and r.loinc is not None and r.loinc.code == "30405-5"
