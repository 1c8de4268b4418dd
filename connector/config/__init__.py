"""The configuration: one YAML file, checked at start, and the one translation into stage settings.

    schema.py    every key with its type and default (written once)
    load.py      YAML → Config, with file:line [key] errors; production refusals
    settings.py  Config → what each stage takes (the only reader of the configuration)
    defaults.py  the embedded demo configuration and the bundled reference data
"""

from .defaults import demo_base_dir, demo_config
from .load import load_config, parse_config
from .schema import *  # noqa: F403 - every section's class is part of the configuration's surface
from .schema import __all__ as _sections

__all__ = [*_sections, "demo_base_dir", "demo_config", "load_config", "parse_config"]
