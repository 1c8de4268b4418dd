"""The embedded defaults: the demo lab's configuration.

``connector demo``, ``connector build`` and the operator commands without ``--config`` run on it. The
default mapping files and LOINC subset are the package's own data (``connector/_data``), so none of
this needs a checkout; the demo's data folder is under the system's temp dir, never the working one.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from .load import parse_config
from .schema import Config

__all__ = ["demo_base_dir", "demo_config"]

DEMO_CONFIG = "demo.yaml"


def demo_base_dir() -> Path:
    """Where the demo configuration's relative paths (its ``var/`` store) point: one folder per user."""
    return Path(tempfile.gettempdir()) / f"connector-demo-{os.getuid()}"


def demo_config(**overrides: Any) -> Config:
    """The embedded defaults (``connector/demo/demo.yaml``), relative paths under :func:`demo_base_dir`."""
    text = resources.files("connector.demo").joinpath(DEMO_CONFIG).read_text(encoding="utf-8")
    config = parse_config(text, source=f"connector/demo/{DEMO_CONFIG}", base_dir=demo_base_dir())
    return dataclasses.replace(config, **overrides)
