"""Does a unit fit what a LOINC code measures? (issue 12.5: a code is never sent with a unit that contradicts it)

A LOINC code fixes the PROPERTY (``2345-7`` is a mass concentration, ``14749-6`` a molar
one): a result in mmol/L under a Mass/volume code, or urea in mmol/L under the urea
nitrogen code ``3094-0`` (Mass/volume), says something false. Properties this table does
not know, units whose kind is unknown and empty units give ``UNKNOWN``, never a conflict:
the check refuses only what it can show to be wrong.
"""

from __future__ import annotations

from enum import StrEnum

from .unit_forms import UnitKind, unit_kind

__all__ = ["PROPERTY_KINDS", "Fit", "property_fit", "property_label"]

K = UnitKind
_RATIOS = frozenset({K.FRACTION, K.UNITLESS})
PROPERTY_KINDS: dict[str, frozenset[UnitKind]] = {
    "MCnc": frozenset({K.MASS_CONC}),
    "SCnc": frozenset({K.SUBSTANCE_CONC}),
    "NCnc": frozenset({K.NUMBER_CONC}),
    # Enzymes: U/L or kat/L; [IU]/L is accepted (the international unit of an enzyme is U).
    "CCnc": frozenset({K.CATALYTIC_CONC, K.ARBITRARY_CONC}),
    # Arbitrary concentrations: [IU]/L, U/mL and index values of immunoassays.
    "ACnc": frozenset({K.ARBITRARY_CONC, K.CATALYTIC_CONC, K.UNITLESS}),
    **{p: _RATIOS for p in ("MFr", "NFr", "VFr", "SFr", "CFr", "AFr", "MFr.DF", "RelTime", "Ratio", "Rto", "MRto",
                            "SRto", "NRto", "VRto", "RelRto", "RelMCnc", "RelSCnc", "RelCCnc", "RelACnc", "MoM",
                            "Titr")},
    "EntVol": frozenset({K.ENTITIC_VOLUME, K.VOLUME}),
    "EntMass": frozenset({K.ENTITIC_MASS, K.MASS}),
    "Time": frozenset({K.TIME}),
    "Vel": frozenset({K.VELOCITY}),
    "MRat": frozenset({K.MASS_RATE}),
    "SRat": frozenset({K.SUBSTANCE_RATE}),
    "VRat": frozenset({K.VOLUME_RATE}),
    "ArVRat": frozenset({K.AREA_VOLUME_RATE, K.VOLUME_RATE}),
    "PPres": frozenset({K.PRESSURE}),
    "Vol": frozenset({K.VOLUME}),
    "Mass": frozenset({K.MASS}),
}
# How the lint and the hold reasons name a property.
_LABELS = {
    "MCnc": "Mass/volume", "SCnc": "Moles/volume", "NCnc": "#/volume", "CCnc": "Enzymatic activity/volume",
    "ACnc": "Units/volume", "MFr": "Mass fraction", "NFr": "Number fraction", "VFr": "Volume fraction",
    "EntVol": "Entitic volume", "EntMass": "Entitic mass", "Time": "Time", "Vel": "Velocity",
    "RelTime": "Relative time", "MRat": "Mass/time", "SRat": "Moles/time", "PPres": "Partial pressure",
}
# A unit of the right kind for each property, for messages.
_EXAMPLES = {
    "MCnc": "g/L", "SCnc": "mmol/L", "NCnc": "10*9/L", "CCnc": "U/L", "ACnc": "[IU]/L", "EntVol": "fL",
    "EntMass": "pg", "Time": "s", "Vel": "mm/h", "MRat": "mg/(24.h)", "SRat": "mmol/(24.h)", "PPres": "mm[Hg]",
}


class Fit(StrEnum):
    FITS = "fits"
    CONFLICT = "conflict"
    UNKNOWN = "unknown"


def property_fit(loinc_property: str, ucum: str) -> Fit:
    allowed = PROPERTY_KINDS.get(loinc_property)
    kind = unit_kind(ucum) if ucum else UnitKind.UNKNOWN
    if allowed is None or kind in (UnitKind.UNKNOWN, UnitKind.OTHER):
        return Fit.UNKNOWN
    return Fit.FITS if kind in allowed else Fit.CONFLICT


def property_label(loinc_property: str) -> str:
    """``MCnc`` → ``Mass/volume (a unit like g/L)``: for messages lab IT reads."""
    label = _LABELS.get(loinc_property, loinc_property)
    example = _EXAMPLES.get(loinc_property) or ("%" if PROPERTY_KINDS.get(loinc_property) == _RATIOS else "")
    return f"{label} (a unit like {example})" if example else label
