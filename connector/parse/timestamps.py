"""HL7 DTM timestamps: validation (a bad date is a MalformedHL7) and CDA TS rendering.

Timestamps stay strings as sent (see connector.model): precision is information.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache

__all__ = ["is_valid_dtm"]

_DTM = re.compile(
    r"(?P<y>\d{4})(?:(?P<mo>\d{2})(?:(?P<d>\d{2})(?:(?P<h>\d{2})(?:(?P<mi>\d{2})(?:(?P<s>\d{2})(?:\.\d{1,4})?)?)?)?)?)?"
    r"(?P<zone>[+-]\d{4})?"
)


@lru_cache(maxsize=1024)  # the same few timestamps repeat on every OBX
def is_valid_dtm(value: str) -> bool:
    """True for a DTM/TS/DT value with real calendar fields (``20261345`` is False)."""
    match = _DTM.fullmatch(value)
    if match is None:
        return False
    parts = match.groupdict()
    year = int(parts["y"])
    if year < 1800:
        return False
    if parts["mo"] is not None and not 1 <= int(parts["mo"]) <= 12:
        return False
    if parts["d"] is not None and not 1 <= int(parts["d"]) <= calendar.monthrange(year, int(parts["mo"]))[1]:
        return False
    if parts["h"] is not None and int(parts["h"]) > 23:
        return False
    if parts["mi"] is not None and int(parts["mi"]) > 59:
        return False
    if parts["s"] is not None and int(parts["s"]) > 59:
        return False
    zone = parts["zone"]
    return zone is None or (int(zone[1:3]) <= 14 and int(zone[3:]) <= 59)
