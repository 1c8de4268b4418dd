"""One laboratory observation (IHE 1.3.6.1.4.1.19376.1.3.1.6 / CI-SIS 1.2.250.1.213.1.1.3.80)
with its narrative row, comments, previous results (REFR) and reference range."""

from __future__ import annotations

from lxml import etree

from connector.model import (
    Coded,
    LabIdentity,
    MappedResult,
    PreviousResult,
    ReferenceRange,
)
from connector.model.oids import IdKind, oid_for

from .context import BuildContext
from .elements import LOINC, XSI_TYPE, coded, sub, templates
from .executing import executing_lab, is_this_lab
from .methods import ANSM_SYSTEM, ANSM_SYSTEM_NAME, ansm_method
from .narrative import SectionText
from .values import _number, cda_unit, value_element, value_text

__all__ = ["COMMENT_TEMPLATES", "ObservationWriter", "local_code_system"]

OBSERVATION_TEMPLATES = ("1.3.6.1.4.1.19376.1.3.1.6", "1.2.250.1.213.1.1.3.80")
COMMENT_TEMPLATES = (
    "2.16.840.1.113883.10.20.1.40",
    "1.3.6.1.4.1.19376.1.5.3.1.4.2",
    "1.2.250.1.213.1.1.3.32",
)
INTERPRETATION_SYSTEM = "2.16.840.1.113883.5.83"
# JDV_HL7_ObservationInterpretation_CISIS (kit): codes outside it fail the CR-BIO schematron.
INTERPRETATIONS = {
    "N": "Normal",
    "L": "Bas",
    "H": "Haut",
    "LL": "Critique bas",
    "HH": "Critique haut",
    "A": "Anormal",
    "AA": "Critique anormal",
    "LU": "Significativement bas",
    "HU": "Significativement haut",
    "S": "Sensible",
    "I": "Intermédiaire",
    "R": "Résistant",
    "SDD": "Sensible dose-dépendant",
    "POS": "Positif",
    "NEG": "Négatif",
    "IND": "Indéterminé",
    "DET": "Détecté",
    "ND": "Non détecté",
    "B": "Mieux",
    "W": "Pire",
    "U": "Augmentation significative",
    "D": "Diminution significative",
    "E": "Equivoque",
    "NR": "Non réactif",
    "RR": "Réactif",
    "WR": "Faiblement réactif",
    "EX": "Hors limites",
    "HX": "Au-dessus des limites",
    "LX": "En dessous des limites",
    "NS": "Non sensible",
    "CAR": "Porteur",
    "EXP": "Attendu",
    "UNE": "Inattendu",
    "IE": "Preuves insuffisantes",
    "NCL": "Sans CLSI",
}
def local_code_system(lab: LabIdentity) -> str:
    """The lab's local test code table: its own arc, distinct from document ids (connector.model.oids)."""
    return oid_for(lab.oid_root, IdKind.LOCAL_CODE)


