"""HL7 v2 DTM → CDA TS: same precision as sent, the lab's offset *at that time* when the SIL sent none."""

from __future__ import annotations

import re

from connector.errors import CdaBuildError
from connector.model.labtime import date_offset, with_zone, zone_problem

__all__ = ["to_ts"]

_DTM = re.compile(
    r"^(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,4})?)?)?)?)?)?)([+-]\d{4})?$"
)


def to_ts(
    dtm: str, zone: str, *, what: str = "timestamp", date_zone: bool = False
) -> str:
    """``20210104073500`` → ``20210104073500+0100``; ``20210704073500`` → ``…+0200`` (Europe/Paris).

    Values with hours get a zone (CI-SIS requires one on times); a date alone stays a
    date unless ``date_zone``. ``zone`` is the lab's zone (IANA name, or a deprecated fixed
    offset). ``what`` names the field in the error (never the value).
    """
    m = _DTM.match(dtm.strip())
    if m is None:
        raise CdaBuildError(
            f"{what}: expected an HL7 DTM YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]"
        )
    problem = zone_problem(zone)
    if problem is not None:
        raise CdaBuildError(f"lab timezone: expected {problem}")
    body, sent_zone = m.group(1), m.group(2)
    if sent_zone:
        return body + sent_zone
    if len(body) >= 10:
        zoned = with_zone(body, zone)
        if zoned is None:
            raise CdaBuildError(f"{what}: expected a real calendar date and time")
        return zoned
    if date_zone and len(body) >= 8:
        return body + date_offset(body, zone)
    return body
