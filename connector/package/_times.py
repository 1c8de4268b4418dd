"""Time values for XDS metadata and zip entries.

XDS DTM values are UTC, ``YYYY[MM[DD[hh[mm[ss]]]]]`` (ITI TF-3 4.2.3.1.7): the CDA TS
``20210401171000+0100`` becomes ``20210401161000``. A date without a time has no zone
to convert and is kept as is, so precision is never invented. A time without a zone is
local time in the lab's zone (``default_zone``: an IANA name, summer time included, or a
deprecated fixed offset), see :mod:`connector.model.labtime`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from connector.model.labtime import DEFAULT_ZONE, lab_zone

__all__ = ["parse_instant", "to_xds_dtm"]

_TS = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?$")


def _zone(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5])))


def _instant(match: re.Match[str], default_zone: str) -> datetime:
    """The aware datetime of a ``_TS`` match that has at least the hour."""
    year, month, day, hour, minute, second, zone = match.groups()
    local = datetime(int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0), int(second or 0))
    # fold=0 for the hour that happens twice or never: the same reading as connector.model.labtime.offset_at.
    return local.replace(tzinfo=_zone(zone) if zone else lab_zone(default_zone), fold=0)


def to_xds_dtm(ts: str, *, default_zone: str = DEFAULT_ZONE) -> str:
    """A CDA TS / HL7 DTM as an XDS UTC DTM with the same precision ("" stays "")."""
    if not ts:
        return ""
    match = _TS.match(ts.strip())
    if match is None:
        raise ValueError("a TS value YYYY[MM[DD[hh[mm[ss]]]]][+/-zzzz]")
    year, month, day, hour, minute, second, _ = match.groups()
    if hour is None:  # date only: no instant, nothing to convert
        return "".join(p for p in (year, month, day) if p)
    utc = _instant(match, default_zone).astimezone(UTC)
    digits = utc.strftime("%Y%m%d%H%M%S")
    return digits[: 10 + (2 if minute else 0) + (2 if second else 0)]


def parse_instant(value: str, *, default_zone: str = DEFAULT_ZONE) -> datetime:
    """An aware datetime from a TS (``20260101120000+0100``) or ISO 8601 text."""
    text = value.strip()
    match = _TS.match(text)
    if match is not None and match.group(4) is not None:
        return _instant(match, default_zone)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("a TS YYYYMMDDhhmm[ss][+/-zzzz] or an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=lab_zone(default_zone))
    return parsed