class ObservationWriter:
    """Writes observations into one section (entries and narrative rows together)."""

    def __init__(self, ctx: BuildContext, text: SectionText) -> None:
        self.ctx = ctx
        self.text = text
        self.local_system = local_code_system(ctx.lab)

    def observation(self, slot: etree._Element, m: MappedResult) -> None:
        unit = cda_unit(m.unit)
        name_id, value_id, previous_cell = self.text.result_row(
            _label(m),
            _value_cell(m),
            unit,
            _range_text(m.reference_range),
        )
        obs = sub(slot, "observation", classCode="OBS", moodCode="EVN")
        templates(obs, *OBSERVATION_TEMPLATES)
        self._code(obs, m.loinc, m.local, name_id, _label(m))
        sub(obs, "statusCode", code=m.status or "completed")
        self._effective_time(obs, m.result.observed_at or self._collected(m), "OBX-14")
        if m.value is not None:
            value_element(
                obs,
                m.value,
                unit,
                text_ref=value_id,
                local_system=self.local_system,
                zone=self.ctx.lab.timezone,
            )
        for code in _interpretations(m):
            coded(
                obs,
                "interpretationCode",
                code,
                INTERPRETATION_SYSTEM,
                INTERPRETATIONS[code],
            )
        self._method(obs, m)  # CDA order: methodCode, performer, then entryRelationship
        lab = m.result.executing_lab
        if lab is not None and not is_this_lab(lab, self.ctx.lab):
            self.text.detail(f"Réalisé par : {lab.name or 'un laboratoire exécutant'}")
            when = m.result.analysed_at or m.result.observed_at
            executing_lab(obs, lab, self.ctx.ts(when, "OBX-19") if when else "")
        for comment in m.result.comments:
            self._comment(obs, self.text.comment(comment.text))
        for previous in m.previous:
            self._previous(obs, m, previous, previous_cell)
        if m.reference_range is not None:
            self._reference_range(obs, m.reference_range, unit)

    # ------------------------------------------------------------------ parts

    def _code(
        self, obs: etree._Element, code: Coded | None, local: Coded, ref: str, label: str
    ) -> None:
        """LOINC code, else originalText + the local code in translation. The CR-BIO volet wants a
        displayName on a local code: the SIL's text, else the label the narrative shows (``label``)."""
        if code is not None and code.code:
            el = coded(
                obs, "code", code.code, LOINC, code.display or code.code, "LOINC"
            )
        else:  # CR-BIO 2024.01: a non-LOINC code has only originalText, the local code in translation
            el = sub(obs, "code")
        sub(sub(el, "originalText"), "reference", value="#" + ref)
        if code is None or not code.code:
            sub(
                el,
                "translation",
                code=local.code,
                displayName=local.display or label,
                codeSystem=self.local_system,
            )

    def _method(self, obs: etree._Element, m: MappedResult) -> None:
        """OBX-17: an ANSM technique code, else its text in the narrative, referenced (kit's TSH example)."""
        method = ansm_method(m.result.method)
        if method is not None:
            coded(obs, "methodCode", method[0], ANSM_SYSTEM, method[1], ANSM_SYSTEM_NAME)
            self.text.detail(f"Technique : {method[1]}")
            return
        sent = m.result.method
        label = (sent.display or sent.code).strip() if sent is not None else ""
        if label:
            ref = self.text.detail(f"Technique : {label}")
            sub(sub(sub(obs, "methodCode"), "originalText"), "reference", value="#" + ref)

    def _collected(self, m: MappedResult) -> str:
        if m.specimen is not None and m.specimen.collected_at:
            return m.specimen.collected_at
        for order in self.ctx.mapped.report.orders:
            if any(r is m.result for r in order.results) and order.collected_at:
                return order.collected_at
        return ""

    def _effective_time(self, parent: etree._Element, dtm: str, what: str) -> None:
        if dtm:
            sub(parent, "effectiveTime", value=self.ctx.ts(dtm, what))
        else:
            sub(parent, "effectiveTime", nullFlavor="UNK")

    def _comment(self, obs: etree._Element, ref: str) -> None:
        rel = sub(obs, "entryRelationship", typeCode="SUBJ", inversionInd="true")
        act = sub(rel, "act", classCode="ACT", moodCode="EVN")
        templates(act, *COMMENT_TEMPLATES)
        coded(act, "code", "48767-8", LOINC, "Commentaire", "LOINC")
        sub(sub(act, "text"), "reference", value="#" + ref)
        sub(act, "statusCode", code="completed")

    def _previous(
        self,
        obs: etree._Element,
        m: MappedResult,
        previous: PreviousResult,
        cell: etree._Element,
    ) -> None:
        shown = value_text(previous.value)
        unit = cda_unit(previous.units or m.unit)
        date = previous.observed_at
        label = f"{shown} {unit}".strip() + (
            f" ({date[6:8]}/{date[4:6]}/{date[0:4]})" if len(date) >= 8 else ""
        )
        ref = self.text.previous(cell, label)
        rel = sub(obs, "entryRelationship", typeCode="REFR")
        prev = sub(rel, "observation", classCode="OBS", moodCode="EVN")
        self._code(prev, m.loinc, m.local, ref, _label(m))
        sub(prev, "statusCode", code="completed")
        self._effective_time(prev, date, "antériorité OBX-14")
        value_element(
            prev,
            previous.value,
            unit,
            text_ref=ref,
            local_system=self.local_system,
            zone=self.ctx.lab.timezone,
        )

    def _reference_range(
        self, obs: etree._Element, rr: ReferenceRange, unit: str
    ) -> None:
        if rr.low is None and rr.high is None:
            return  # a text-only range is shown in the narrative only
        obs_range = sub(
            sub(obs, "referenceRange", typeCode="REFV"),
            "observationRange",
            classCode="OBS",
            moodCode="EVN.CRT",
        )
        value = sub(obs_range, "value", {XSI_TYPE: "IVL_PQ"})
        # inclusive defaults to true in an IVL: say it only when the bound is excluded ("<80").
        if rr.low is not None:
            sub(value, "low", value=_number(rr.low), unit=cda_unit(rr.unit) or unit,
                inclusive="" if rr.low_inclusive else "false")
        if rr.high is not None:
            sub(value, "high", value=_number(rr.high), unit=cda_unit(rr.unit) or unit,
                inclusive="" if rr.high_inclusive else "false")
        coded(obs_range, "interpretationCode", "N", INTERPRETATION_SYSTEM, "Normal")


def _label(m: MappedResult) -> str:
    """The test's name as the doctor reads it: the mapping's label, else the SIL's text, else its code."""
    return m.display or m.local.display or m.local.code


def _interpretations(m: MappedResult) -> list[str]:
    codes = [c.upper() for c in m.interpretation if c.upper() in INTERPRETATIONS]
    if not codes and m.value is not None and hasattr(m.value, "coded"):
        sir = m.value.coded.code.upper()
        if sir in ("S", "I", "R") and m.battery is not None:
            codes = [sir]  # antibiogram S/I/R sent as the value
    return codes


def _value_cell(m: MappedResult) -> str:
    shown = value_text(m.value)
    flags = [c for c in m.interpretation if c.upper() not in ("N", "")]
    return f"{shown} ({', '.join(flags)})" if flags else shown


def _range_text(rr: ReferenceRange | None) -> str:
    if rr is None:
        return ""
    if rr.text:
        return rr.text
    low = "" if rr.low is None else _number(rr.low)
    high = "" if rr.high is None else _number(rr.high)
    if low and high:
        return f"{low} - {high}"
    # The same symbols as the entry's inclusive flag and the PDF (pdf_format.format_range).
    if high:
        return f"{'≤' if rr.high_inclusive else '<'} {high}"
    return f"{'≥' if rr.low_inclusive else '>'} {low}" if low else ""
