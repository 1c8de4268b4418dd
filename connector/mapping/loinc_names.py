"""What a LOINC name says about its axes, for rows that carry names but not the axis fields.

The shipped subset holds the fields the public lists give (long and short names, CLASS);
the PROPERTY and SYSTEM fields come only with the imported LOINC table. Where they are
missing we read them from the names, which follow LOINC's fixed patterns
(``Glucose [Moles/volume] in Serum or Plasma``) and ANS's French ones
(``Glucose à jeun [Moles/Volume] Sérum/Plasma ; Numérique``,
``Créatinine:Moles/Volume:Ponctuel:Sérum/Plasma:Numérique:``). This is our reading, kept
in memory for checks and ranking; it is never written back as a LOINC field.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum

__all__ = [
    "Specimen",
    "component_of",
    "plain_words",
    "property_from_names",
    "specimen_from_names",
    "specimen_from_system",
]

# LOINC long-name bracket → PROPERTY (LOINC Users' Guide, long common name patterns).
_EN_PROPERTY = {
    "mass/volume": "MCnc", "moles/volume": "SCnc", "#/volume": "NCnc", "enzymatic activity/volume": "CCnc",
    "units/volume": "ACnc", "volume fraction": "VFr", "mass fraction": "MFr", "moles fraction": "SFr",
    "entitic volume": "EntVol", "entitic mass": "EntMass", "presence": "PrThr", "mass/time": "MRat",
    "moles/time": "SRat", "partial pressure": "PPres", "titer": "Titr", "mass ratio": "MRto",
    "molar ratio": "SRto", "type": "Type", "identifier": "Prid", "#/area": "Naric", "time": "Time",
    "susceptibility": "Susc", "ratio": "Ratio", "volume rate": "VRat", "enzymatic activity/mass": "CCnt",
    "mass/mass": "MCnt", "moles/mass": "SCnt", "units/mass": "ACnt", "multiple of the median": "MoM",
    "interpretation": "Imp", "length": "Len", "volume": "Vol", "mass": "Mass", "relative time": "RelTime",
    "velocity": "Vel", "number": "Num", "arbitrary concentration": "ACnc", "substance concentration": "SCnc",
}
# ANS French displays: bracket ("[Masse/Volume]") or second field of the colon form.
_FR_PROPERTY = {
    "masse/volume": "MCnc", "moles/volume": "SCnc", "nombre/volume": "NCnc", "catalytique/volume": "CCnc",
    "arbitraire/volume": "ACnc", "fraction volumique": "VFr", "fraction massique": "MFr",
    "fraction de nombres": "NFr", "volume d'entite": "EntVol", "masse d'entite": "EntMass",
    "temps relatif": "RelTime", "temps": "Time", "presence/seuil": "PrThr", "sensibilite": "Susc",
    "masse ratio": "MRto", "ratio": "Ratio", "type": "Type", "identification": "Prid", "aspect": "Aspect",
    "volume/temps": "VRat",
}
# Property words in short names (``Hgb A1c MFr Bld``, ``WBC # Bld Auto``). The ``-mCnc``/``-sCnc``
# suffixes are not used: the SI list writes ``-mCnc`` for molar codes (14682-9).
_SHORT_TOKENS = {"NFr": "NFr", "MFr": "MFr", "VFr": "VFr", "SFr": "SFr", "#": "NCnc"}
_BRACKET = re.compile(r"\[([^\]]+)\]")
_TRANSLATE = str.maketrans({"β": "beta ", "α": "alpha ", "γ": "gamma ", "µ": "u", "μ": "u", "œ": "oe", "æ": "ae"})


def plain_words(text: str) -> str:
    """Lower case without accents, Greek letters spelt out: ``β-HCG sérique`` → ``beta -hcg serique``."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_TRANSLATE).lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def property_from_names(long_name: str, short_name: str = "", display_fr: str = "") -> str:
    """The LOINC PROPERTY a name states, or "" when it does not say."""
    for match in _BRACKET.findall(long_name):
        found = _EN_PROPERTY.get(match.strip().lower())
        if found:
            return found
    if long_name:
        lowered = long_name.lower()
        if "/100 " in lowered and ("leukocytes" in lowered or "erythrocytes" in lowered):
            return "NFr"
        if lowered.startswith("inr ") or " inr " in lowered or lowered.endswith(".inr"):
            return "RelTime"
        if "sedimentation rate" in lowered:
            return "Vel"
    for token in short_name.split():
        if token in _SHORT_TOKENS:
            return _SHORT_TOKENS[token]
    french = plain_words(display_fr)
    for match in _BRACKET.findall(french):
        found = _FR_PROPERTY.get(match.strip())
        if found:
            return found
    parts = french.split(":")
    if len(parts) >= 5:  # Composant:Propriété:Temps:Milieu:Échelle:Technique
        return _FR_PROPERTY.get(parts[1].strip(), "")
    return ""


