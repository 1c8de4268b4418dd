"""Run the real pipeline on the bundled samples with embedded defaults, in a temporary folder.

Nothing here is a mock of the pipeline: the drop folder, the SQLite store, the CDA and
XDM build, and SMTP over STARTTLS with a client certificate are the service's own code;
only the operator is an in-process aiosmtpd server (connector.demo.server).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from connector.config import FolderConfig, IntakeConfig, SmtpConfig, TlsFiles, ValidationConfig, demo_config
from connector.config.settings import folder_settings
from connector.demo.server import DemoSmtpServer
from connector.intake import DropFolder
from connector.pipeline import Pipeline
from connector.send import import_directory
from connector.service.runtime import open_runtime

__all__ = ["drain", "installed_kit", "run_demo"]

# The demo's reports all finish in a few steps; the bound only stops a runaway loop.
MAX_STEPS = 50


async def drain(pipeline: Pipeline) -> None:
    """Step the pipeline until nothing is due (waiting reports stay waiting)."""
    try:
        for _ in range(MAX_STEPS):
            outcomes = await pipeline.step()
            if not outcomes:
                break
    finally:
        await pipeline.close()


def installed_kit() -> Path:
    """Where `connector kit install` without --config puts the kit (the embedded defaults' data_dir).

    The demo runs in a fresh folder each time; it validates with that kit when the lab installed one,
    and otherwise runs reduced (the builder's own checks only), which the demo command says once.
    """
    return demo_config().ans_kit_path


def run_demo() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="connector-demo-") as tmp, DemoSmtpServer() as server:
        base = Path(tmp)
        config = demo_config(
            data_dir=str(base / "var"),
            validation=ValidationConfig(ans_kit=str(installed_kit())),
            smtp=SmtpConfig(host=server.host, port=server.port, timeout=10,
                            tls=TlsFiles(cafile=str(server.cafile), certfile=str(server.client_pem))),
            intake=IntakeConfig(folder=FolderConfig(drop=str(base / "drop"), archive=str(base / "archive"),
                                                    quarantine=str(base / "quarantine"), stable_seconds=0)),
        )
        sample_dir = resources.files("connector.demo").joinpath("samples")
        config.directory_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with resources.as_file(resources.files("connector.demo").joinpath("directory.txt")) as extract:
            import_directory(extract, db_path=config.directory_path)
        runtime = open_runtime(config)
        try:
            drop = config.path(config.intake.folder.drop)
            drop.mkdir(mode=0o700, parents=True)
            for sample in sorted(sample_dir.iterdir(), key=lambda p: p.name):
                if sample.name.endswith(".hl7"):
                    with resources.as_file(sample) as src:
                        shutil.copyfile(src, drop / sample.name)
            DropFolder(folder_settings(config), runtime.pipeline).scan_once()
            asyncio.run(drain(runtime.pipeline))
            for dsn in server.dsns:  # what the operator returned, as the IMAP reader would hand it over
                runtime.pipeline.handle_ack_mail(dsn)
            return [
                {"report_id": row.report_id, "state": row.state.value, "reason": row.reason,
                 "recipients": [r.address for r in runtime.store.recipients(row.report_id)]}
                for row in runtime.store.all_reports()
            ]
        finally:
            runtime.close()
