"""The embedded defaults: the demo lab's configuration, and where the bundled reference data lives.

``connector demo``, ``connector build`` and the operator commands without ``--config`` run on
these; the default mapping files and LOINC subset are found relative to :func:`bundled_root`.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any

from .load import parse_config
from .schema import Config

__all__ = ["bundled_root", "demo_config"]

DEMO_CONFIG = "demo.yaml"


def bundled_root() -> Path:
    """The folder holding the default ``mappings/`` and ``loinc/``: the checkout the package runs from."""
    return Path(__file__).resolve().parents[2]


def demo_config(**overrides: Any) -> Config:
    """The embedded defaults (``connector/demo/demo.yaml``), paths relative to :func:`bundled_root`."""
    text = resources.files("connector.demo").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")
    config = parse_config(text, source=f"connector/demo/{DEMO_CONFIG}", base_dir=bundled_root())
    return dataclasses.replace(config, **overrides)
