"""French patient identity: INS (NIR/NIA) next to the lab's IPP in PID-3, RNIV status in PID-32."""

from __future__ import annotations

from connector.model import (
    INS_OIDS,
    INS_TEST_OIDS,
    Address,
    IdentityStatus,
    Patient,
    PersonName,
)

from .er7 import Encoding, Segment, unescape
from .fields import cx, xad, xpn
from .settings import ParseSettings

__all__ = ["IdentityProblem", "nir_key_ok", "patient_from_pid"]

_NIR_LENGTH = 15  # sex(1) year(2) month(2) department(2) commune(3) order(3) key(2)
_CORSICA = {"2A": "19", "2B": "18"}  # the key is computed with these departments as numbers


class IdentityProblem(Exception):
    """Internal: a PID field is unusable. ``field`` and ``expected`` are safe to show."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(expected)
        self.field = field
        self.expected = expected


def nir_key_ok(nir: str) -> bool:
    """True when the last two digits are the NIR/NIA key: ``97 - (first 13 digits mod 97)``.

    Corsican departments 2A and 2B count as 19 and 18.
    """
    nir = nir.strip().upper()
    if len(nir) != _NIR_LENGTH or not nir.isascii():
        return False
    body = nir[:5] + _CORSICA.get(nir[5:7], nir[5:7]) + nir[7:13]
    key = nir[13:]
    if not (body.isdigit() and key.isdigit()):
        return False
    return 97 - int(body) % 97 == int(key)


def patient_from_pid(seg: Segment, enc: Encoding, settings: ParseSettings) -> Patient:
    """PID → Patient; raises :class:`IdentityProblem` for an INS we must refuse."""
    identifiers = tuple(i for i in (cx(rep, enc) for rep in seg.get(3).split(enc.repetition)) if i is not None)
    for ident in identifiers:
        if ident.oid not in INS_OIDS:
            continue
        if ident.oid in INS_TEST_OIDS and not settings.allow_test_ins:
            raise IdentityProblem(
                "PID-3", "a production INS (OID 1.2.250.1.213.1.4.8 or .9); test and demo INS OIDs are refused"
            )
        if not nir_key_ok(ident.value):
            raise IdentityProblem("PID-3", "an INS of 15 characters whose NIR key (last two digits) is valid")
    if not identifiers:
        raise IdentityProblem("PID-3", "at least one patient identifier (the lab's IPP)")
    names = tuple(n for n in (xpn(rep, enc) for rep in seg.get(5).split(enc.repetition)) if isinstance(n, PersonName))
    addresses = tuple(
        a for a in (xad(rep, enc) for rep in seg.get(11).split(enc.repetition)) if isinstance(a, Address)
    )
    status_raw = unescape(seg.get(32).split(enc.repetition)[0].split(enc.component)[0], enc).strip()
    status = settings.identity_status_map.get(status_raw, IdentityStatus.UNKNOWN)
    birth_date = unescape(seg.get(7).split(enc.component)[0], enc).strip()
    sex = unescape(seg.get(8).split(enc.component)[0], enc).strip()
    return Patient(
        identifiers=identifiers,
        names=names,
        birth_date=birth_date,
        sex=sex,
        addresses=addresses,
        identity_status=status,
        identity_status_raw=status_raw,
        raw=seg.raw,
    )


