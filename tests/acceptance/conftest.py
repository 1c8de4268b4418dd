"""Fixtures for running the connector as a user runs it; the harness itself is tests/support/service.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support.service import ServiceProcess, Site


@pytest.fixture
def service_factory() -> Iterator[Callable[[Site], ServiceProcess]]:
    """Start services (and wait until they listen); any still running at the end is stopped by its own pid."""
    with ExitStack() as running:

        def start(site: Site) -> ServiceProcess:
            return running.enter_context(ServiceProcess(site)).start()

        yield start


@pytest.fixture
def processes() -> Iterator[Callable[..., ServiceProcess]]:
    """Make services not yet started (``processes(site, env=…, file_size_limit=…).start()``); any still
    running at the end is stopped by its own pid."""
    with ExitStack() as running:

        def make(site: Site, **options: Any) -> ServiceProcess:
            return running.enter_context(ServiceProcess(site, **options))

        yield make
