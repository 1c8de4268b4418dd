"""The service's own wiring (``open_runtime``) in-process on a temp store, pointed at a test SMTP server.

For tests that drive ``Pipeline.step`` themselves (fault injection, crash recovery) and read the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connector.config import RetryConfig, SmtpConfig, StoreConfig, TlsFiles, demo_config
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from tests.support.paths import DIRECTORY
from tests.support.smtp import SmtpServer


def smtp_runtime(folder: Path, server: SmtpServer, *, timeout: float = 5.0, first_seconds: float = 1.0,
                 max_seconds: float = 4.0, store_url: str = "") -> Runtime:
    """A demo-configured runtime on ``folder/var`` (or the store at ``store_url``) sending to ``server`` with its
    client certificate."""
    config = demo_config(
        data_dir=str(folder / "var"),
        store=StoreConfig(url=store_url),
        smtp=SmtpConfig(host="127.0.0.1", port=server.port, timeout=timeout,
                        tls=TlsFiles(cafile=str(server.pki.ca), certfile=str(server.pki.client))),
        retry=RetryConfig(first_seconds=first_seconds, max_seconds=max_seconds),
    )
    import_directory(DIRECTORY, db_path=config.directory_path)
    return open_runtime(config)


def force_due(runtime: Runtime, report_id: str) -> None:
    """Skip the backoff wait (the test checks the stored next_attempt_at instead of sleeping through it)."""
    with runtime.store.db.transaction() as c:
        c.execute("UPDATE reports SET next_attempt_at = '' WHERE report_id = ?", (report_id,))


def report_row(runtime: Runtime, report_id: str) -> dict[str, Any]:
    return dict(runtime.store.db.query("SELECT * FROM reports WHERE report_id = ?", (report_id,))[0])
