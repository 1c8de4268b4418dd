"""Synthetic MappedReport values for the PDF tests and bench (the mapping stage is built in parallel).

All patients here are invented. ``sample_report(results=20)`` gives the reference 2-page,
20-result report used by ``bench/bench_pdf.py``.
"""

from __future__ import annotations

from decimal import Decimal

from connector.model import (
    Coded,
    CodedValue,
    Comment,
    DocumentIdentity,
    Identifier,
    IdentityStatus,
    LabIdentity,
    LabReport,
    MappedReport,
    MappedResult,
    MessageHeader,
    Numeric,
    Order,
    Patient,
    PersonName,
    Practitioner,
    PreviousResult,
    ReferenceRange,
    Result,
    Text,
)

INS_VALUE = "279035121518989"  # synthetic NIR (test OID below), never a real person
LOINC = "2.16.840.1.113883.6.1"
HEMATO = Coded("18723-7", "Hématologie", LOINC)
BIOCHEM = Coded("18719-5", "Biochimie", LOINC)
SEROLOGY = Coded("18727-8", "Sérologie", LOINC)

# (local code, display, chapter, battery, value, UCUM unit, low, high, interpretation, previous)
_CATALOGUE = (
    ("HB", "Hémoglobine", HEMATO, "NFS", "11.2", "g/dL", "12.0", "16.0", ("L",), "12.1"),
    ("GR", "Hématies", HEMATO, "NFS", "4.12", "10*12/L", "3.80", "5.20", ("N",), "4.30"),
    ("HT", "Hématocrite", HEMATO, "NFS", "36.5", "%", "37.0", "47.0", ("L",), ""),
    ("VGM", "Volume globulaire moyen", HEMATO, "NFS", "88.6", "fL", "80", "100", ("N",), "87.0"),
    ("GB", "Leucocytes", HEMATO, "NFS", "12.4", "10*9/L", "4.0", "10.0", ("H",), "9.8"),
    ("PNN", "Polynucléaires neutrophiles", HEMATO, "NFS", "9.1", "10*9/L", "1.8", "7.5", ("H",), ""),
    ("PLT", "Plaquettes", HEMATO, "NFS", "245", "10*9/L", "150", "400", ("N",), "230"),
    ("NA", "Sodium", BIOCHEM, "IONO", "139", "mmol/L", "136", "145", ("N",), "140"),
    ("K", "Potassium", BIOCHEM, "IONO", "5.9", "mmol/L", "3.5", "5.1", ("HH",), "4.2"),
    ("CL", "Chlorure", BIOCHEM, "IONO", "101", "mmol/L", "98", "107", ("N",), ""),
    ("CREA", "Créatinine", BIOCHEM, "RENAL", "92", "umol/L", "45", "90", ("H",), "80"),
    ("DFG", "DFG estimé (CKD-EPI)", BIOCHEM, "RENAL", "61", "mL/min/{1.73_m2}", "90", "", ("L",), ""),
    ("GLY", "Glycémie à jeun", BIOCHEM, "GLY", "1.05", "g/L", "0.70", "1.10", ("N",), "0.98"),
    ("CHOL", "Cholestérol total", BIOCHEM, "EAL", "2.31", "g/L", "", "2.00", ("H",), "2.10"),
    ("HDL", "Cholestérol HDL", BIOCHEM, "EAL", "0.52", "g/L", "0.40", "", ("N",), ""),
    ("TG", "Triglycérides", BIOCHEM, "EAL", "1.45", "g/L", "", "1.50", ("N",), ""),
    ("ASAT", "ASAT (TGO)", BIOCHEM, "HEP", "31", "U/L", "", "35", ("N",), ""),
    ("GGT", "Gamma-GT", BIOCHEM, "HEP", "78", "U/L", "", "38", ("H",), "65"),
    ("TSH", "TSH ultrasensible", BIOCHEM, "THY", "2.15", "m[iU]/L", "0.27", "4.20", ("N",), ""),
    ("VITD", "25-OH vitamine D (D2 + D3)", BIOCHEM, "VITD", "18", "ug/L", "30", "100", ("L",), "22"),
)
_BATTERIES = {
    "NFS": "Numération formule sanguine",
    "IONO": "Ionogramme sanguin",
    "RENAL": "Fonction rénale",
    "GLY": "Glycémie",
    "EAL": "Bilan lipidique (EAL)",
    "HEP": "Bilan hépatique",
    "THY": "Bilan thyroïdien",
    "VITD": "Vitamine D",
}


