"""The configuration: one YAML file, checked at start, and the one translation into stage settings.

    schema.py    every key with its type and default (written once)
    load.py      YAML → Config, with file:line [key] errors; production refusals
    settings.py  Config → what each stage takes (the only reader of the configuration)
    defaults.py  the embedded demo configuration and the bundled reference data
"""

from .defaults import bundled_root, demo_config
from .load import load_config, parse_config
from .schema import (
    Config,
    FolderConfig,
    IdentityConfig,
    ImapConfig,
    IntakeConfig,
    LabConfig,
    MappingsConfig,
    MessageConfig,
    MetricsConfig,
    MllpConfig,
    RetentionConfig,
    RetryConfig,
    RoutingConfig,
    SilConfig,
    SmtpConfig,
    TlsFiles,
    ValidationConfig,
)

__all__ = [
    "Config",
    "FolderConfig",
    "IdentityConfig",
    "ImapConfig",
    "IntakeConfig",
    "LabConfig",
    "MappingsConfig",
    "MessageConfig",
    "MetricsConfig",
    "MllpConfig",
    "RetentionConfig",
    "RetryConfig",
    "RoutingConfig",
    "SilConfig",
    "SmtpConfig",
    "TlsFiles",
    "ValidationConfig",
    "bundled_root",
    "demo_config",
    "load_config",
    "parse_config",
]
