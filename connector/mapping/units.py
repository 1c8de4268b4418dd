"""UCUM checks: the trap deny-list (cheap, used at load) and the grammar (ucumvert: the lint, and the
mapping stage for units outside ``data/units.csv``).

Some French spellings are *valid* UCUM with another meaning (``G/L`` = gauss per litre,
``mg/24.h`` = mg·h/24): a grammar check alone lets them through, hence the deny-list
(terminology.md §4).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["ucum_error", "ucum_trap", "unit_dimension"]

# Spelling (exact) → why it is refused and what to write instead.
_TRAPS: dict[str, str] = {
    "G/L": "'G/L' is UCUM for gauss per litre: write 10*9/L",
    "T/L": "'T/L' is UCUM for tesla per litre: write 10*12/L",
    "UI/L": "'UI/L' is not UCUM and is ambiguous: write [IU]/L (hormones, immunoassays) or U/L (enzymes)",
    "mUI/L": "'mUI/L' is not UCUM: write m[IU]/L",
    "UI/mL": "'UI/mL' is not UCUM: write [IU]/mL",
    "mEq/L": "'mEq/L' is not UCUM (case-sensitive): write meq/L",
    "mmHg": "'mmHg' is not UCUM: write mm[Hg]",
}
# ``mg/24.h`` parses but means (mg/24)·h: a division by a number followed by ``.unit`` needs parentheses.
_DIVIDED_PRODUCT = re.compile(r"/\d+\.[A-Za-z\[]")
_MICRO_SIGNS = ("µ", "μ")  # U+00B5 micro sign and U+03BC Greek mu: UCUM writes micro as 'u'


def ucum_trap(unit: str) -> str | None:
    """Why ``unit`` must not be used as a UCUM unit, or None. Cheap: safe at every load."""
    if unit in _TRAPS:
        return _TRAPS[unit]
    if any(sign in unit for sign in _MICRO_SIGNS):
        return f"'{unit}' uses the micro sign: UCUM writes micro as 'u' (umol/L, ug/L)"
    if _DIVIDED_PRODUCT.search(unit):
        return f"'{unit}' parses as a product after the division (mg/24.h = mg.h/24): write mg/(24.h)"
    if unit.startswith("UI") or "UI/" in unit:
        return f"'{unit}' is not UCUM: international units are written [IU]"
    return None


@lru_cache(maxsize=1)
def _parser() -> Any:
    from ucumvert import get_ucum_parser  # ~60 ms: built once, when a unit outside the lab table is read

    return get_ucum_parser()


@lru_cache(maxsize=4096)
def ucum_error(unit: str) -> str | None:
    """None when ``unit`` parses as UCUM, else a short reason. Cached: ~0.5 ms per parse."""
    if unit == "":
        return None
    try:
        _parser().parse(unit)
    except Exception as exc:  # noqa: BLE001 - ucumvert raises lark errors of several classes
        return f"'{unit}' is not valid UCUM ({type(exc).__name__})"
    return None


@lru_cache(maxsize=1)
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # ~0.4 s: only for units outside data/units.csv

    return PintUcumRegistry()


@lru_cache(maxsize=1024)
def unit_dimension(unit: str) -> Any:
    """The pint dimensionality of a UCUM unit (empty for %), or None when it cannot be computed."""
    try:
        return _registry().from_ucum(unit).dimensionality
    except Exception:  # noqa: BLE001 - pint/ucumvert fail in many ways: unknown atoms, annotations only, …
        return None