class Specimen(StrEnum):
    """Coarse specimen classes, enough to tell a urine glucose from a blood one."""

    BLOOD = "blood"  # whole blood, red cells, arterial/venous/capillary blood
    SERUM_PLASMA = "serum_plasma"  # serum, plasma, platelet poor plasma
    URINE = "urine"
    CSF = "csf"
    STOOL = "stool"
    OTHER = "other"  # body fluids, tissues, isolates, dried blood spots, semen…
    UNKNOWN = ""


# Phrases of LOINC long names and ANS displays, longest first (``Cord blood`` before ``blood``).
_SPECIMEN_PHRASES: tuple[tuple[str, Specimen], ...] = (
    ("dried blood spot", Specimen.OTHER), ("cord blood", Specimen.OTHER), ("blood product unit", Specimen.OTHER),
    ("cerebral spinal fluid", Specimen.CSF), ("body fluid", Specimen.OTHER), ("pleural fluid", Specimen.OTHER),
    ("peritoneal fluid", Specimen.OTHER), ("synovial fluid", Specimen.OTHER), ("amniotic fluid", Specimen.OTHER),
    ("platelet poor plasma", Specimen.SERUM_PLASMA), ("serum or plasma", Specimen.SERUM_PLASMA),
    ("serum, plasma or blood", Specimen.SERUM_PLASMA), ("red blood cells", Specimen.BLOOD),
    ("urine sediment", Specimen.URINE), ("urine", Specimen.URINE), ("stool", Specimen.STOOL),
    ("isolate", Specimen.OTHER), ("semen", Specimen.OTHER), ("saliva", Specimen.OTHER), ("sweat", Specimen.OTHER),
    ("tissue", Specimen.OTHER), ("vaginal", Specimen.OTHER), ("unspecified specimen", Specimen.OTHER),
    ("serum", Specimen.SERUM_PLASMA), ("plasma", Specimen.SERUM_PLASMA), ("blood", Specimen.BLOOD),
    # ANS French displays
    ("sang buvard", Specimen.OTHER), ("liquide cephalorachidien", Specimen.CSF),
    ("serum/plasma", Specimen.SERUM_PLASMA),
    ("plasma pauvre en plaquettes", Specimen.SERUM_PLASMA), ("sediments urinaires", Specimen.URINE),
    ("urine", Specimen.URINE), ("isolat", Specimen.OTHER), ("selles", Specimen.STOOL), ("sang", Specimen.BLOOD),
    ("erythrocytes", Specimen.BLOOD),
)
# LOINC SYSTEM field values (imported table) → class.
_SYSTEMS = {
    "ser/plas": Specimen.SERUM_PLASMA, "ser": Specimen.SERUM_PLASMA, "plas": Specimen.SERUM_PLASMA,
    "ppp": Specimen.SERUM_PLASMA, "bld": Specimen.BLOOD, "bld^bpu": Specimen.OTHER, "rbc": Specimen.BLOOD,
    "bld.dot": Specimen.OTHER, "bpu": Specimen.OTHER, "ser/plas/bld": Specimen.SERUM_PLASMA, "urine": Specimen.URINE,
    "urine sed": Specimen.URINE, "csf": Specimen.CSF, "stool": Specimen.STOOL, "isolate": Specimen.OTHER,
    "bldv": Specimen.BLOOD, "blda": Specimen.BLOOD, "bldc": Specimen.BLOOD,
}


def specimen_from_system(system: str) -> Specimen:
    key = system.strip().lower()
    if not key:
        return Specimen.UNKNOWN
    return _SYSTEMS.get(key, Specimen.OTHER)


def specimen_from_names(long_name: str, display_fr: str = "") -> Specimen:
    """The specimen class a LOINC long name (``… in Serum or Plasma``) or an ANS display names."""
    if long_name:
        lowered = long_name.lower()
        for marker in (" in ", " of "):
            if marker in lowered:
                tail = lowered.rsplit(marker, 1)[1] if marker == " in " else lowered.split(marker, 1)[1]
                for phrase, specimen in _SPECIMEN_PHRASES:
                    if phrase in tail:
                        return specimen
        for phrase in ("erythrocyte mean", "platelet mean"):  # RBC/platelet indices name no specimen
            if lowered.startswith(phrase):
                return Specimen.BLOOD
        return Specimen.UNKNOWN
    french = plain_words(display_fr)
    tail = french.split("]", 1)[1] if "]" in french else ":".join(french.split(":")[3:4])
    for phrase, specimen in _SPECIMEN_PHRASES:
        if phrase in tail:
            return specimen
    return Specimen.UNKNOWN


def component_of(long_name: str, display_fr: str = "") -> str:
    """The analyte part of a name: before ``[``, else before the last `` in ``/`` of ``/`` by ``."""
    if long_name:
        text = long_name.split(" [", 1)[0]
        if text == long_name:
            for marker in (" by ", " in ", " of "):
                if marker in text:
                    text = text.rsplit(marker, 1)[0] if marker == " in " else text.split(marker, 1)[0]
        return text.strip()
    text = display_fr.split(" [", 1)[0]
    return text.split(":", 1)[0].strip()
