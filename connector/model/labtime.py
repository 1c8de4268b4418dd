"""The lab's clock: an HL7 time sent without a zone is local time where the lab is.

A French lab's SIL writes ``20260715083000`` for 8:30 in Paris: that is ``+0200`` in July and
``+0100`` in January. The zone is an IANA name (default ``Europe/Paris``) read with :mod:`zoneinfo`,
so summer time is right; CDA TS values, XDS UTC times and e-mail dates all come from here.

A fixed offset (``+0100``, the old ``lab.timezone`` value) is still accepted for compatibility but
is deprecated: it is wrong half the year. The two local times a change of hour makes odd follow
PEP 495 with ``fold=0``: 02:30 on the night clocks go back (it happens twice) is the first one,
summer time; 02:30 on the night clocks go forward (it never happens) is read with the winter
offset, i.e. it is 03:30 summer time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_ZONE",
    "date_offset",
    "is_fixed_offset",
    "lab_zone",
    "now_ts",
    "offset_at",
    "with_zone",
    "zone_problem",
]

DEFAULT_ZONE = "Europe/Paris"
_FIXED = re.compile(r"[+-](\d{2})(\d{2})")
# HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S…]]]]]][+/-ZZZZ]; a zone is only meaningful with the hour.
_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?")


def is_fixed_offset(zone: str) -> bool:
    """True for the deprecated ``+HHMM`` / ``-HHMM`` form of ``lab.timezone``."""
    return _FIXED.fullmatch(zone) is not None


def zone_problem(zone: str) -> str | None:
    """None when ``zone`` is usable, else what is expected (for a configuration error)."""
    try:
        lab_zone(zone)
    except ValueError as exc:
        return str(exc)
    return None


@lru_cache(maxsize=16)
def lab_zone(zone: str) -> tzinfo:
    """``Europe/Paris`` → its ZoneInfo; ``+0100`` → a fixed offset (deprecated); ValueError otherwise."""
    match = _FIXED.fullmatch(zone)
    if match is not None:
        hours, minutes = int(match.group(1)), int(match.group(2))
        if hours > 14 or minutes > 59:
            raise ValueError("a UTC offset of at most ±1400 (or, better, an IANA zone name such as Europe/Paris)")
        sign = -1 if zone.startswith("-") else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("an IANA time zone name such as Europe/Paris (or a fixed offset +HHMM, deprecated)") from None


def _offset_text(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def offset_at(local: datetime, zone: str) -> str:
    """The ``±HHMM`` offset ``zone`` has at the naive local time ``local`` (fold=0, see the module doc)."""
    return _offset_text(lab_zone(zone).utcoffset(local.replace(tzinfo=None, fold=0)))


def with_zone(dtm: str, zone: str) -> str | None:
    """An HL7 DTM with the hour and no zone → the same digits + the lab's offset at that local time.

    A value that already has a zone, or no hour, is returned unchanged (a date has no offset);
    None when ``dtm`` is not a DTM (callers name the field in their error).
    """
    match = _DTM.fullmatch(dtm.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, _fraction, sent_zone = match.groups()
    body = dtm.strip()
    if sent_zone or hour is None:
        return body
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    return body + offset_at(local, zone)


def date_offset(dtm: str, zone: str) -> str:
    """The offset for a date alone (``20260715``): the one at local midnight that day."""
    digits = dtm.strip()[:8]
    return offset_at(datetime(int(digits[:4]), int(digits[4:6] or 1), int(digits[6:8] or 1)), zone)


def now_ts(zone: str, now: datetime | None = None) -> str:
    """The current time as a CDA TS in the lab's zone: ``20261125231500+0100``."""
    moment = (now or datetime.now(UTC)).astimezone(lab_zone(zone))
    return moment.strftime("%Y%m%d%H%M%S") + _offset_text(moment.utcoffset())
