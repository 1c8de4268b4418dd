"""Loaded by the service subprocess of tests/acceptance/test_hostile_service.py only (its PYTHONPATH).

With HOSTILE_SLOW_BUILD=<MSH-10>, building that report spins the CPU for HOSTILE_SLOW_SECONDS (120):
a build as slow as the quadratic layout made them, which no real input can trigger any more. It lets the
test show the time budget and a prompt SIGTERM on the real service. Nothing happens without the variable.
"""

from __future__ import annotations

import json
import os
import sys
import time

_CONTROL_ID = os.environ.get("HOSTILE_SLOW_BUILD", "")

if _CONTROL_ID:
    import connector.pipeline.build as _build

    _real = _build.compose_artifacts
    _seconds = float(os.environ.get("HOSTILE_SLOW_SECONDS", "120"))

    def _slow(report, **kwargs):  # type: ignore[no-untyped-def]
        if report.header.control_id == _CONTROL_ID:
            deadline = time.monotonic() + _seconds
            while time.monotonic() < deadline:
                sum(range(1000))  # CPU, like the layout was: a thread cannot be interrupted in it
        return _real(report, **kwargs)

    _build.compose_artifacts = _slow
    sys.stderr.write(json.dumps({"event": "hooks.slow_build_armed", "control_id": _CONTROL_ID}) + "\n")
