"""Synthetic reports (fictitious patients, ANS test INS) for tests, the benchmarks and demos.

``sample_mapped_report`` covers every value shape the CDA builder handles: PQ, SN
comparator / range / ratio, coded serology, culture + antibiogram, text, comments,
antériorités, sub-chapters, batteries. ``sample_numeric_report(n)`` is a report of any
size for the PDF copy (pagination, flags, accents); ``sample_text_report`` has only
text and coded values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from connector.model import (
    Address,
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
    ResultValue,
    Specimen,
    StructuredNumeric,
    Text,
)

__all__ = [
    "TEST_INS",
    "sample_ids",
    "sample_lab",
    "sample_mapped_report",
    "sample_numeric_report",
    "sample_patient",
    "sample_text_report",
    "tiny_pdf",
]

LN = "2.16.840.1.113883.6.1"
BIOCHIMIE = Coded("18719-5", "Biochimie", LN)
HEMATOLOGIE = Coded("18723-7", "Hématologie", LN)
MICROBIOLOGIE = Coded("18725-2", "Microbiologie", LN)
SEROLOGIE = Coded("18727-8", "Sérologie", LN)
# ANS test INS (docs/spec/terminology.md §5) under the test OID; never a real person.
TEST_INS = "279035121518989"
# Hyphen, ligature and accents: the PDF font subset and the file name must keep them all.
ACCENTED_NAME = PersonName(family="DÉSIRÉ-ŒUVRARD", given=("Françoise", "Zoé"), name_type="L")


def tiny_pdf() -> bytes:
    """A minimal valid one-page PDF (enough for the B64 copy; the real one comes from connector.pdf)."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def sample_lab() -> LabIdentity:
    return LabIdentity(
        name="Laboratoire Synthétique des Tests",
        finess="920000000",
        oid_root="1.2.250.1.999.1",
        ipp_oid="1.2.250.1.999.1.3",
        street="1 rue des Essais",
        postal_code="92100",
        city="BOULOGNE-BILLANCOURT",
        telecom="tel:0100000000",
        mailbox="labo@test.mssante.fr",
        default_biologist_rpps="10003461033",
        default_biologist_family="BIOLOGISTE",
        default_biologist_given="Test",
    )


def sample_ids(
    version: int = 1, replaces: tuple[str, str] | None = None
) -> DocumentIdentity:
    return DocumentIdentity(
        document_id_root="1.2.250.1.999.1.1",
        document_id_extension=f"DOC{version}",
        set_id_root="1.2.250.1.999.1.5",
        set_id_extension="SET1",
        version=version,
        replaces=replaces,
        effective_time="20240104160527+0100",
    )


def sample_patient(*, qualified: bool = True, name: PersonName | None = None) -> Patient:
    return Patient(
        identifiers=(
            Identifier(TEST_INS, oid="1.2.250.1.213.1.4.10", type_code="INS"),
            Identifier("IPP0001", authority="LAB", type_code="PI"),
        ),
        names=(name or PersonName(family="PAT-TEST", given=("CAMILLE", "CAMILLE MARIE"), name_type="L"),),
        birth_date="19790328",
        sex="F",
        addresses=(
            Address(
                street="1 rue Fictive",
                city="PARIS",
                postal_code="75007",
                address_type="H",
            ),
            Address(city="DOMPREMY", county="51215", address_type="BDL"),
        ),
        identity_status=IdentityStatus.QUALIFIED
        if qualified
        else IdentityStatus.PROVISIONAL,
    )


def _obx(
    n: int,
    code: str,
    label: str,
    value: ResultValue,
    status: str = "F",
    value_type: str = "NM",
    **kw: Any,
) -> Result:
    return Result(
        set_id=str(n),
        value_type=value_type,
        code=Coded(code, label, "L"),
        values=(value,),
        status=status,
        observed_at="202401041120",
        **kw,
    )


def _num(text: str) -> Numeric:
    return Numeric(Decimal(text), text)


