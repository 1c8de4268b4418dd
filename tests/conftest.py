"""Shared test set-up: the operator simulator, the shared reference folder's fixtures, Hypothesis profiles."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["tests.simulator.plugin", "tests.support.refkit", "tests.support.smtp", "tests.privacy_scan"]

# Bounded example counts: fuzzing depth belongs in a nightly run, CI stays under its time budget.
settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

