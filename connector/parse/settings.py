"""Per-site parse settings: how the SIL codes identity status, and what production refuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from connector.model import IdentityStatus

__all__ = ["DEFAULT_IDENTITY_STATUS_MAP", "ParseSettings"]

# PID-32 codes as most French SILs send them (RNIV codes). Sites with other codes set their own map.
DEFAULT_IDENTITY_STATUS_MAP: Mapping[str, IdentityStatus] = MappingProxyType(
    {
        "QUAL": IdentityStatus.QUALIFIED,
        "VALI": IdentityStatus.VALIDATED,
        "RECUP": IdentityStatus.RECOVERED,
        "PROV": IdentityStatus.PROVISIONAL,
    }
)


@dataclass(frozen=True)
class ParseSettings:
    """What a site configures for the parse stage.

    ``identity_status_map``: PID-32 code as sent → RNIV status; an unknown code means "not qualified".
    ``allow_test_ins``: the INS test/demo OIDs (…4.10, …4.11) are accepted; production sets False.
    ``fallback_charset``: used when the bytes do not decode in the MSH-18 charset ("" to refuse instead).
    """

    identity_status_map: Mapping[str, IdentityStatus] = field(default_factory=lambda: DEFAULT_IDENTITY_STATUS_MAP)
    allow_test_ins: bool = True
    fallback_charset: str = "cp1252"
