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
# that need only the gate's (``gate_engine``, tests/validation's pool ``gate``) on the other. Units are handed
# out in the order of the items: the two groups first, then the service-level tests (a ledger takes minutes),
# then the rest, so that no long unit starts last.
_KIT_GROUPS = ("ans-kit-official", "ans-kit-gate")


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False  # xdist would order units by their number of tests instead


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups off the items
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups: dict[str, str] = {}
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "schematron" in names:
            group = _KIT_GROUPS[0]
        elif names & {"gate_engine", "gate"}:
            group = _KIT_GROUPS[1]
        else:
            group = item.nodeid.split("::", 1)[0]
        groups[item.nodeid] = group
        item.add_marker(pytest.mark.xdist_group(group))

    def rank(item: pytest.Item) -> int:
        group = groups[item.nodeid]
        return _KIT_GROUPS.index(group) if group in _KIT_GROUPS else 2 if group.startswith("tests/acceptance/") else 3

    items.sort(key=rank)
