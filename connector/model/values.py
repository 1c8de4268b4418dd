"""Building blocks of the model: HL7 data types as typed values, and the result values of OBX-5."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

__all__ = [
    "INS_OIDS",
    "INS_TEST_OIDS",
    "RPPS_OID",
    "Address",
    "Coded",
    "CodedValue",
    "Comment",
    "DateValue",
    "Encapsulated",
    "Identifier",
    "IdentityStatus",
    "Numeric",
    "PersonName",
    "Practitioner",
    "PreviousResult",
    "RawSegment",
    "ResultValue",
    "StructuredNumeric",
    "Text",
]

# INS-NIR, INS-NIA (production); .10 INS-NIR test and .11 INS-NIR demo (refused in production).
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
INS_TEST_OIDS = ("1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
# National health professional ids (IDNPS = 8 + RPPS, or 0 + ADELI).
RPPS_OID = "1.2.250.1.71.4.2.1"


@dataclass(frozen=True, slots=True)
class Coded:
    """A CE / CWE / CNE triplet as sent (``code^display^system``), with its alternate."""

    code: str
    display: str = ""
    system: str = ""  # HL7 coding-system name as sent (LN, L, 99XYZ…) or an OID
    alt_code: str = ""
    alt_display: str = ""
    alt_system: str = ""


@dataclass(frozen=True, slots=True)
class Identifier:
    """A CX / XCN / EI identifier."""

    value: str
    authority: str = ""  # namespace id (CX-4.1), as sent
    oid: str = ""  # universal id (CX-4.2) when its type (CX-4.3) is ISO
    type_code: str = ""  # CX-5 / XCN-13: INS, PI, IDNPS, RPPS, ADELI…


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonName:
    """An XPN / XCN name. ``given[0]`` is the first given name (XPN-2), then XPN-3 split."""

    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    suffix: str = ""
    degree: str = ""
    name_type: str = ""  # XPN-7: L (birth/legal), D (used), …


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    street: str = ""
    other: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""
    address_type: str = ""  # XAD-7: H home, BDL birth place, …
    county: str = ""  # XAD-9: for BDL, the INSEE code of the birth commune


class IdentityStatus(StrEnum):
    """RNIV identity status (PID-32 after the site's code mapping). Only QUALIFIED lets us send the INS."""

    PROVISIONAL = "PROV"
    RECOVERED = "RECUP"
    VALIDATED = "VALI"
    QUALIFIED = "QUAL"
    UNKNOWN = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Practitioner:
    """A prescriber, copy-to doctor, biologist or PRT participant (XCN)."""

    identifier: Identifier | None
    name: PersonName = PersonName()
    raw: str = field(default="", repr=False, compare=False)

    @property
    def idnps(self) -> str:
        """The national id ``8``+RPPS or ``0``+ADELI, or "" when the id is not national."""
        ident = self.identifier
        if ident is None or not ident.value:
            return ""
        kind = ident.type_code.upper()
        if kind == "RPPS" and len(ident.value) == 11:
            return "8" + ident.value
        if kind == "ADELI" and len(ident.value) == 9:
            return "0" + ident.value
        if ident.oid == RPPS_OID or kind == "IDNPS":
            return ident.value
        return ""


@dataclass(frozen=True, slots=True)
class Comment:
    """An NTE segment. ``source`` is NTE-2 (L lab, P placer…), ``kind`` is NTE-4."""

    text: str
    source: str = ""
    kind: str = ""
    raw: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class RawSegment:
    """A segment kept verbatim (Z-segments, PV1, SFT, TQ1…). ``position`` is its 0-based index in the message."""

    name: str
    position: int
    raw: str = field(repr=False)


# ---------------------------------------------------------------------------- result values


@dataclass(frozen=True, slots=True)
class Numeric:
    """NM (or an SN with a plain number)."""

    value: Decimal
    text: str  # as sent, keeps precision: "1.950"


@dataclass(frozen=True, slots=True)
class StructuredNumeric:
    """SN: ``comparator^num1^separator^num2``: ``<^5``, ``>=^32``, ``^1^:^128``, ``^10^-^20``."""

    comparator: str = ""  # "", <, >, <=, >=, =, <>
    number1: Decimal | None = None
    separator: str = ""  # "", -, +, /, ., :
    number2: Decimal | None = None
    text: str = ""  # as sent


@dataclass(frozen=True, slots=True)
class Text:
    """ST / TX / FT, unescaped (``\\.br\\`` and ``\\R\\`` become line breaks)."""

    text: str


@dataclass(frozen=True, slots=True)
class CodedValue:
    """CE / CWE / CNE value (serology, organism, antibiogram S/I/R)."""

    coded: Coded


@dataclass(frozen=True, slots=True)
class DateValue:
    """DT / DTM / TS value, as sent."""

    value: str


@dataclass(frozen=True, slots=True)
class Encapsulated:
    """ED: a base64 document (PDF, CDA) already decoded."""

    mime_type: str  # e.g. "application/pdf", "text/xml"
    data: bytes = field(repr=False)


ResultValue = Numeric | StructuredNumeric | Text | CodedValue | DateValue | Encapsulated


@dataclass(frozen=True, slots=True)
class PreviousResult:
    """An earlier result of the same test (antériorité), as sent by the SIL."""

    value: ResultValue
    units: str = ""
    observed_at: str = ""
