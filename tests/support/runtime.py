"""The service's own wiring (``open_runtime``) in-process on a temp store, pointed at a test SMTP server.

For tests that drive ``Pipeline.step`` themselves (fault injection, crash recovery) and read the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.config import (
    InstanceConfig,
    RetryConfig,
    SmtpConfig,
    StoreConfig,
    TlsFiles,
    ValidationConfig,
    demo_config,
)
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from connector.validation import ValidationGate
from tests.support.paths import DIRECTORY, ans_kit_or_none
from tests.support.smtp import SmtpServer


def validation_config() -> ValidationConfig:
    """The shared ANS kit's XSD when it is there (checked as before the gate was wired), else the demo's
    reduced mode; tests of the six schematrons pass a started gate instead (compiling takes a minute)."""
    # One worker: builds stay in the test's process, as before issue 16 (tests/integration/test_build_workers.py
    # covers the worker processes); no start-up cost per runtime.
    kit = ans_kit_or_none()
    return ValidationConfig(mode="xsd", ans_kit=str(kit), workers=1) if kit is not None else ValidationConfig(workers=1)


def smtp_runtime(folder: Path, server: SmtpServer, *, timeout: float = 5.0, first_seconds: float = 1.0,
                 max_seconds: float = 4.0, store_url: str = "", instance: str = "",
                 gate: ValidationGate | None = None) -> Runtime:
    """A demo-configured runtime on ``folder/var`` (or the store at ``store_url``) sending to ``server`` with its
    client certificate; ``instance``: its name among several on one store (several in one test process);
    ``gate``: a started gate (the caller's) instead of the configured one."""
    config = demo_config(
        data_dir=str(folder / "var"),
        store=StoreConfig(url=store_url),
        instance=InstanceConfig(name=instance),
        smtp=SmtpConfig(host="127.0.0.1", port=server.port, timeout=timeout,
                        tls=TlsFiles(cafile=str(server.pki.ca), certfile=str(server.pki.client))),
        retry=RetryConfig(first_seconds=first_seconds, max_seconds=max_seconds),
        validation=validation_config(),
    )
    import_directory(DIRECTORY, db_path=config.directory_path)
    return open_runtime(config, gate=gate)


def force_due(runtime: Runtime, report_id: str) -> None:
    """Skip the backoff wait (the test checks the stored next_attempt_at instead of sleeping through it)."""
    with runtime.store.db.transaction() as c:
        c.execute("UPDATE reports SET next_attempt_at = '' WHERE report_id = ?", (report_id,))


def report_row(runtime: Runtime, report_id: str) -> dict[str, Any]:
    return dict(runtime.store.db.query("SELECT * FROM reports WHERE report_id = ?", (report_id,))[0])
