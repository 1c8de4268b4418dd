"""Where the validation tests find the ANS kit (read in place) and keep its compiled stylesheets."""

from __future__ import annotations

from tests.support.paths import ANS_KIT as KIT_DIR
from tests.support.paths import ROOT, SHARED_REF
from tests.support.paths import kit_cache_dir as cache_dir

SKIP = f"ANS kit absent: {KIT_DIR} (set CONNECTOR_SHARED_REF)"
__all__ = ["KIT_DIR", "ROOT", "SHARED_REF", "SKIP", "cache_dir"]
