"""Shared test set-up: the operator simulator plugin, the shared reference folder, Hypothesis profiles."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

pytest_plugins = ["tests.simulator.plugin", "tests.privacy_scan", "tests.support.postgres"]

ROOT = Path(__file__).resolve().parents[1]
SHARED_REF = Path(os.environ.get("CONNECTOR_SHARED_REF", ROOT.parent / "shared" / "ref"))

# Bounded example counts: fuzzing depth belongs in a nightly run, CI stays under its time budget.
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def shared_ref() -> Path:
    if not SHARED_REF.is_dir():
        pytest.skip(f"the shared reference folder is absent ({SHARED_REF}); set CONNECTOR_SHARED_REF")
    return SHARED_REF


@pytest.fixture(scope="session")
def cda_xsd(shared_ref: Path) -> Path:
    path = shared_ref / "cda" / "testcontenucda" / "infrastructure" / "cda" / "CDA_extended.xsd"
    if not path.is_file():
        pytest.skip(f"the ANS CDA XSD is absent ({path})")
    return path
