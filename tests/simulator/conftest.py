"""Makes ``operator_sim`` available here until the root conftest registers tests.simulator.plugin."""

import sys

if "tests.simulator.plugin" not in sys.modules:  # registered once at the root: do not define a second instance
    from tests.simulator.plugin import operator_sim  # noqa: F401
