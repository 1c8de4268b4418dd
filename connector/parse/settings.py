"""Per-site parse settings: how the SIL codes identity status, and what production refuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.model import IdentityStatus

__all__ = ["ParseSettings"]


@dataclass(frozen=True, kw_only=True)
class ParseSettings:
    """What a site configures for the parse stage.

    ``identity_status_map``: PID-32 code as sent → RNIV status; an unknown code means "not qualified".
    ``allow_test_ins``: the INS test/demo OIDs (…4.10, …4.11) are accepted; production sets False.
    ``fallback_charsets``: a codec for the bytes that do not decode in the MSH-18 charset, per SIL
    (``"MSH-3^MSH-4"`` or ``"MSH-3"``), from ``sil.charset_fallback``. Identity data is never guessed:
    a SIL not named there gets its message refused naming MSH-18 (issue 13: cp1252 read under
    "UNICODE UTF-8" sent a patient as "DUPŸÞÃONT"). ``fallback_charset`` applies to every SIL (tests).
    """

    identity_status_map: Mapping[str, IdentityStatus]
    allow_test_ins: bool
    fallback_charset: str = ""
    fallback_charsets: Mapping[str, str] = field(default_factory=dict)

    def fallback_for(self, application: str, facility: str) -> str:
        """The fallback codec for the SIL that sent MSH-3 ``application``, MSH-4 ``facility`` ("" for none)."""
        charsets = self.fallback_charsets
        return charsets.get(f"{application}^{facility}") or charsets.get(application) or self.fallback_charset

    def fallback_codecs(self) -> set[str]:
        """Every fallback codec configured (a report decoded with one of them says so)."""
        return {*self.fallback_charsets.values(), self.fallback_charset} - {""}
