"""Configuration reload: the file is re-read when it changes; a broken file is refused, the old one kept.

The sections a running pipeline can take at once apply at once (event ``config.reloaded``); any
other change (store, intake, SMTP, IMAP, metrics) is logged as ``config.restart_needed``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from connector.config import Config, load_config
from connector.config.settings import pipeline_settings
from connector.errors import ConfigError
from connector.logs import event

from .runtime import Runtime

__all__ = ["LIVE_SECTIONS", "ConfigWatcher"]

# Sections a reload applies at once; any other change is logged as needing a restart.
LIVE_SECTIONS = frozenset({"lab", "identity", "routing", "message", "retry", "mappings", "retention", "build"})


class ConfigWatcher:
    def __init__(self, runtime: Runtime, path: Path | None) -> None:
        self.runtime = runtime
        self.path = path
        self._stamp = _stamp(path)

    def reload_if_changed(self) -> bool:
        """Re-read the configuration file when it changed; True when a new configuration was taken."""
        stamp = _stamp(self.path)
        if self.path is None or stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            fresh = load_config(self.path)
        except ConfigError as exc:
            event("config.rejected", level=logging.ERROR, reason=str(exc))
            return False
        old = self.runtime.config
        changed = sorted(f.name for f in dataclasses.fields(fresh)
                         if f.name != "base_dir" and getattr(fresh, f.name) != getattr(old, f.name))
        restart = [name for name in changed if name not in LIVE_SECTIONS]
        if restart:
            event("config.restart_needed", level=logging.WARNING, sections=",".join(restart))
        self._apply(fresh)
        event("config.reloaded", sections=",".join(c for c in changed if c in LIVE_SECTIONS))
        return True

    def _apply(self, fresh: Config) -> None:
        if fresh.mappings != self.runtime.config.mappings:
            self.runtime.mappings.retarget(fresh.mappings_path, fresh.loinc_path)
        self.runtime.pipeline.reconfigure(pipeline_settings(fresh))
        self.runtime.config = fresh


def _stamp(path: Path | None) -> tuple[float, int] | None:
    try:
        return (path.stat().st_mtime, path.stat().st_size) if path is not None else None
    except OSError:
        return None
