"""Wiring: from a Config to the live parts (store, mappings, directory, validators, pipeline).

Kept apart from the loops so ``run``, ``demo`` and the tests assemble the service the same way.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from connector.cda import SchematronValidator, XsdValidator, default_xsd_path
from connector.config import Config
from connector.config.settings import pipeline_settings, smtp_settings, store_settings
from connector.errors import MappingFileError
from connector.logs import event
from connector.mapping import Mappings
from connector.pipeline import Pipeline, SchematronCheck
from connector.send import Directory, create_ssl_context
from connector.store import Store

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

    def close(self) -> None:
        self.store.close()


def _schematron_check(config: Config) -> SchematronCheck | None:
    if not config.validation.schematron:
        return None
    validator = SchematronValidator(config.path(config.validation.ans_kit))

    def check(document: bytes) -> list[str]:
        return [f"{f.schematron}: {f.location}: {f.text}" for f in validator.failures(document)]

    return check


def open_runtime(config: Config, *, with_smtp: bool = True) -> Runtime:
    store = Store(store_settings(config))
    mappings = MappingsHolder(config.mappings_path, config.loinc_path)
    xsd_path = config.path(config.validation.xsd) if config.validation.xsd else default_xsd_path()
    xsd = XsdValidator(xsd_path) if xsd_path is not None else None
    if xsd is None:
        event("validation.xsd_missing", level=logging.WARNING,
              hint="set validation.xsd to the ANS kit's CDA_extended.xsd")
    smtp = smtp_context = None
    if with_smtp and config.smtp.tls.cafile:
        smtp = smtp_settings(config)
        smtp_context = create_ssl_context(smtp.tls, production=config.production)
    pipeline = Pipeline(settings=pipeline_settings(config), store=store, mappings=mappings,
                        directory=DirectoryHolder(config.directory_path), xsd=xsd, smtp=smtp,
                        smtp_context=smtp_context, schematron=_schematron_check(config))
    return Runtime(config, store, mappings, pipeline)
