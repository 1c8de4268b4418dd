"""The mapping stage's fixes of the CR-BIO correctness issue (12.4 units, 12.5 code vs unit, 12.6 chapters, 13 labels).

Each test is the case the issue describes; each would have failed before the fix.
"""

from __future__ import annotations

import dataclasses
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from connector.cda import build_document
from connector.errors import LoincUnitConflict, UnitNotUcum, UnmappedCode
from connector.mapping import Mappings, map_report
from connector.mapping.units import ucum_error
from connector.model import (
    Coded,
    DocumentIdentity,
    Identifier,
    LabIdentity,
    LabReport,
    MappedReport,
    MessageHeader,
    Numeric,
    Order,
    Patient,
    PersonName,
    PreviousResult,
    Result,
)
from tests.support.settings import MAPPING

MAPPINGS_DIR = Path(__file__).resolve().parents[2] / "mappings"
VALUE = "7.4321"  # a result value: it must never appear in a reason


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    return Mappings.load(MAPPINGS_DIR)


def obx(code: str, unit: str = "", *, system: str = "L", label: str = "", alt: tuple[str, str] = ("", ""),
        value: str = VALUE, previous: tuple[PreviousResult, ...] = ()) -> Result:
    coded = Coded(code, label or code, system, alt[0], "", alt[1])
    return Result(set_id="1", value_type="NM", code=coded, values=(Numeric(Decimal(value), value),),
                  units=Coded(unit) if unit else None, status="F", previous=previous)


def report(*results: Result) -> LabReport:
    header = MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="MSG1")
    return LabReport(
        report_id="rep-7",
        header=header,
        patient=Patient(identifiers=()),
        orders=(Order(service=Coded("BIL", "Bilan", "L"), results=results),),
    )


def only(mappings: Mappings, result: Result):  # type: ignore[no-untyped-def]
    (mapped,) = map_report(report(result), mappings, settings=MAPPING).results
    return mapped


# ---------------------------------------------------------------- 12.4 units that are not UCUM


@pytest.mark.parametrize(("sent", "ucum"), [("ug/dl", "ug/dL"), ("iU/mL", "[IU]/mL"), ("MMOL/L", "mmol/L"),
                                            ("µmol/l", "umol/L"), ("/mm3", "/uL"), ("mg/dl", "mg/dL")])
def test_unambiguous_spellings_are_sent_as_the_ucum_the_kit_accepts(mappings: Mappings, sent: str,
                                                                   ucum: str) -> None:
    mapped = only(mappings, obx("ZZ1", sent, label="Analyse locale"))
    assert mapped.unit == ucum


def test_free_text_unit_holds_the_report_with_code_unit_and_file(mappings: Mappings) -> None:
    with pytest.raises(UnitNotUcum) as err:
        map_report(report(obx("ZZ2", "enzyme units", label="Enzyme X")), mappings, settings=MAPPING)
    message = str(err.value)
    assert isinstance(err.value, UnmappedCode)  # the pipeline makes UnmappedCode reports WAIT
    assert "rep-7" in message and "'ZZ2'" in message and "'enzyme units'" in message
    assert str(MAPPINGS_DIR) in message and VALUE not in message


def test_unit_without_ucum_form_on_a_mapped_code_names_its_mapping_line(mappings: Mappings) -> None:
    with pytest.raises(UnitNotUcum) as err:
        map_report(report(obx("NA", "milli-équivalents")), mappings, settings=MAPPING)
    assert "biochimie.yaml:" in str(err.value) and "convert:" in str(err.value)


def test_ui_per_litre_is_read_by_what_the_code_measures(mappings: Mappings) -> None:
    enzyme = only(mappings, obx("1742-6", "UI/L", system="LN"))  # ALT: an enzymatic activity
    hormone = only(mappings, obx("15067-2", "UI/L", system="LN"))  # FSH: international units
    assert (enzyme.unit, hormone.unit) == ("U/L", "[IU]/L")
    with pytest.raises(UnitNotUcum, match="hormones and immunoassays"):
        only(mappings, obx("ZZ3", "UI/L"))  # no code says which: the lab must


def test_previous_results_units_are_ucum_too(mappings: Mappings) -> None:
    prev = (PreviousResult(Numeric(Decimal("1"), "1"), "ug/dl", "20250101"),)
    mapped = only(mappings, obx("ZZ4", "ug/dL", previous=prev))
    assert mapped.previous[0].units == "ug/dL"


