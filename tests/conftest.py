"""Shared test set-up: the operator simulator, the shared reference folder's fixtures, Hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

pytest_plugins = ["tests.simulator.plugin", "tests.support.refkit", "tests.support.smtp", "tests.support.postgres",
                  "tests.privacy_scan"]

# The default run (and .ci/run) is derandomized: the same examples every time, so a red run is a change in
# the code, not a new draw. HYPOTHESIS_PROFILE=explore draws new examples (and more of them) to hunt.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



# The README's test command runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``). The tests
# that use a compiled ANS kit (its session fixtures, and tests/validation's gate pool) are one group on one
# worker, so the kit is compiled once, not on both; that group, the longest unit, is handed out first.
_KIT_GROUP = {"schematron", "gate_engine", "gate"}  # tests/support/refkit.py, tests/validation/conftest.py


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _KIT_GROUP & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("ans-kit"))
