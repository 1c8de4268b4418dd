"""Transitional: the ANS kit found beside the checkout (``../shared/ref``) when nothing is configured.

The validation package takes the kit's path as a value (``connector.validation.AnsKit``); this
fallback stays here only so the callers that predate it (runtime, offline build, tests, benches)
keep working until the pipeline reads ``validation.ans_kit`` from the configuration. Remove it then.
"""

from __future__ import annotations

import os
from pathlib import Path

from connector.validation.xsd import XSD_RELATIVE

__all__ = ["KIT_RELATIVE", "default_kit_dir", "default_xsd_path"]

KIT_RELATIVE = Path("cda") / "testcontenucda"


def _shared_ref() -> Path:
    env = os.environ.get("CONNECTOR_SHARED_REF")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "ref"


def default_kit_dir() -> Path | None:
    """The ANS test kit (``testcontenucda``) next to the checkout, or None."""
    kit = (_shared_ref() / KIT_RELATIVE).resolve()
    return kit if (kit / "schematrons").is_dir() else None


def default_xsd_path() -> Path | None:
    """Env ``CONNECTOR_CDA_XSD``, else the kit's ``CDA_extended.xsd`` when present, else None."""
    env = os.environ.get("CONNECTOR_CDA_XSD")
    if env:
        return Path(env)
    kit = default_kit_dir()
    if kit is None or not (kit / XSD_RELATIVE).is_file():
        return None
    return kit / XSD_RELATIVE
