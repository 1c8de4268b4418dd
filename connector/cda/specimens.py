"""The specimen type (SPM-4, or OBR-15 in v2.3) as ``playingEntity/code``.

CR-BIO codes it from JDV_HL7_SpecimenType-CISIS: HL7 table 0487 codes under the codeSystem
``2.16.840.1.113883.18.311``. SILs send 0487 codes (``BLD^Sang^HL70487``), SNOMED CT specimen
concepts (``119297000^Blood specimen^SCT``) or their own codes. A 0487 code is written as is; a
SNOMED CT concept with an exact 0487 equivalent becomes that code (the SNOMED code kept in
``translation``); anything else is ``nullFlavor="OTH"`` with the code sent in ``translation`` (or
its text in ``originalText``): never dropped, never guessed. The JDV allows the nullFlavor.

Codes below are the 0487 codes of the kit's JDV a medical biology lab uses; every one is checked
against the kit's value set by tests/unit/test_cda_specimens.py (the JDV has 334).
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.model import Coded

from .values import code_system

__all__ = ["SNOMED_CT", "SPECIMEN_TYPES", "SPECIMEN_TYPE_SYSTEM", "SpecimenCode", "specimen_code"]

SPECIMEN_TYPE_SYSTEM = "2.16.840.1.113883.18.311"
SNOMED_CT = "2.16.840.1.113883.6.96"
# Names and OIDs a SIL writes for HL7 table 0487 (CWE-3).
_HL7_0487 = frozenset({"HL70487", "HL7 0487", "0487", "HL70070", SPECIMEN_TYPE_SYSTEM, "2.16.840.1.113883.12.487"})

SPECIMEN_TYPES: dict[str, str] = {
    "ABS": "Abcès", "AMN": "Liquide amniotique", "ASP": "Aspiration", "BLD": "Sang total",
    "BLDA": "Sang artériel", "BLDC": "Sang capillaire", "BLDCO": "Sang de cordon", "BLDV": "Sang veineux",
    "BON": "Os", "BPU": "Sang périphérique", "BRO": "Bronches", "BX": "Biopsie", "CNJT": "Conjonctive",
    "CSF": "Liquide céphalo-rachidien", "CVX": "Col de l'utérus", "DRN": "Drain", "EAR": "Oreille",
    "EYE": "Oeil", "FLD": "Liquide", "GAST": "Liquide gastrique", "GEN": "Génital", "GENC": "Génital cervical",
    "GENV": "Génital vaginal", "JNTFLD": "Liquide articulaire", "LAM": "Lamellaire", "MILK": "Lait maternel",
    "NOS": "Nez", "PAT": "Patient", "PLAS": "Plasma", "PLR": "Liquide pleural", "PUS": "Pus",
    "RBC": "Globules rouges", "SAL": "Salive", "SER": "Sérum", "SKN": "Peau", "SMN": "Liquide séminal",
    "SPT": "Expectoration", "STL": "Selles", "SWT": "Sueur", "THRT": "Gorge", "TISS": "Tissu",
    "UR": "Urine", "URC": "Urine de sonde", "URINM": "Urine de milieu de jet", "URT": "Urètre",
    "URTH": "Urètre", "WB": "Sang total", "WND": "Plaie", "WNDA": "Plaie aérobie", "WNDD": "Plaie drainage",
}
# SNOMED CT specimen concepts with an exact table 0487 equivalent.
_FROM_SNOMED: dict[str, str] = {
    "119297000": "BLD",  # Blood specimen
    "258580003": "BLD",  # Whole blood sample
    "122555007": "BLDV",  # Venous blood specimen
    "122552005": "BLDA",  # Arterial blood specimen
    "119364003": "SER",  # Serum specimen
    "119361006": "PLAS",  # Plasma specimen
    "122575003": "UR",  # Urine specimen
    "119339001": "STL",  # Stool specimen
    "119334006": "SPT",  # Sputum specimen
    "258450006": "CSF",  # Cerebrospinal fluid sample
    "258529004": "THRT",  # Throat swab
    "119342007": "SAL",  # Saliva specimen
    "119347001": "SMN",  # Seminal fluid specimen
    "119376003": "TISS",  # Tissue specimen
}
_SNOMED_NAMES = frozenset({"SCT", "SNOMED", "SNOMED-CT", "SNOMEDCT", "SNM", SNOMED_CT})


@dataclass(frozen=True, slots=True)
class SpecimenCode:
    """What ``playingEntity/code`` holds: a JDV code, or ``OTH`` with what was sent."""

    code: str = ""  # a 0487 code of the JDV, "" for nullFlavor OTH
    display: str = ""
    translation: tuple[str, str, str] | None = None  # (code, codeSystem OID, display) as sent
    text: str = ""  # the SIL's own label when its code has no known code system


def specimen_code(kind: Coded) -> SpecimenCode:
    system = kind.system.strip().upper()
    code = kind.code.strip()
    if code.upper() in SPECIMEN_TYPES and (system in _HL7_0487 or not system):
        return SpecimenCode(code.upper(), kind.display or SPECIMEN_TYPES[code.upper()])
    if system in _SNOMED_NAMES:
        mapped = _FROM_SNOMED.get(code)
        snomed = (code, SNOMED_CT, kind.display)
        if mapped is not None:
            return SpecimenCode(mapped, SPECIMEN_TYPES[mapped], snomed)
        return SpecimenCode(translation=snomed)
    oid = code_system(kind.system)
    if oid and code:
        return SpecimenCode(translation=(code, oid, kind.display))
    return SpecimenCode(text=kind.display or code)
