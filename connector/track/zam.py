"""Business acknowledgements (ZAM, HL7 v2.6, CI-SIS "transmission document CDA") back to the SIL.

    ZAM^Z01^ZAM_Z01   DMP receipt       OBX ACK_RECEPTION_DMP                  ERR-5 …^DMPERRORCODE
    ZAM^Z02^ZAM_Z01   DSN (delivered)   OBX ACK_RECEPTION_MSS + DESTINATAIRE_MSS  ERR-5 …^SMTPERRORCODE
    ZAM^Z03^ZAM_Z01   MDN (read)        OBX ACK_LECTURE_MSS + LECTEUR_MSS       ERR-5 …^applicationErrorCondition

Segments are built with hl7apy (v2.6 segment definitions) and joined with CR. Free text we put
in a field (error labels, addresses) is HL7-escaped first, so a ``^`` or ``&`` cannot shift
components. Nothing here holds patient data: OBX-4 is the original MSH-10 or the recipient's
IDNPS, OBX-5 the recipient's mailbox (a patient's ``INS@patient.mssante.fr`` mailbox is never
used as the reader in a ZAM: the SIL only knows professionals).
"""

from __future__ import annotations

from hl7apy.core import Segment
from hl7apy.exceptions import HL7apyException

from connector.model import MessageHeader, Recipient
from connector.states import RecipientState
from connector.track.acks import Ack

__all__ = ["ZAM_PROFILE", "ZAM_VERSION", "build_zam", "zam_for_ack"]

ZAM_VERSION = "2.6"
ZAM_PROFILE = "2.1^CISIS_CDA_HL7_V2"
_ENCODING = "^~\\&"
_KINDS = {
    # kind: (status OBX-3, who OBX-3 or "", ERR-5 code system)
    "Z01": ("ACK_RECEPTION_DMP^Accusé de réception DMP^AckMetierZAM", "", "DMPERRORCODE"),
    "Z02": ("ACK_RECEPTION_MSS^Accusé de réception MSSanté^AckMetierZAM",
            "DESTINATAIRE_MSS^Destinataire MSSanté^AckMetierZAM", "SMTPERRORCODE"),
    "Z03": ("ACK_LECTURE_MSS^Accusé de lecture^AckMetierZAM",
            "LECTEUR_MSS^Lecteur du courriel MSSanté^AckMetierZAM", "applicationErrorCondition"),
}
_ERR_3 = "207^Application internal error^messageErrorCondition"


def build_zam(kind: str, *, original: MessageHeader, recipient: Recipient | None, ok: bool,
              error_code: str = "", error_label: str = "", sender_app: str, sender_facility: str,
              control_id: str, when: str) -> bytes:
    """One ZAM as ER7 bytes (UTF-8, CR separators) answering the ORU whose header is ``original``.

    ``kind`` is Z01, Z02 or Z03; ``when`` an HL7 DTM (MSH-7 and EVN-2); ``control_id`` our MSH-10.
    ``recipient`` is required for Z02/Z03 (the DESTINATAIRE/LECTEUR OBX). An ERR segment is written
    when ``ok`` is false; it needs ``error_code``.
    """
    kind = kind.upper()
    if kind not in _KINDS:
        raise ValueError(f"ZAM kind: expected one of {sorted(_KINDS)}")
    status_code, who_code, err_system = _KINDS[kind]
    if who_code and recipient is None:
        raise ValueError(f"ZAM {kind}: a recipient is required")
    if not ok and not error_code:
        raise ValueError(f"ZAM {kind}: a failure needs an error code")

    segments = [_msh(kind, original, sender_app, sender_facility, control_id, when)]
    evn = Segment("EVN", version=ZAM_VERSION)
    evn.evn_2 = _esc(when)
    segments.append(evn)
    segments.append(_obx(1, "CWE", status_code, _esc(original.control_id),
                         ("Y" if ok else "N") + "^^expandedYes-NoIndicator"))
    if who_code and recipient is not None:
        segments.append(_obx(2, "XTN", who_code, _esc(recipient.idnps), "^^X.400^" + _esc(recipient.address)))
    if not ok:
        err = Segment("ERR", version=ZAM_VERSION)
        err.err_3 = _ERR_3
        err.err_4 = "E"
        err.err_5 = f"{_esc(error_code)}^{_esc(error_label)}^{err_system}"
        segments.append(err)
    return "\r".join(s.to_er7() for s in segments).encode("utf-8") + b"\r"


def zam_for_ack(ack: Ack) -> tuple[str, bool] | None:
    """(kind, ok) of the ZAM an ack calls for, or None (a delayed DSN is not a receipt yet)."""
    if ack.kind == "dsn":
        if ack.state is RecipientState.DELIVERED:
            return "Z02", True
        if ack.state is RecipientState.FAILED:
            return "Z02", False
        return None
    if ack.state in (RecipientState.PROCESSED, RecipientState.DISPLAYED):
        return "Z03", True
    if ack.state is RecipientState.ERROR:
        return "Z03", False
    return None


def _msh(kind: str, original: MessageHeader, sender_app: str, sender_facility: str,
         control_id: str, when: str) -> Segment:
    msh = Segment("MSH", version=ZAM_VERSION)
    msh.msh_1 = "|"
    msh.msh_2 = _ENCODING
    msh.msh_3 = _esc(sender_app)
    msh.msh_4 = _esc(sender_facility)
    # The SIL that sent the ORU, echoed as the composites it sent (HD: namespace^OID^ISO), as our ACK does.
    _put_composite(msh, "msh_5", original.sending_application)
    _put_composite(msh, "msh_6", original.sending_facility)
    msh.msh_7 = _esc(when)
    msh.msh_9 = f"ZAM^{kind}^ZAM_Z01"
    msh.msh_10 = _esc(control_id)
    msh.msh_11 = _esc(original.processing_id or "P")
    msh.msh_12 = ZAM_VERSION
    msh.msh_17 = "FRA"
    msh.msh_18 = "UNICODE UTF-8"
    msh.msh_21 = ZAM_PROFILE
    return msh


def _obx(set_id: int, value_type: str, code: str, sub_id: str, value: str) -> Segment:
    obx = Segment("OBX", version=ZAM_VERSION)
    obx.obx_1 = str(set_id)
    obx.obx_2 = value_type
    obx.obx_3 = code
    if sub_id:
        obx.obx_4 = sub_id
    obx.obx_5 = value
    obx.obx_11 = "F"
    return obx


def _put_composite(segment: Segment, name: str, er7: str) -> None:
    """Set a field to a composite read from the SIL's message; if hl7apy refuses its structure, send it as text."""
    value = er7.replace("\r", " ").replace("\n", " ")
    try:
        setattr(segment, name, value)
    except HL7apyException:
        setattr(segment, name, _esc(value))


def _esc(text: str) -> str:
    """HL7 escaping of one component's text (escape character first); CR/LF become spaces."""
    out = text.replace("\\", "\\E\\")
    for char, seq in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        out = out.replace(char, seq)
    return out.replace("\r", " ").replace("\n", " ")
