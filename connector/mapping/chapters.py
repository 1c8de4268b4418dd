"""CR-BIO chapter codes (LOINC) with the French labels the 2024.01 ANS examples use.

Codes: historic JDV 1.2.250.1.213.1.1.5.90 (terminology.md §2), a code list only; labels
updated where the 2024.01 examples differ (18718-7, 18727-8). The current list lives in
the ANS "Circuit de la biologie" workbook (tab "2.Chapitres LOINC"): re-check before go-live.
"""

from __future__ import annotations

import re

from connector.model import Coded

from .loinc import LOINC_OID

__all__ = ["CHAPTER_LABELS", "WAITING_CODE_OID", "chapter_coded"]

# National "waiting" codes (codes d'attente) used for a few chapters without a LOINC code.
WAITING_CODE_OID = "1.2.250.1.213.1.1.5.130"

CHAPTER_LABELS: dict[str, str] = {
    "18716-1": "Allergie",
    "18717-9": "Immunohématologie",
    "18718-7": "Protéines, marqueurs tumoraux, vitamines",
    "18719-5": "Biochimie",
    "18720-3": "Hémostase, coagulation",
    "18721-1": "Dosages de médicaments et substances",
    "18722-9": "Fertilité",
    "18723-7": "Hématologie",
    "18724-5": "HLA",
    "18725-2": "Microbiologie",
    "18727-8": "Sérologie",
    "18728-6": "Toxicologie",
    "18729-4": "Examens urinaires - cristallurie",
    "18767-4": "Gaz du sang",
    "18768-2": "NFS - Hémogramme",
    "18769-0": "Antibiogramme",
    "26435-8": "Génétique humaine",
    "26436-6": "Biologie polyvalente",
    "26437-4": "Épreuves dynamiques",
    "26438-2": "Cytologie",
    "26439-0": "Chirurgie",
    "27898-6": "Pathologie",
    "82314-6": "Prélèvement transmis à un laboratoire spécialisé",
    "92892-9": "Sérologie parasitaire",
    "92893-7": "Sérologie virale",
    "92894-5": "Sérologie bactérienne",
    "92895-2": "Endocrinologie",
    "101792-0": "Résultats de laboratoire scannés",
    "14340-4": "Electrophorèse des protéines",
    # codes d'attente (1.2.250.1.213.1.1.5.130)
    "600238": "Examens sur LCR",
    "692344": "Examens sur liquide de ponction",
    "572177": "HPA",
    "859127": "Examens sur selles",
    "930894": "Biologie moléculaire",
    "1160878": "HNA",
}


def chapter_coded(code: str, display: str = "") -> Coded:
    """The chapter as a Coded: LOINC OID, or the waiting-code OID for codes without a dash."""
    system = LOINC_OID if "-" in code else WAITING_CODE_OID
    return Coded(code, display or CHAPTER_LABELS.get(code, ""), system)


# LOINC CLASS → CR-BIO chapter, for results no mapping file places (issue 12.6). LOINC classes
# of the Top 2000+ lists and the LOINC Users' Guide; the chapter codes are LOINC's own
# "… studies (set)" codes of the same domain (18723-7 Hematology studies for HEM/BC, …).
_CLASS_CHAPTERS: dict[str, str] = {
    "HEM/BC": "18723-7",
    "COAG": "18720-3",
    "MICRO": "18725-2",
    "PANEL.MICRO": "18725-2",
    "ABXBACT": "18725-2",  # with the Antibiogramme sub-chapter
    "SERO": "18727-8",
    "CHEM": "18719-5",
    "UA": "18729-4",
    "DRUG/TOX": "18721-1",
    "BLDBK": "18717-9",
    "ALLERGY": "18716-1",
    "CELLMARK": "18718-7",
    "HLA": "18724-5",
    "FERT": "18722-9",
    "CYTO": "26438-2",
    "PATH": "27898-6",
    "CHAL": "26437-4",
}
_ANTIBODY_OR_ANTIGEN = re.compile(r"\b(Ab|Ag|IgG|IgM|IgA)\b", re.IGNORECASE)
_MOLECULAR = "930894"  # code d'attente "Biologie moléculaire"
_BLOOD_GASES = "18767-4"
_BLOOD_GAS_NAMES = ("pH of", "Base excess", "Oxygen saturation")
ANTIBIOGRAM = "18769-0"


def chapter_for_loinc(loinc_class: str, *, component: str = "", loinc_property: str = "",
                      long_name: str = "") -> tuple[Coded, Coded | None] | None:
    """(chapter, sub-chapter) for a LOINC code by its CLASS, or None when the class says nothing.

    Infectious serologies are class MICRO in LOINC but a Sérologie chapter in CR-BIO
    reports; blood gases are class CHEM but have their own chapter.
    """
    key = loinc_class.strip().upper()
    if key.startswith("MOLPATH"):
        return chapter_coded(_MOLECULAR), None
    code = _CLASS_CHAPTERS.get(key)
    if code is None:
        return None
    if key == "MICRO" and _ANTIBODY_OR_ANTIGEN.search(component):
        code = "18727-8"
    if key == "CHEM" and (loinc_property == "PPres" or long_name.startswith(_BLOOD_GAS_NAMES)):
        code = _BLOOD_GASES
    sub = chapter_coded(ANTIBIOGRAM) if key == "ABXBACT" else None
    return chapter_coded(code), sub
