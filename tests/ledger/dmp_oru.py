"""Synthetic ORU^R01 messages addressed to the patient's DMP, one synthetic patient per document series.

- shape A (discrete results, fed when ``dmp.discrete_feed`` is on): tests/data/e2e/three_recipients.hl7 with a
  qualified INS (PID-32 QUAL); a new version is the same order with every OBX-11 C (a correction);
- shape B (the SIL's own CDA, DESTDMP=Y, ACK_RECEPTION=Y): a real CR-BIO built by the connector for that
  patient with the SIL's root-only OIDs, wrapped as the ANS "Transmission de documents CDA en HL7v2" asks;
  a new version is OBX-11 C with relatedDocument RPLC, a deletion OBX-11 D on the version to delete.

Every INS is synthetic with a valid NIR key; every prescriber is in tests/data/e2e/directory.txt.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from connector.cda import build_document
from connector.config import demo_config
from connector.config.settings import lab_identity
from connector.mapping import Mappings, map_report
from connector.model import DocumentIdentity, LabIdentity
from connector.parse import parse_message, split_messages
from connector.pdf import render_pdf
from tests.support.paths import E2E
from tests.support.settings import MAPPING, PARSE

TEMPLATE = E2E / "three_recipients.hl7"
PRESCRIBER = "dr.x@hopital.test"
SIL_DOC_ROOT = "1.2.250.1.999.2.1"  # the SIL's document ids: root-only OIDs, as the DMP requires
SIL_SET_ROOT = "1.2.250.1.999.2.3"
INS_OID = "1.2.250.1.213.1.4.8"
_PID = "PID|1||IPPE2E01^^^LABO&1.2.250.1.999.1.1&ISO^PI||SYNTHE^PATIENTE^PATIENTE^^^^L||19700101|F|||"
_COPY_FIELD = ("810000000102^YCOPIE^SYNTH^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
               "~810000000103^INCONNU^SYNTH^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
# MetaDMPMSS flags (ANS IG order) for "professionals only, and the DMP": matrix row 2, ACK_RECEPTION=Y.
FLAGS = (("MASQUE_PS", "N"), ("INVISIBLE_PATIENT", "Y"), ("INVISIBLE_REP_LEGAUX", "N"), ("CONNEXION_SECRETE", "N"),
         ("MODIF_CONF_CODE", "N"), ("DESTDMP", "Y"), ("DESTMSSANTEPS", "Y"), ("DESTMSSANTEPAT", "N"),
         ("ACK_RECEPTION", "Y"), ("ACK_LECTURE_MSS", "N"))
PRT = ("PRT||UC||SB^^participation|810000000002^BIOLO^Anne^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|||"
       "LABO^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^1999999999",
       "PRT||UC||RCT^^participation|810000000101^XPRESCRIPTEUR^SYNTH^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D"
       f"^^^IDNPS||||||||||^^X.400^{PRESCRIBER}")


def synthetic_ins(index: int) -> str:
    """A 15-digit NIR with a valid key: sex, year, month, department 75, commune, order from ``index``."""
    body = f"{1 + index % 2}70{1 + index % 12:02d}75{56 + index // 1000:03d}{index % 1000:03d}"
    return body + f"{97 - int(body) % 97:02d}"


def ins_cx(index: int) -> str:
    """The patient's INS as the DMP (and the double's ``closed_patients``) name it."""
    return f"{synthetic_ins(index)}^^^&{INS_OID}&ISO^NH"


def report_id(control_id: str) -> str:
    """connector.parse.header.report_id_for (MSH-3|MSH-4|MSH-10|patient index)."""
    return "r-" + hashlib.sha256(f"SIL|LABO|{control_id}|0".encode()).hexdigest()[:16]


def sil_unique_id(series: int, version: int) -> str:
    return f"{SIL_DOC_ROOT}.{series}.{version}"


def discrete(control_id: str, *, patient: int, series: int, version: int, status: str = "QUAL") -> bytes:
    """Shape A: the order ``series`` of patient ``patient``; version 2+ corrects it (every OBX-11 C).
    ``status``: the identity's PID-32 (QUAL: a qualified INS, which the DMP requires)."""
    text = TEMPLATE.read_bytes().decode("utf-8")  # bytes: read_text would turn the CR separators into LF
    assert _PID in text and _COPY_FIELD in text, "three_recipients.hl7 changed: update tests/ledger/dmp_oru.py"
    text = text.replace("|E2E0001|P|", f"|{control_id}|P|", 1)  # MSH-10
    text = text.replace(_COPY_FIELD, "").replace("E2E0001", f"D{series:05d}")  # order and sample numbers
    pid = (f"PID|1||{synthetic_ins(patient)}^^^ASIP-SANTE-INS-NIR&{INS_OID}&ISO^INS~IPPD{patient:05d}^^^LABO"
           f"&1.2.250.1.999.1.1&ISO^PI||SYNTHE{patient:05d}^PATIENTE^PATIENTE^^^^L||19700101|F|||")
    text = text.replace(_PID, pid)
    lines = text.split("\r")
    lines = [_identified(line, status) if line.startswith("PID|") else line for line in lines]
    if version > 1:
        lines = [_corrected(line, version) if line.startswith("OBX|") else line for line in lines]
    return "\r".join(lines).encode("utf-8")


