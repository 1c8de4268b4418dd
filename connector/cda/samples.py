"""Synthetic reports (fictitious patients, ANS test INS) for tests, the benchmark and demos.

Covers every value shape the builder handles: PQ, SN comparator / range / ratio, coded
serology, culture + antibiogram, text, comments, antériorités, sub-chapters, batteries.
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
    "sample_ids",
    "sample_lab",
    "sample_mapped_report",
    "sample_patient",
    "tiny_pdf",
]

LN = "2.16.840.1.113883.6.1"
BIOCHIMIE = Coded("18719-5", "Biochimie", LN)
HEMATOLOGIE = Coded("18723-7", "Hématologie", LN)
MICROBIOLOGIE = Coded("18725-2", "Microbiologie", LN)
SEROLOGIE = Coded("18727-8", "Sérologie", LN)
# ANS test INS (docs/spec/terminology.md §5) under the test OID; never a real person.
TEST_INS = "279035121518989"


def tiny_pdf() -> bytes:
    """A minimal valid one-page PDF (enough for the B64 copy; the real one comes from cda.pdf)."""
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
        "1.2.250.1.999.1.1",
        f"DOC{version}",
        "1.2.250.1.999.1.5",
        "SET1",
        version,
        replaces,
        "20240104160527+0100",
    )


def sample_patient(*, qualified: bool = True) -> Patient:
    return Patient(
        identifiers=(
            Identifier(TEST_INS, oid="1.2.250.1.213.1.4.10", type_code="INS"),
            Identifier("IPP0001", authority="LAB", type_code="PI"),
        ),
        names=(PersonName("PAT-TEST", ("CAMILLE", "CAMILLE MARIE"), name_type="L"),),
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
    n: int, code: str, label: str, value: ResultValue, status: str = "F", **kw: Any
) -> Result:
    return Result(
        str(n),
        "NM",
        Coded(code, label, "L"),
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
        result,
        result.code,
        loinc,
        (loinc.display if loinc else result.code.display),
        chapter,
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
        Identifier("10003461033", type_code="RPPS"), PersonName("BIOLOGISTE", ("Test",))
    )
    prescriber = Practitioner(
        Identifier("10002422979", type_code="RPPS"),
        PersonName("PRESCRIPTEUR", ("Paul",)),
    )
    nfs, iono, crp_b = (
        Coded("NFS", "Numération formule sanguine", "L"),
        Coded("IONO", "Ionogramme", "L"),
        Coded("CRP", "CRP", "L"),
    )
    serum = Specimen(
        "S1", Coded("SER", "Sérum", "HL70487"), "202401040735", "202401040752"
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
        Identifier("10003461041", type_code="RPPS"), PersonName("VALIDEUR", ("Vera",))
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
            nfs,
            Identifier("CMD1"),
            requested_at="20240103",
            collected_at="202401040735",
            received_at="202401040752",
            reported_at="202401041600",
            status="F",
            prescriber=prescriber,
            principal_interpreter=biologist,
            results=(r_hb, r_gb, *extra),
            specimens=(serum,),
            comments=(Comment("Patient à jeun", "L"),),
        ),
        Order(
            iono,
            Identifier("CMD1"),
            collected_at="202401040735",
            results=(r_na, r_k, r_crp),
        ),
        Order(
            Coded("SERTOXO", "Sérologie toxoplasmose", "L"),
            results=(r_ratio, r_range, r_interp),
        ),
        Order(
            Coded("ECBU", "ECBU", "L"),
            results=(r_cult, r_text),
            collected_at="202401040735",
            specimens=(
                Specimen(
                    "U1",
                    Coded("UR", "Urine", "HL70487"),
                    "202401040735",
                    "202401040752",
                ),
            ),
        ),
        Order(
            Coded("ATB", "Antibiogramme", "L"),
            parent_result="CULT&Culture urinaire&L^1^ECOLI",
            results=(r_amx, r_ctx),
        ),
    )
    report = LabReport(
        "rpt-0001",
        MessageHeader("SIL", "LAB", control_id="MSG1"),
        sample_patient(qualified=qualified),
        orders,
        comments=(Comment("Compte rendu de test", "L"),),
    )
    g_l = ReferenceRange(Decimal("12.0"), Decimal("16.0"), "g/dL")
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
            ReferenceRange(Decimal(4), Decimal(10)),
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
            ReferenceRange(Decimal(135), Decimal(145)),
            ("N",),
        ),
        _mapped(
            r_k,
            Coded("2823-3", "Potassium [Moles/Volume] Sérum/Plasma ; Numérique", LN),
            BIOCHIMIE,
            "mmol/L",
            iono,
            ReferenceRange(Decimal("3.5"), Decimal("5.0")),
            ("H",),
        ),
        _mapped(
            r_crp,
            None,
            BIOCHIMIE,
            "mg/L",
            crp_b,
            ReferenceRange(None, Decimal(5)),
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
    return MappedReport(report, tuple(mapped), unmapped_codes=("CRP",))
