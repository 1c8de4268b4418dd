"""Session fixtures for the validation tests: the kit, its compiled stylesheets, the runs.

Compiling the six schematrons takes 15–40 s per process, so each run (official, gate engine,
gate pool) is built once per session (the first two in tests/support/refkit.py, shared with the
other folders); the compiled files are cached across sessions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.validation import AnsKit, SchematronValidator, ValidationGate, ValidationMode
from connector.validation.engine import GateEngine
from connector.validation.kit import prepare_kit
from tests.validation.support import KIT_DIR, SKIP, cache_dir


@pytest.fixture(scope="session")
def ans_kit() -> AnsKit:
    if not (KIT_DIR / "schematrons").is_dir():
        pytest.skip(SKIP)
    return AnsKit.at(KIT_DIR)


@pytest.fixture(scope="session")
def kit_cache() -> Path:
    return cache_dir()


@pytest.fixture(scope="session")
def prepared(ans_kit: AnsKit, kit_cache: Path) -> Path:
    return prepare_kit(ans_kit, work_dir=kit_cache)


@pytest.fixture(scope="session")
def engine(gate_engine: GateEngine) -> GateEngine:
    return gate_engine  # tests/support/refkit.py: one per process for every folder


@pytest.fixture(scope="session")
def official(schematron: SchematronValidator) -> SchematronValidator:
    return schematron


@pytest.fixture(scope="session")
def gate(ans_kit: AnsKit, kit_cache: Path) -> Iterator[ValidationGate]:
    with ValidationGate.open(mode=ValidationMode.FULL, kit=ans_kit, workers=2, work_dir=kit_cache) as opened:
        yield opened
