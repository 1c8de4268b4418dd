"""Regenerate the shape-B ORU files of this folder (run by hand: ``python tests/data/embedded/make_embedded.py``).

The embedded CDAs are real: the connector builds them from the synthetic patient of
``tests/data/oru/13_ins_qualified.hl7`` (TSH), with ids as a SIL would mint them
(root ``1.2.250.1.999.2``), then each is base64-wrapped in a shape-B ORU^R01 (ANS
"Transmission de documents CDA en HL7v2" v2.1). Synthetic patients only.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

from connector.cda import build_document
from connector.config import demo_config
from connector.config.settings import lab_identity
from connector.mapping import Mappings, map_report
from connector.model import DocumentIdentity
from connector.parse import parse_message, split_messages
from connector.pdf import render_pdf
from tests.support.settings import MAPPING, PARSE

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SIL_DOC_ROOT = "1.2.250.1.999.2.1"  # the SIL's own document ids
SIL_SET_ROOT = "1.2.250.1.999.2.3"
WHEN = "20261120101500+0100"

MSH = ("MSH|^~\\&|SIL|LABO|CONNECTEUR|LABO|20261120101500||ORU^R01^ORU_R01|{control}|P|2.5|||||FRA|UNICODE UTF-8"
       "|||2.1^CISIS_CDA_HL7_V2")
PID = ("PID|1||{ins}^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS~IPP0013^^^LABO&1.2.250.1.999.1.1&ISO^PI||"
       "TESTINS^CLAIRE^CLAIRE^^^^L||19850507|F|||12 RUE DES TESTS^^PARIS^^75001^FRA^H~^^PARIS^^75001^FRA^BDL^^75056"
       "|||||||||||||||||||||QUAL")
ORDER = [
    "PV1|1|O|LABO",
    ("ORC|NW|CMD13^SIL|DOS13^LABO||||||20261119080000|||810000000001^TESTEUR^JEAN^^^DR^^^ASIP-SANTE-PS"
    "&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"),
    ("OBR|1|CMD13^SIL|DOS13^LABO|11502-2^CR d'examens biologiques^LN|||202611190815|||||||202611190900||"
    "810000000001^TESTEUR^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS||||||202611191630|||F"),
]
PRT = [
    ("PRT||UC||SB^^participation|810000000002^BIOLO^Anne^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS|||"
    "LABO^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^1999999999"),
    ("PRT||UC||RCT^^participation|810000000001^TESTEUR^JEAN^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
    "||||||||||^^X.400^jean.testeur@test-ci-sis.mssante.fr"),
    ("PRT||UC||RCT^^participation|285057512004242^TESTINS^CLAIRE^^^^^^1.2.250.1.213.1.4.8^L^^^INS"
    "||||||||||^^X.400^285057512004242@patient.mssante.fr"),
    "PRT||UC||REPLY^^participation|||||||||||^^X.400^laboratoire.exemple@test-ci-sis.mssante.fr",
]
FLAG_LABELS = {
    "MASQUE_PS": "Masqué aux professionnels de Santé",
    "INVISIBLE_PATIENT": "Document Non Visible par le patient",
    "INVISIBLE_REP_LEGAUX": "Non visible par les représentants Légaux du patient",
    "CONNEXION_SECRETE": "Connexion Secrete",
    "MODIF_CONF_CODE": "Modification Confidentiality Code",
    "DESTDMP": "Destinataire DMP",
    "DESTMSSANTEPS": "Destinataire (Professionnel de Santé, organisation ou BAL applicative)",
    "DESTMSSANTEPAT": "Destinataire Patient",
    "ACK_RECEPTION": "Accusé de réception",
    "ACK_LECTURE_MSS": "Accusé de lecture",
}
BOTH = "NNNNNYYYYY"  # professionals + patient (matrix row 1), in FLAG_LABELS order
PROS_ONLY = "NYNNNYYNYY"  # row 2
PATIENT_ONLY = "NNNNNNNYYY"  # row 3
MASKED = "YNNNNNNYYY"  # row 3 with MASQUE_PS=Y
OUTSIDE = "YNNNNNYYYY"  # masked but sent to professionals: no row allows it
BODY_PS = "Cher confrère, veuillez trouver ci-joint le CR de biologie."
BODY_PATIENT = "Bonjour, vos résultats sont disponibles."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def document_obx(n: int, cda: bytes, status: str = "F") -> str:
    return f"OBX|{n}|ED|11502-2^CR d'examens biologiques^LN||^TEXT^XML^Base64^{_b64(cda)}||||||{status}|"


def flag_obx(first: int, flags: str, *, end_of_thread: bool = True) -> list[str]:
    lines = []
    for i, (code, label) in enumerate(FLAG_LABELS.items()):
        lines.append(f"OBX|{first + i}|CE|{code}^{label}^MetaDMPMSS||{flags[i]}^^expandedYes-NoIndicator||||||F|")
        if code == "DESTMSSANTEPAT" and end_of_thread:
            lines.append("NTE|1||Fin de la conversation|FIN")
    n = first + len(FLAG_LABELS)
    lines.append(f"OBX|{n}|ED|CORPSMAIL_PS^Corps du mail pour un PS^MetaDMPMSS||^TEXT^^Base64^"
                 f"{_b64(BODY_PS.encode())}||||||F|")
    lines.append(f"OBX|{n + 1}|ED|CORPSMAIL_PATIENT^Corps du mail pour le patient^MetaDMPMSS||^TEXT^^Base64^"
                 f"{_b64(BODY_PATIENT.encode())}||||||F|")
    return lines


def message(control: str, documents: list[tuple[bytes, str]], flags: str, *,
            ins: str = "285057512004242", end_of_thread: bool = True) -> bytes:
    lines = [MSH.format(control=control), PID.format(ins=ins), *ORDER]
    n = 1
    for index, (cda, status) in enumerate(documents):
        lines.append(document_obx(n, cda, status))
        n += 1
        if index == 0:
            lines += PRT  # after the first document OBX, as in the ANS example
    lines += flag_obx(n, flags, end_of_thread=end_of_thread)
    return ("\r".join(lines) + "\r").encode("utf-8")


def _ids(ext: str, version: int = 1, replaces: tuple[str, str] | None = None) -> DocumentIdentity:
    return DocumentIdentity(
        document_id_root=SIL_DOC_ROOT,
        document_id_extension=ext,
        set_id_root=SIL_SET_ROOT,
        set_id_extension=ext.rsplit("-", 1)[0],
        version=version,
        replaces=replaces,
        effective_time=WHEN,
    )


def cdas() -> dict[str, bytes]:
    config = demo_config()
    lab = lab_identity(config)
    mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
    source = (ROOT / "tests" / "data" / "oru" / "13_ins_qualified.hl7").read_bytes()
    report = parse_message(split_messages(source)[0], settings=PARSE)[0]
    mapped = map_report(report, mappings, settings=MAPPING)
    pdf = render_pdf(mapped, lab=lab, ids=_ids("CR0013-N3"))
    no_results = dataclasses.replace(mapped, results=())
    v1 = _ids("CR0013-N3")
    return {
        "n3": build_document(mapped, lab=lab, ids=v1, pdf=pdf),
        "n1": build_document(no_results, lab=lab, ids=_ids("CR0013-N1"), pdf=pdf),
        "n3_v2": build_document(mapped, lab=lab, ids=_ids("CR0013-N3V2", 2, ("1.2.250.1.999.2.1", "CR0013-N3")),
                                pdf=pdf),
    }


DOCTYPE_CDA = (b'<?xml version="1.0"?>\n<!DOCTYPE ClinicalDocument [<!ENTITY x "synthetic">]>\n'
               b'<ClinicalDocument xmlns="urn:hl7-org:v3"><title>&x;</title></ClinicalDocument>\n')
NOT_CDA = b'<?xml version="1.0" encoding="UTF-8"?>\n<invoice xmlns="urn:example:invoice"><total>1</total></invoice>\n'


def main() -> None:
    docs = cdas()
    files = {
        "b01_n3_new.hl7": message("EMB01", [(docs["n3"], "F")], BOTH),
        "b02_n1_n3.hl7": message("EMB02", [(docs["n1"], "F"), (docs["n3"], "F")], BOTH),
        "b03_replace_rplc.hl7": message("EMB03", [(docs["n3_v2"], "C")], BOTH),
        "b04_delete.hl7": message("EMB04", [(docs["n3"], "D")], BOTH),
        "b05_masked_ps.hl7": message("EMB05", [(docs["n3"], "F")], MASKED),
        "b06_patient_only.hl7": message("EMB06", [(docs["n3"], "F")], PATIENT_ONLY),
        "b07_outside_matrix.hl7": message("EMB07", [(docs["n3"], "F")], OUTSIDE),
        # Another synthetic NIR (valid key) in PID-3 than in the CDA recordTarget.
        "b08_pid_mismatch.hl7": message("EMB08", [(docs["n3"], "F")], BOTH, ins="185057512004292"),
        "b09_doctype.hl7": message("EMB09", [(DOCTYPE_CDA, "F")], BOTH),
        "b10_not_cda.hl7": message("EMB10", [(NOT_CDA, "F")], BOTH),
        "b11_n1_only.hl7": message("EMB11", [(docs["n1"], "F")], PROS_ONLY, end_of_thread=False),
        "b12_correction_without_rplc.hl7": message("EMB12", [(docs["n3"], "C")], BOTH),
    }
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        print(name, len(data))


if __name__ == "__main__":
    main()
