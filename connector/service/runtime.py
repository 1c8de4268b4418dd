"""Wiring: from a Config to the live parts (store, mappings, directory, validators, pipeline).

Kept apart from the loops so ``run``, ``demo`` and the tests assemble the service the same way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from connector.config import Config
from connector.config.settings import (
    dmp_settings,
    instance_name,
    pipeline_settings,
    smtp_settings,
    store_settings,
    validation_settings,
)
from connector.dmp import DmpClient, load_credentials
from connector.errors import MappingFileError
from connector.logs import event
from connector.mapping import Mappings
from connector.pipeline import Pipeline
from connector.send import Directory, create_ssl_context
from connector.store import Store
from connector.validation import ValidationGate

__all__ = ["MappingsHolder", "Runtime", "open_runtime"]


class MappingsHolder:
    """The last good mappings; a broken edit is refused with its lint message and the old version kept."""

    def __init__(self, directory: Path, loinc_dir: Path) -> None:
        self.directory = directory
        self.loinc_dir = loinc_dir
        self._lock = threading.Lock()
        self._current = Mappings.load(directory, loinc_dir=loinc_dir)
        self._stamp = self._fingerprint()

    def __call__(self) -> Mappings:
        return self._current

    def retarget(self, directory: Path, loinc_dir: Path) -> None:
        """The configuration now names other folders: load from there at the next check."""
        with self._lock:
            self.directory, self.loinc_dir = directory, loinc_dir
            self._stamp = ()

    def _fingerprint(self) -> tuple[tuple[str, float, int], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime, p.stat().st_size)
                            for p in self.directory.glob("*.y*ml")))

    def reload_if_changed(self) -> bool:
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        with self._lock:
            self._stamp = stamp
            try:
                fresh = Mappings.load(self.directory, loinc_dir=self.loinc_dir)
            except MappingFileError as exc:
                event("mappings.rejected", level=logging.ERROR, reason=str(exc),
                      kept_version=self._current.version)
                return False
            self._current = fresh
            event("mappings.reloaded", version=fresh.version)
            return True


class DirectoryHolder:
    """Reopens the directory database when `connector directory import` replaced it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: float | None = None
        self._directory: Directory | None = None

    def __call__(self) -> Directory | None:
        try:
            stamp = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if stamp != self._stamp:
            self._directory = Directory(self.path)
            self._stamp = stamp
        return self._directory


@dataclass
class Runtime:
    config: Config
    store: Store
    mappings: MappingsHolder
    pipeline: Pipeline
    gate: ValidationGate
    owns_gate: bool = True  # False: the caller's gate (shared by tests), closed by the caller

    def close(self) -> None:
        try:
            self.pipeline.close_dmp()
            self.store.close()
        finally:
            if self.owns_gate:
                self.gate.close()


def open_runtime(config: Config, *, with_smtp: bool = True, gate: ValidationGate | None = None) -> Runtime:
    """The service's parts from ``config``. ``gate``: an already started gate to use instead of opening the
    configured one (its workers compile the schematrons for a minute; tests share one per session).

    The gate opens first: in production a missing or broken kit stops the start (KitError, exit 2)
    before anything else is touched.
    """
    owns_gate = gate is None
    if gate is None:
        settings = validation_settings(config)
        gate = ValidationGate.from_settings(settings, builds=settings.builds_in_workers)
    dmp = store = None
    try:
        dmp = _dmp_client(config)  # before the store opens: a refused certificate leaves nothing open
        store = Store(store_settings(config), instance=instance_name(config))
        mappings = MappingsHolder(config.mappings_path, config.loinc_path)
        smtp = smtp_context = None
        if with_smtp and config.smtp.tls.cafile:
            smtp = smtp_settings(config)
            smtp_context = create_ssl_context(smtp.tls, production=config.production)
        pipeline = Pipeline(settings=pipeline_settings(config), store=store, mappings=mappings,
                            directory=DirectoryHolder(config.directory_path), xsd=gate.xsd, smtp=smtp,
                            smtp_context=smtp_context, gate=gate, dmp=dmp)
    except BaseException:
        if dmp is not None:
            dmp.close()
        if store is not None:
            store.close()
        if owns_gate:
            gate.close()
        raise
    return Runtime(config, store, mappings, pipeline, gate, owns_gate)


def _dmp_client(config: Config) -> DmpClient | None:
    """The DMP client when the feed is enabled (its settings were checked when the file was read)."""
    if not config.dmp.enabled:
        return None
    settings = dmp_settings(config)
    return DmpClient(settings, load_credentials(settings))