def _identified(pid: str, status: str) -> str:
    """PID-32 ``status``, and the birth place's INSEE code a qualified identity carries (PID-11 BDL)."""
    fields = pid.split("|")
    fields += [""] * (33 - len(fields))
    fields[11] += "~^^PARIS^^75001^FRA^BDL^^75056"
    fields[32] = status
    return "|".join(fields)


def _corrected(obx: str, version: int) -> str:
    fields = obx.split("|")
    fields[11] = "C"
    if fields[2] == "NM":
        fields[5] = f"{float(fields[5]) + version / 10:.1f}"  # a corrected value
    return "|".join(fields)


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[LabIdentity, Mappings]:
    config = demo_config()
    return lab_identity(config), Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)


def sil_cda(*, patient: int, series: int, version: int, status: str = "QUAL") -> bytes:
    """The CR-BIO a SIL would embed for version ``version`` of ``series``: root-only OIDs, RPLC from version 2."""
    lab, mappings = _setup()
    oru = discrete(f"CDA{series:05d}", patient=patient, series=series, version=version, status=status)
    report = parse_message(split_messages(oru)[0], settings=PARSE)[0]
    ids = DocumentIdentity(document_id_root=sil_unique_id(series, version), document_id_extension="",
                           set_id_root=f"{SIL_SET_ROOT}.{series}", set_id_extension="", version=version,
                           replaces=(sil_unique_id(series, version - 1), "") if version > 1 else None,
                           effective_time=f"202611201{version:01d}1500+0100")
    mapped = map_report(report, mappings, MAPPING)
    return build_document(mapped, lab=lab, ids=ids, pdf=render_pdf(mapped, lab=lab, ids=ids))


def embedded(control_id: str, cda: bytes, *, patient: int, series: int, status: str,
             flags: tuple[tuple[str, str], ...] = FLAGS, identity: str = "QUAL") -> bytes:
    """Shape B: ``cda`` in an OBX ED with OBX-11 ``status`` (F, C, D), PRT SB + RCT, MetaDMPMSS ``flags``;
    ``identity`` the PID-32 (as in the CDA)."""
    oru = discrete(control_id, patient=patient, series=series, version=1, status=identity).decode("utf-8").split("\r")
    head = [line for line in oru if line.startswith(("MSH|", "PID|", "ORC|"))]
    obr = next(line for line in oru if line.startswith("OBR|")).split("|")
    obr[4] = "11502-2^CR d'examens biologiques^LN"
    lines = [*head, "|".join(obr),
             f"OBX|1|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{base64.b64encode(cda).decode()}"
             f"||||||{status}|", *PRT]
    for n, (code, answer) in enumerate(flags, start=2):
        lines.append(f"OBX|{n}|CE|{code}^{code}^MetaDMPMSS||{answer}^^expandedYes-NoIndicator||||||F|")
    return ("\r".join(lines) + "\r").encode("utf-8")


@dataclass(frozen=True)
class DmpMessage:
    """One input of the DMP ledger and what the DMP should end up holding for it."""

    control_id: str  # MSH-10, unique per run
    channel: str  # "file" or "mllp"
    shape: str  # "A" (discrete) or "B" (the SIL's CDA)
    status: str  # F new, C new version, D delete
    series: int
    version: int
    patient: int
    data: bytes

    @property
    def report_id(self) -> str:
        return report_id(self.control_id)

    @property
    def file_name(self) -> str:
        return f"{self.control_id}.hl7"

    @property
    def unique_id(self) -> str:
        """The SIL's uniqueId of a shape-B version ("" for shape A: minted by the connector)."""
        return sil_unique_id(self.series, self.version) if self.shape == "B" else ""
