"""Where the validation tests find the ANS kit (read in place) and keep its compiled stylesheets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED_REF = Path(os.environ.get("CONNECTOR_SHARED_REF", ROOT.parent / "shared" / "ref"))
KIT_DIR = SHARED_REF / "cda" / "testcontenucda"
SKIP = f"ANS kit absent: {KIT_DIR} (set CONNECTOR_SHARED_REF)"


def cache_dir() -> Path:
    """Compiled stylesheets outlive a test run (compiling takes ≈15 s): a private folder per user."""
    env = os.environ.get("CONNECTOR_SCHEMATRON_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(env) if env else Path(tempfile.gettempdir()) / f"connector-test-kit-cache-{uid}"