def _mapped(
    result: Result,
    loinc: Coded | None,
    chapter: Coded,
    unit: str,
    battery: Coded | None = None,
    rr: ReferenceRange | None = None,
    interp: tuple[str, ...] = (),
    **kw: Any,
) -> MappedResult:
    return MappedResult(
        result=result,
        local=result.code,
        loinc=loinc,
        display=(loinc.display if loinc else result.code.display),
        chapter=chapter,
        battery=battery,
        value=result.values[0] if result.values else None,
        unit=unit,
        reference_range=rr,
        interpretation=interp,
        previous=result.previous,
        **kw,
    )


def sample_mapped_report(
    *, qualified: bool = True, preliminary: bool = False, extra_numeric: int = 0
) -> MappedReport:
    """A report across five chapters; ``extra_numeric`` adds plain PQ results (benchmark size)."""
    biologist = Practitioner(
        identifier=Identifier("10003461033", type_code="RPPS"), name=PersonName(family="BIOLOGISTE", given=("Test",))
    )
    prescriber = Practitioner(
        identifier=Identifier("10002422979", type_code="RPPS"),
        name=PersonName(family="PRESCRIPTEUR", given=("Paul",)),
    )
    # A home visit: the nurse who drew the blood (OBR-10) becomes the CR-BIO sampler participant.
    nurse = Practitioner(
        identifier=Identifier("10003456789", type_code="RPPS"), name=PersonName(family="INFIRMIERE", given=("Rose",))
    )
    nfs, iono, crp_b = (
        Coded("NFS", "Numération formule sanguine", "L"),
        Coded("IONO", "Ionogramme", "L"),
        Coded("CRP", "CRP", "L"),
    )
    serum = Specimen(
        identifier="S1", type=Coded("SER", "Sérum", "HL70487"), collected_at="202401040735", received_at="202401040752"
    )
    r_hb = _obx(
        1,
        "HB",
        "Hémoglobine",
        _num("13.5"),
        previous=(PreviousResult(_num("12.9"), "g/dL", "20231104"),),
        comments=(Comment("Contrôlé sur\nun second tube", "L"),),
    )
    r_gb = _obx(2, "GB", "Leucocytes", _num("6.20"), status="P" if preliminary else "F")
    # The ionogram was validated by a second biologist (OBX-16) after its analysis (OBX-19);
    # sodium names its ANSM technique (OBX-17), potassium a local one (left out of the CDA).
    validator = Practitioner(
        identifier=Identifier("10003461041", type_code="RPPS"), name=PersonName(family="VALIDEUR", given=("Vera",))
    )
    r_na = _obx(
        3,
        "NA",
        "Sodium",
        _num("140"),
        method=Coded("9EI", "Potentiométrie indirecte", "1.2.250.1.213.2.3.5"),
        responsible_observer=validator,
        analysed_at="202401041410",
    )
    r_k = _obx(
        4,
        "K",
        "Potassium",
        _num("5.9"),
        method=Coded("POT", "Potentiométrie maison", "L"),
        responsible_observer=validator,
        analysed_at="202401041405",
    )
    r_crp = _obx(
        5,
        "CRP",
        "Protéine C réactive",
        StructuredNumeric("<", Decimal("1.0"), "", None, "<^1.0"),
    )
    r_ratio = _obx(
        6,
        "TOXOT",
        "Toxoplasmose titre",
        StructuredNumeric("", Decimal(1), ":", Decimal(128), "^1^:^128"),
    )
    r_range = _obx(
        7,
        "TOXOG",
        "Toxoplasmose IgG",
        StructuredNumeric("", Decimal(10), "-", Decimal(20), "^10^-^20"),
    )
    r_interp = _obx(
        8,
        "TOXOGI",
        "Toxoplasmose IgG, interprétation",
        CodedValue(Coded("POS", "Positif", "L")),
    )
    r_cult = _obx(
        9,
        "CULT",
        "Culture urinaire",
        CodedValue(Coded("ECOLI", "Escherichia coli", "L")),
    )
    r_amx = _obx(1, "AMX", "Amoxicilline", CodedValue(Coded("R", "Résistant", "L")))
    r_ctx = _obx(2, "CTX", "Céfotaxime", CodedValue(Coded("S", "Sensible", "L")))
    r_text = _obx(10, "ASPECT", "Aspect", Text("Clair"))
    extra = [
        _obx(20 + i, f"X{i}", f"Analyte {i}", _num(f"{i}.5"))
        for i in range(extra_numeric)
    ]
    orders = (
        Order(
            service=nfs,
            placer_number=Identifier("CMD1"),
            requested_at="20240103",
            collected_at="202401040735",
            received_at="202401040752",
            reported_at="202401041600",
            status="F",
            prescriber=prescriber,
            collector=nurse,
            principal_interpreter=biologist,
            results=(r_hb, r_gb, *extra),
            specimens=(serum,),
            comments=(Comment("Patient à jeun", "L"),),
        ),
        Order(
            service=iono,
            placer_number=Identifier("CMD1"),
            collected_at="202401040735",
            results=(r_na, r_k, r_crp),
        ),
        Order(
            service=Coded("SERTOXO", "Sérologie toxoplasmose", "L"),
            results=(r_ratio, r_range, r_interp),
        ),
        Order(
            service=Coded("ECBU", "ECBU", "L"),
            results=(r_cult, r_text),
            collected_at="202401040735",
            specimens=(
                Specimen(
                    identifier="U1",
                    type=Coded("UR", "Urine", "HL70487"),
                    collected_at="202401040735",
                    received_at="202401040752",
                ),
            ),
        ),
        Order(
            service=Coded("ATB", "Antibiogramme", "L"),
            parent_result="CULT&Culture urinaire&L^1^ECOLI",
            results=(r_amx, r_ctx),
        ),
    )
    report = LabReport(
        report_id="rpt-0001",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="MSG1"),
        patient=sample_patient(qualified=qualified),
        orders=orders,
        comments=(Comment("Compte rendu de test", "L"),),
    )
    g_l = ReferenceRange(low=Decimal("12.0"), high=Decimal("16.0"), unit="g/dL")
    mapped = [
        _mapped(
            r_hb,
            Coded("718-7", "Hémoglobine [Masse/Volume] Sang ; Numérique", LN),
            HEMATOLOGIE,
            "g/dL",
            nfs,
            g_l,
            ("N",),
            subchapter=Coded("26436-6", "Numération", LN),
            specimen=serum,
        ),
        _mapped(
            r_gb,
            Coded("6690-2", "Leucocytes [Nombre/Volume] Sang ; Numérique", LN),
            HEMATOLOGIE,
            "10*9/L",
            nfs,
            ReferenceRange(low=Decimal(4), high=Decimal(10)),
            status="completed",
        ),
        *[
            _mapped(
                r,
                Coded("2951-2", "Sodium [Moles/Volume] Sérum/Plasma ; Numérique", LN),
                HEMATOLOGIE,
                "mmol/L",
                nfs,
            )
            for r in extra
        ],
        _mapped(
            r_na,
            Coded("2951-2", "Sodium [Moles/Volume] Sérum/Plasma ; Numérique", LN),
            BIOCHIMIE,
            "mmol/L",
            iono,
            ReferenceRange(low=Decimal(135), high=Decimal(145)),
            ("N",),
        ),
        _mapped(
            r_k,
            Coded("2823-3", "Potassium [Moles/Volume] Sérum/Plasma ; Numérique", LN),
            BIOCHIMIE,
            "mmol/L",
            iono,
            ReferenceRange(low=Decimal("3.5"), high=Decimal("5.0")),
            ("H",),
        ),
        _mapped(
            r_crp,
            None,
            BIOCHIMIE,
            "mg/L",
            crp_b,
            ReferenceRange(low=None, high=Decimal(5)),
            ("N",),
        ),
        _mapped(
            r_ratio,
            Coded("8039-0", "Toxoplasma gondii Ac [Titre] Sérum ; Numérique", LN),
            SEROLOGIE,
            "",
        ),
        _mapped(
            r_range,
            Coded(
                "8040-8", "Toxoplasma gondii IgG [Unités/Volume] Sérum ; Numérique", LN
            ),
            SEROLOGIE,
            "[IU]/mL",
            rr=ReferenceRange(text="< 2"),
        ),
        _mapped(
            r_interp,
            Coded("40677-7", "Toxoplasma gondii IgG [Présence] Sérum ; Qualitatif", LN),
            SEROLOGIE,
            "",
            interp=("POS",),
        ),
        _mapped(
            r_cult,
            Coded(
                "630-4",
                "Bactérie identifiée [Identification] Urine ; Nominal ; Culture",
                LN,
            ),
            MICROBIOLOGIE,
            "",
        ),
        _mapped(
            r_text,
            Coded("5767-9", "Aspect [Aspect] Urine ; Nominal", LN),
            MICROBIOLOGIE,
            "",
        ),
        _mapped(
            r_amx,
            Coded(
                "18862-3", "Amoxicilline+Acide clavulanique [Sensibilité] Isolat", LN
            ),
            MICROBIOLOGIE,
            "",
            Coded("18769-0", "Antibiogramme", "LN"),
        ),
        _mapped(
            r_ctx,
            Coded("18886-2", "Céfotaxime [Sensibilité] Isolat", LN),
            MICROBIOLOGIE,
            "",
            Coded("18769-0", "Antibiogramme", "LN"),
        ),
    ]
    return MappedReport(report=report, results=tuple(mapped), unmapped_codes=("CRP",))


