"""HL7 composite types (CE/CWE, CX, EI, HD, XCN, CNN, XPN, XAD) → domain values.

Each reader takes one *repetition* of a field, still escaped, and unescapes the leaves.
"""

from __future__ import annotations

import re
from functools import lru_cache

from connector.model import (
    RPPS_OID,
    Address,
    Coded,
    Identifier,
    PersonName,
    Practitioner,
)

from .er7 import Encoding, unescape

__all__ = ["cnn", "coded", "cx", "ei", "first_component", "xad", "xcn", "xpn"]

_OID = re.compile(r"[0-2](?:\.\d+)+")
# Namespace texts that mean the national health-professional directory even without the OID.
_RPPS_NAMESPACES = {"ASIP-SANTE-PS", "ANS-PS"}
# Codes, units and practitioners repeat on every OBX of a report: caching their (immutable) values
# halves the cost of a 20-OBX message. Bounded, so memory stays flat.
_CACHE_SIZE = 1024


def first_component(value: str, enc: Encoding) -> str:
    return unescape(value.split(enc.repetition, 1)[0].split(enc.component, 1)[0], enc)


def _parts(value: str, sep: str, n: int) -> list[str]:
    parts = value.split(sep)
    return parts + [""] * (n - len(parts)) if len(parts) < n else parts


@lru_cache(maxsize=_CACHE_SIZE)
def coded(value: str, enc: Encoding, *, sep: str | None = None) -> Coded | None:
    """CE/CWE/CNE (``sep`` = subcomponent separator when the triplet sits inside a component)."""
    c = [unescape(p, enc) for p in _parts(value, sep or enc.component, 6)]
    if not any(c[:6]):
        return None
    return Coded(c[0], c[1], c[2], c[3], c[4], c[5])


def _hd(value: str, enc: Encoding) -> tuple[str, str]:
    """HD ``namespace&universal id&type`` → (namespace, oid)."""
    ns, uid, kind = (unescape(p, enc) for p in _parts(value, enc.subcomponent, 3)[:3])
    if uid and (kind.upper() == "ISO" or _OID.fullmatch(uid)):
        return ns, uid
    if not uid and _OID.fullmatch(ns):  # seen in ANS PRT-5: the OID alone as namespace
        return ns, ns
    return ns, ""


def cx(value: str, enc: Encoding) -> Identifier | None:
    """CX (PID-3): id^check^scheme^authority(HD)^type."""
    c = _parts(value, enc.component, 5)
    ident = unescape(c[0], enc)
    if not ident:
        return None
    ns, oid = _hd(c[3], enc)
    return Identifier(ident, ns, oid, unescape(c[4], enc))


def ei(value: str, enc: Encoding) -> Identifier | None:
    """EI (ORC-2/3): id^namespace^universal id^type."""
    c = [unescape(p, enc) for p in _parts(value, enc.component, 4)[:4]]
    if not c[0]:
        return None
    oid = c[2] if c[2] and (c[3].upper() == "ISO" or _OID.fullmatch(c[2])) else ""
    return Identifier(c[0], c[1], oid, "")


def _practitioner(parts: list[str], authority: tuple[str, str], type_code: str, raw: str) -> Practitioner | None:
    ident, family, given, middle, suffix, prefix, degree = parts[:7]
    if not ident and not family and not given:
        return None
    ns, oid = authority
    if not oid and ns.replace(" ", "").upper() in _RPPS_NAMESPACES:
        oid = RPPS_OID
    if oid == RPPS_OID and not type_code and ident.isdigit():
        type_code = {11: "RPPS", 12: "IDNPS"}.get(len(ident), "")
    identifier = Identifier(ident, ns, oid, type_code) if ident else None
    givens = tuple(g for g in (given, *middle.split()) if g)
    name = PersonName(family=family, given=givens, prefix=prefix, suffix=suffix, degree=degree)
    return Practitioner(identifier=identifier, name=name, raw=raw)


@lru_cache(maxsize=_CACHE_SIZE)
def xcn(value: str, enc: Encoding) -> Practitioner | None:
    """XCN (ORC-12, OBR-16/28, OBX-16, PRT-5): id^family^given^middle^suffix^prefix^degree^table^authority^…^type."""
    c = _parts(value, enc.component, 13)
    parts = [unescape(c[0], enc), unescape(c[1].split(enc.subcomponent, 1)[0], enc)]
    parts += [unescape(p, enc) for p in c[2:7]]
    return _practitioner(parts, _hd(c[8], enc), unescape(c[12], enc), value)


@lru_cache(maxsize=_CACHE_SIZE)
def cnn(value: str, enc: Encoding) -> Practitioner | None:
    """CNN (OBR-32.1, subcomponents): id&family&given&middle&suffix&prefix&degree&table&ns&uid&type."""
    s = [unescape(p, enc) for p in _parts(value, enc.subcomponent, 11)]
    ns, uid, kind = s[8], s[9], s[10]
    oid = uid if uid and (kind.upper() == "ISO" or _OID.fullmatch(uid)) else ""
    return _practitioner(s[:7], (ns, oid), "", value)


def xpn(value: str, enc: Encoding) -> PersonName | None:
    """XPN (PID-5): family^given^given names (space separated)^suffix^prefix^degree^type."""
    raw = _parts(value, enc.component, 7)
    c = [unescape(p, enc) for p in raw]
    family = unescape(raw[0].split(enc.subcomponent, 1)[0], enc)
    # French INS feeds put the whole birth given-name list in XPN-3, first name included.
    further = c[2].split()
    if further and further[0] == c[1]:
        further = further[1:]
    givens = tuple(g for g in (c[1], *further) if g)
    if not family and not givens:
        return None
    return PersonName(family=family, given=givens, suffix=c[3], prefix=c[4], degree=c[5], name_type=c[6])


def xad(value: str, enc: Encoding) -> Address | None:
    """XAD (PID-11): street^other^city^state^zip^country^type^^county (INSEE code of a birth place)."""
    raw = _parts(value, enc.component, 9)
    c = [unescape(p, enc) for p in raw]
    if not any(c):
        return None
    street = unescape(raw[0].split(enc.subcomponent, 1)[0], enc)
    return Address(
        street=street, other=c[1], city=c[2], state=c[3], postal_code=c[4], country=c[5], address_type=c[6], county=c[8]
    )
