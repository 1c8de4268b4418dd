"""Per-site parse settings: how the SIL codes identity status, and what production refuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connector.model import IdentityStatus

__all__ = ["ParseSettings"]


@dataclass(frozen=True, kw_only=True)
class ParseSettings:
    """What a site configures for the parse stage.

    ``identity_status_map``: PID-32 code as sent → RNIV status; an unknown code means "not qualified".
    ``allow_test_ins``: the INS test/demo OIDs (…4.10, …4.11) are accepted; production sets False.
    ``fallback_charset``: used when the bytes do not decode in the MSH-18 charset ("" to refuse instead).
    """

    identity_status_map: Mapping[str, IdentityStatus]
    allow_test_ins: bool
    fallback_charset: str = "cp1252"  # no configuration key yet