def _dec(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def sample_lab() -> LabIdentity:
    return LabIdentity(
        name="Laboratoire de Biologie Médicale Saint-Éloi",
        finess="010000000",
        oid_root="1.2.250.1.999.1",
        ipp_oid="1.2.250.1.999.1.2",
        street="12 rue de l'Œuvre",
        postal_code="69003",
        city="Lyon",
        telecom="tel:+33400000000",
    )


def sample_ids(version: int = 1) -> DocumentIdentity:
    return DocumentIdentity(
        document_id_root="1.2.250.1.999.1.3",
        document_id_extension="DOC-000123",
        set_id_root="1.2.250.1.999.1.4",
        set_id_extension="SET-000123",
        version=version,
        replaces=("1.2.250.1.999.1.3", "DOC-000122") if version > 1 else None,
        effective_time="20261125103000+0100",
    )


def sample_patient(*, qualified: bool = True) -> Patient:
    return Patient(
        identifiers=(
            Identifier("IPP-778899", "LAB", "1.2.250.1.999.1.2", "PI"),
            Identifier(INS_VALUE, "ASIP-SANTE-INS-NIR", "1.2.250.1.213.1.4.10", "INS"),
        ),
        names=(PersonName("DÉSIRÉ-ŒUVRARD", ("Françoise", "Zoé"), name_type="L"),),
        birth_date="19790312",
        sex="F",
        identity_status=IdentityStatus.QUALIFIED if qualified else IdentityStatus.PROVISIONAL,
    )


def sample_report(results: int = 20, *, qualified: bool = True, comments: bool = True) -> MappedReport:
    """A report with ``results`` results cycling through the catalogue (chapters, batteries, flags)."""
    prescriber = Practitioner(Identifier("10001234567", type_code="RPPS"), PersonName("MÜLLER", ("Hélène",)))
    biologist = Practitioner(Identifier("10007654321", type_code="RPPS"), PersonName("BOËL", ("Jérôme",)))
    mapped: list[MappedResult] = []
    obx_by_battery: dict[str, list[Result]] = {}
    for index in range(results):
        code, display, chapter, battery, value, unit, low, high, flags, previous = _CATALOGUE[index % len(_CATALOGUE)]
        obx = Result(
            set_id=str(index + 1),
            value_type="NM",
            code=Coded(code, display, "L"),
            values=(Numeric(Decimal(value), value),),
            units=Coded(unit),
            abnormal_flags=flags,
            status="F",
            comments=(Comment("Contrôle conseillé ≤ 3 mois ; résultat vérifié sur un 2ᵉ prélèvement."),)
            if comments and code == "K"
            else (),
            previous=(PreviousResult(Numeric(Decimal(previous), previous), unit, "20250917"),) if previous else (),
        )
        obx_by_battery.setdefault(battery, []).append(obx)
        mapped.append(
            MappedResult(
                result=obx,
                local=obx.code,
                loinc=None,
                display=display,
                chapter=chapter,
                battery=Coded(battery, _BATTERIES[battery], "L"),
                value=obx.values[0],
                unit=unit,
                reference_range=ReferenceRange(_dec(low), _dec(high), unit),
                interpretation=flags,
                previous=obx.previous,
            )
        )
    orders = tuple(
        Order(
            service=Coded(battery, _BATTERIES[battery], "L"),
            placer_group=Identifier("2611250042"),
            collected_at="202611250815",
            received_at="202611250905",
            reported_at="202611251030",
            status="F",
            prescriber=prescriber,
            principal_interpreter=biologist,
            results=tuple(obxs),
            comments=(Comment("Échantillon légèrement hémolysé : interpréter le potassium avec prudence."),)
            if comments and battery == "IONO"
            else (),
        )
        for battery, obxs in obx_by_battery.items()
    )
    report = LabReport(
        report_id="SIL-LAB-MSG0001-1",
        header=MessageHeader("SIL", "LAB", control_id="MSG0001"),
        patient=sample_patient(qualified=qualified),
        orders=orders,
        comments=(Comment("Patiente à jeun depuis ≥ 12 h. Traitement : lévothyroxine 50 µg."),) if comments else (),
    )
    return MappedReport(report=report, results=tuple(mapped))


def text_report() -> MappedReport:
    """A serology report with text and coded values and no reference ranges."""
    obx = Result("1", "CE", Coded("HIV", "Sérologie VIH", "L"), values=(CodedValue(Coded("NEG", "Négatif", "L")),))
    obx2 = Result("2", "TX", Coded("CMT", "Conclusion", "L"), values=(Text("Absence d'anticorps.\nPas de contrôle."),))
    order = Order(service=Coded("SERO", "Sérologies", "L"), results=(obx, obx2), collected_at="20261124")
    report = LabReport("R2", MessageHeader("SIL", "LAB"), sample_patient(qualified=False), (order,))
    results = tuple(
        MappedResult(result=o, local=o.code, loinc=None, display=o.code.display, chapter=SEROLOGY, value=o.values[0])
        for o in (obx, obx2)
    )
    return MappedReport(report=report, results=results)


def test_sample_report_has_the_requested_size() -> None:
    assert len(sample_report(20).results) == 20
    assert len(sample_report(45).results) == 45
