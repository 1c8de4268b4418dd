"""Where things are, computed once: the checkout, its test data, and the shared reference folder.

The reference folder holds the official artefacts (ANS kit, XSDs, example messages), read in place and
never copied into the project: ``$CONNECTOR_SHARED_REF``, else ``<checkout>/../shared/ref``. No pytest
here, so the benchmarks can import it; the fixtures that skip when a file is absent are in refkit.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
E2E = DATA / "e2e"
DIRECTORY = E2E / "directory.txt"  # the MSSanté directory extract the e2e and ledger reports route with
SHARED_REF = Path(os.environ.get("CONNECTOR_SHARED_REF") or ROOT.parent / "shared" / "ref")
ANS_KIT = SHARED_REF / "cda" / "testcontenucda"
CDA_XSD = ANS_KIT / "infrastructure" / "cda" / "CDA_extended.xsd"

# sitecustomize.py for the service subprocess: a slow build when HOSTILE_SLOW_BUILD is set (issue 13 tests).
HOOKS = ROOT / "tests" / "support" / "hooks"


def kit_cache_dir() -> Path:
    """Where the kit's compiled stylesheets are kept between runs (compiling takes 15–40 s): a private
    folder per user, or ``$CONNECTOR_SCHEMATRON_CACHE``. Every test and tool that compiles the kit uses it."""
    env = os.environ.get("CONNECTOR_SCHEMATRON_CACHE")
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(env) if env else Path(tempfile.gettempdir()) / f"connector-test-kit-cache-{uid}"


def ans_kit_or_none() -> Path | None:
    """The shared ANS kit when it is there (benchmarks; tests use the ``ans_kit`` fixture, which skips)."""
    return ANS_KIT if (ANS_KIT / "schematrons").is_dir() else None


def cda_xsd_or_none() -> Path | None:
    return CDA_XSD if CDA_XSD.is_file() else None
