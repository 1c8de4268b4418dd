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



# The README's test command runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``). Each file is
# one unit, so a module-scoped fixture (a service, a built wheel) is set up once, not on both workers. A compiled
# ANS kit costs 15–40 s of CPU and about 1 GB per process, so the tests that use one are grouped across files:
# those that need the official run (``schematron``; the differential needs the gate's too) on one worker, those
# that need only the gate's (``gate_engine``, tests/validation's pool ``gate``) on the other. The largest units
# are handed out first; the others fill in around them.
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "schematron" in names:
            group = "ans-kit-official"
        elif names & {"gate_engine", "gate"}:
            group = "ans-kit-gate"
        else:
            group = item.nodeid.split("::", 1)[0]
        item.add_marker(pytest.mark.xdist_group(group))
