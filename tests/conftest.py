"""Shared test set-up: the operator simulator, the shared reference folder's fixtures, Hypothesis profiles."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["tests.simulator.plugin", "tests.support.refkit", "tests.support.smtp", "tests.support.postgres",
                  "tests.privacy_scan"]

# The default run (and .ci/run) is derandomized: the same examples every time, so a red run is a change in
# the code, not a new draw. HYPOTHESIS_PROFILE=explore draws new examples (and more of them) to hunt.
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("explore", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

