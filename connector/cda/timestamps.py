"""HL7 v2 DTM → CDA TS: same precision as sent, zone appended when the SIL sent none."""

from __future__ import annotations

import re

from connector.errors import CdaBuildError

__all__ = ["to_ts"]

_DTM = re.compile(
    r"^(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?)([+-]\d{4})?$"
)
_ZONE = re.compile(r"^[+-]\d{4}$")


def to_ts(
    dtm: str, zone: str, *, what: str = "timestamp", date_zone: bool = False
) -> str:
    """``20210104073500`` → ``20210104073500+0100``.

    Values with hours get a zone (CI-SIS requires one on times); a date alone stays a
    date unless ``date_zone``. ``what`` names the field in the error (never the value).
    """
    m = _DTM.match(dtm.strip())
    if m is None:
        raise CdaBuildError(
            f"{what}: expected an HL7 DTM YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]"
        )
    body, sent_zone = m.group(1), m.group(2)
    if not _ZONE.match(zone):
        raise CdaBuildError("lab timezone: expected +HHMM or -HHMM")
    if sent_zone:
        return body + sent_zone
    if len(body) >= 10 or date_zone:
        return body + zone
    return body