# (local code, display, chapter, battery, value, UCUM unit, low, high, interpretation, previous)
_CATALOGUE = (
    ("HB", "Hémoglobine", HEMATOLOGIE, "NFS", "11.2", "g/dL", "12.0", "16.0", ("L",), "12.1"),
    ("GR", "Hématies", HEMATOLOGIE, "NFS", "4.12", "10*12/L", "3.80", "5.20", ("N",), "4.30"),
    ("HT", "Hématocrite", HEMATOLOGIE, "NFS", "36.5", "%", "37.0", "47.0", ("L",), ""),
    ("VGM", "Volume globulaire moyen", HEMATOLOGIE, "NFS", "88.6", "fL", "80", "100", ("N",), "87.0"),
    ("GB", "Leucocytes", HEMATOLOGIE, "NFS", "12.4", "10*9/L", "4.0", "10.0", ("H",), "9.8"),
    ("PNN", "Polynucléaires neutrophiles", HEMATOLOGIE, "NFS", "9.1", "10*9/L", "1.8", "7.5", ("H",), ""),
    ("PLT", "Plaquettes", HEMATOLOGIE, "NFS", "245", "10*9/L", "150", "400", ("N",), "230"),
    ("NA", "Sodium", BIOCHIMIE, "IONO", "139", "mmol/L", "136", "145", ("N",), "140"),
    ("K", "Potassium", BIOCHIMIE, "IONO", "5.9", "mmol/L", "3.5", "5.1", ("HH",), "4.2"),
    ("CL", "Chlorure", BIOCHIMIE, "IONO", "101", "mmol/L", "98", "107", ("N",), ""),
    ("CREA", "Créatinine", BIOCHIMIE, "RENAL", "92", "umol/L", "45", "90", ("H",), "80"),
    ("DFG", "DFG estimé (CKD-EPI)", BIOCHIMIE, "RENAL", "61", "mL/min/{1.73_m2}", "90", "", ("L",), ""),
    ("GLY", "Glycémie à jeun", BIOCHIMIE, "GLY", "1.05", "g/L", "0.70", "1.10", ("N",), "0.98"),
    ("CHOL", "Cholestérol total", BIOCHIMIE, "EAL", "2.31", "g/L", "", "2.00", ("H",), "2.10"),
    ("HDL", "Cholestérol HDL", BIOCHIMIE, "EAL", "0.52", "g/L", "0.40", "", ("N",), ""),
    ("TG", "Triglycérides", BIOCHIMIE, "EAL", "1.45", "g/L", "", "1.50", ("N",), ""),
    ("ASAT", "ASAT (TGO)", BIOCHIMIE, "HEP", "31", "U/L", "", "35", ("N",), ""),
    ("GGT", "Gamma-GT", BIOCHIMIE, "HEP", "78", "U/L", "", "38", ("H",), "65"),
    ("TSH", "TSH ultrasensible", BIOCHIMIE, "THY", "2.15", "m[iU]/L", "0.27", "4.20", ("N",), ""),
    ("VITD", "25-OH vitamine D (D2 + D3)", BIOCHIMIE, "VITD", "18", "ug/L", "30", "100", ("L",), "22"),
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


def sample_numeric_report(results: int = 20, *, qualified: bool = True, comments: bool = True) -> MappedReport:
    """``results`` numeric results cycling through a routine catalogue (two chapters, eight batteries).

    No LOINC codes: the PDF copy needs only the display names. 20 results fill one page; the
    patient and practitioners carry accents the PDF fonts must render.
    """
    prescriber = Practitioner(
        identifier=Identifier("10001234567", type_code="RPPS"), name=PersonName(family="MÜLLER", given=("Hélène",))
    )
    biologist = Practitioner(
        identifier=Identifier("10007654321", type_code="RPPS"), name=PersonName(family="BOËL", given=("Jérôme",))
    )
    mapped: list[MappedResult] = []
    obx_by_battery: dict[str, list[Result]] = {}
    for index in range(results):
        code, display, chapter, battery, value, unit, low, high, flags, previous = _CATALOGUE[index % len(_CATALOGUE)]
        obx = _obx(
            index + 1,
            code,
            display,
            _num(value),
            units=Coded(unit),
            abnormal_flags=flags,
            comments=(Comment("Contrôle conseillé ≤ 3 mois ; résultat vérifié sur un 2ᵉ prélèvement."),)
            if comments and code == "K"
            else (),
            previous=(PreviousResult(_num(previous), unit, "20231104"),) if previous else (),
        )
        obx_by_battery.setdefault(battery, []).append(obx)
        battery_code = Coded(battery, _BATTERIES[battery], "L")
        mapped.append(
            _mapped(
                obx, None, chapter, unit, battery_code, ReferenceRange(low=_dec(low), high=_dec(high), unit=unit), flags
            )
        )
    orders = tuple(
        Order(
            service=Coded(battery, _BATTERIES[battery], "L"),
            placer_group=Identifier("2401040042"),
            collected_at="202401040735",
            received_at="202401040752",
            reported_at="202401041600",
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
        header=MessageHeader(sending_application="SIL", sending_facility="LAB", control_id="MSG0001"),
        patient=sample_patient(qualified=qualified, name=ACCENTED_NAME),
        orders=orders,
        comments=(Comment("Patiente à jeun depuis ≥ 12 h. Traitement : lévothyroxine 50 µg."),) if comments else (),
    )
    return MappedReport(report=report, results=tuple(mapped))


def sample_text_report() -> MappedReport:
    """A serology report with text and coded values and no reference ranges, for a provisional identity."""
    hiv = _obx(1, "HIV", "Sérologie VIH", CodedValue(Coded("NEG", "Négatif", "L")), value_type="CE")
    conclusion = _obx(2, "CMT", "Conclusion", Text("Absence d'anticorps.\nPas de contrôle."), value_type="TX")
    order = Order(service=Coded("SERO", "Sérologies", "L"), results=(hiv, conclusion), collected_at="202401040735")
    report = LabReport(
        report_id="R2",
        header=MessageHeader(sending_application="SIL", sending_facility="LAB"),
        patient=sample_patient(qualified=False),
        orders=(order,),
    )
    return MappedReport(report=report, results=tuple(_mapped(r, None, SEROLOGIE, "") for r in (hiv, conclusion)))