def test_a_mapping_file_unit_with_no_ucum_form_holds_instead_of_being_sent(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(textwrap.dedent("""\
        chapter: 18719-5
        tests:
          GGT:
            loinc: 2324-2
            display: Gamma GT
            unit: enzyme units
        """), encoding="utf-8")
    with pytest.raises(UnitNotUcum, match=r"t\.yaml:3"):
        map_report(report(obx("GGT", "enzyme units")), Mappings.load(tmp_path), settings=MAPPING)


units = st.one_of(
    st.sampled_from(["g/L", "G/L", "mmol/l", "UI/mL", "mUI/L", "µg/L", "ug/dl", "%", "fl", "T/L", "mg/24h",
                     "10^9/L", "meq/L", "mm[Hg]", "enzyme units", "Mg/dL", "U/L", "sec", ""]),
    st.text(alphabet="gmolLuµUI/%*^[]{}.()0129 dkn", min_size=1, max_size=9),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(unit=units)
def test_every_unit_sent_is_ucum_or_the_report_waits(mappings: Mappings, unit: str) -> None:
    """Property: whatever OBX-6 holds, the mapped unit parses as UCUM, or UnitNotUcum is raised."""
    try:
        mapped = map_report(report(obx("ZZ5", unit)), mappings, settings=MAPPING).results[0]
    except UnitNotUcum as exc:
        assert VALUE not in str(exc) and "'ZZ5'" in str(exc)
        return
    assert mapped.unit == "" or ucum_error(mapped.unit) is None
    assert " " not in mapped.unit  # the CDA schema's cs type refuses whitespace


# ---------------------------------------------------------------- 12.5 codes that contradict their unit


def test_mass_code_sent_with_a_molar_unit_waits(mappings: Mappings) -> None:
    with pytest.raises(LoincUnitConflict) as err:
        map_report(report(obx("2345-7", "mmol/L", system="LN", label="Glycémie")), mappings, settings=MAPPING)
    message = str(err.value)
    assert "2345-7" in message and "Mass/volume" in message and "'mmol/L'" in message
    assert VALUE not in message and "map local code" in message


def test_urea_nitrogen_sent_for_urea_waits_unless_the_lab_maps_the_local_code(tmp_path: Path,
                                                                            mappings: Mappings) -> None:
    urea = obx("URE", "mmol/L", label="Urée", alt=("3094-0", "LN"))  # the SIL's LOINC: urea nitrogen (mass)
    with pytest.raises(LoincUnitConflict):
        map_report(report(urea), mappings, settings=MAPPING)
    for path in MAPPINGS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    with (tmp_path / "biochimie.yaml").open("a", encoding="utf-8") as handle:
        handle.write("  URE:\n    loinc: 22664-7\n    display: Urée\n    unit: mmol/L\n")
    mapped = only(Mappings.load(tmp_path), urea)
    assert mapped.loinc is not None and mapped.loinc.code == "22664-7"  # the lab's mapping wins
    assert mapped.unit == "mmol/L" and mapped.display == "Urée"


def test_a_mapping_whose_code_contradicts_its_unit_holds_and_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("chapter: 18719-5\ntests:\n  GLU:\n    loinc: 2345-7\n    display: Glucose\n"
                                     "    unit: mmol/L\n", encoding="utf-8")
    with pytest.raises(LoincUnitConflict, match=r"t\.yaml:3"):
        map_report(report(obx("GLU", "mmol/L")), Mappings.load(tmp_path), settings=MAPPING)


def test_a_code_that_fits_its_unit_passes(mappings: Mappings) -> None:
    mapped = only(mappings, obx("14749-6", "mmol/L", system="LN", label="Glycémie"))
    assert mapped.loinc is not None and mapped.loinc.code == "14749-6" and mapped.unit == "mmol/L"


# ---------------------------------------------------------------- 12.6 chapters by LOINC class


@pytest.mark.parametrize(("code", "unit", "chapter", "sub"), [
    ("751-8", "G/L", "18723-7", None),         # HEM/BC neutrophils → Hématologie
    ("3173-2", "s", "18720-3", None),          # COAG aPTT → Hémostase
    ("600-7", "", "18725-2", None),            # MICRO blood culture → Microbiologie
    ("5334-8", "UI/mL", "18727-8", None),      # MICRO rubella IgG antibodies → Sérologie
    ("18864-9", "", "18725-2", "18769-0"),     # ABXBACT ampicillin → Microbiologie / Antibiogramme
    ("5803-2", "", "18729-4", None),           # UA urine pH (test strip) → Examens urinaires
    ("14933-6", "umol/L", "18719-5", None),    # Chem urate → Biochimie
    ("2019-8", "mm[Hg]", "18767-4", None),     # Chem pCO2 → Gaz du sang
])
def test_unmapped_loinc_codes_are_placed_by_their_loinc_class(mappings: Mappings, code: str, unit: str,
                                                              chapter: str, sub: str | None) -> None:
    result = obx(code, unit, system="LN", label="Libellé du labo")
    if not unit:
        result = Result(set_id="1", value_type="CE", code=result.code, status="F")
    mapped = only(mappings, result)
    assert mapped.chapter.code == chapter
    assert (mapped.subchapter.code if mapped.subchapter else None) == sub


def test_an_unmapped_local_code_goes_with_the_rest_of_its_order(mappings: Mappings) -> None:
    mapped = map_report(report(obx("HB", "g/dL"), obx("GB", "G/L"), obx("ERYTHRO", "%", label="Érythroblastes")),
                        mappings, settings=MAPPING)
    assert [r.chapter.code for r in mapped.results] == ["18723-7"] * 3


def _lab() -> LabIdentity:
    return LabIdentity(name="Laboratoire de test", finess="920000000", oid_root="1.2.250.1.999.1",
                       ipp_oid="1.2.250.1.999.1.3", default_biologist_rpps="10003461033",
                       default_biologist_family="BIOLOGISTE", default_biologist_given="Anne")


def test_the_document_header_and_sections_use_the_chapter_of_the_loinc_class(mappings: Mappings) -> None:
    base = report(obx("751-8", "G/L", system="LN", label="Neutrophiles"))
    patient = Patient(
        identifiers=(Identifier("IPP0001", type_code="PI"),),
        names=(PersonName(family="SYNTHETIQUE", given=("Un",)),),
        birth_date="19800101",
        sex="M",
    )
    mapped: MappedReport = map_report(dataclasses.replace(base, patient=patient), mappings, settings=MAPPING)
    ids = DocumentIdentity(
        document_id_root="1.2.250.1.999.1.1",
        document_id_extension="DOC1",
        set_id_root="1.2.250.1.999.1.5",
        set_id_extension="SET1",
        version=1,
        replaces=None,
        effective_time="20240104160527+0100",
    )
    doc = etree.fromstring(build_document(mapped, lab=_lab(), ids=ids, pdf=b"%PDF-1.4\n%%EOF\n"))
    ns = {"h": "urn:hl7-org:v3"}
    events = doc.xpath("//h:documentationOf/h:serviceEvent/h:code/@code", namespaces=ns)
    sections = doc.xpath("//h:component/h:structuredBody/h:component/h:section/h:code/@code", namespaces=ns)
    assert events == ["18723-7"] and "18723-7" in sections and "18719-5" not in sections


# ---------------------------------------------------------------- 13 (part) labels and units for readers


def test_the_labs_label_is_shown_not_the_english_long_name(mappings: Mappings) -> None:
    mapped = only(mappings, obx("2345-7", "g/L", system="LN", label="Glycémie"))
    assert mapped.display == "Glycémie"  # was "Glucose [Mass/volume] in Serum or Plasma"
    bare = only(mappings, obx("718-7", "g/dL", system="LN", label=""))  # no label: the French display
    assert bare.display == "Hémoglobine"


@pytest.mark.parametrize(("code", "sent", "ucum", "label"), [
    ("GB", "G/L", "10*9/L", "G/L"), ("TOXOG", "UI/mL", "[IU]/mL", "UI/mL"), ("CREA", "µmol/L", "umol/L", "µmol/L"),
    ("TSH", "mUI/L", "m[IU]/L", "mUI/L"), ("GR", "T/L", "10*12/L", "T/L"),
])
def test_mapped_results_carry_a_unit_label_for_readers(mappings: Mappings, code: str, sent: str, ucum: str,
                                                       label: str) -> None:
    mapped = only(mappings, obx(code, sent))
    assert (mapped.unit, mapped.unit_display) == (ucum, label)
