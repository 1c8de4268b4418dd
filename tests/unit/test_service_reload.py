"""Configuration reload: live sections apply at once, others are named as needing a restart,
a broken file is refused and the running configuration kept."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from connector.config import load_config
from connector.service.reload import ConfigWatcher
from connector.service.runtime import open_runtime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(f"mode: test\ndata_dir: {tmp_path / 'var'}\nmappings: {{dir: {ROOT / 'mappings'}, "
                    f"loinc_dir: {ROOT / 'loinc'}}}\nmessage: {{nil: A1}}\n")
    runtime = open_runtime(load_config(path), with_smtp=False)
    yield ConfigWatcher(runtime, path), path
    runtime.close()


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 5))


def test_live_change_applies(service, caplog: pytest.LogCaptureFixture) -> None:
    svc, path = service
    _touch(path, path.read_text().replace("nil: A1", "nil: B2") + "metrics: {port: 9999}\n")
    with caplog.at_level(logging.INFO, logger="connector"):
        assert svc.reload_if_changed()
    assert svc.runtime.pipeline.settings.message.nil == "B2"
    events = {r.getMessage(): r for r in caplog.records}
    assert "config.reloaded" in events and events["config.restart_needed"].sections == "metrics"


def test_broken_file_is_refused_and_the_old_config_kept(service, caplog: pytest.LogCaptureFixture) -> None:
    svc, path = service
    _touch(path, path.read_text() + "smtp: {port: many}\n")
    with caplog.at_level(logging.INFO, logger="connector"):
        assert not svc.reload_if_changed()
    rejected = [r for r in caplog.records if r.getMessage() == "config.rejected"]
    assert rejected and "[smtp.port]" in rejected[0].reason and "c.yaml:" in rejected[0].reason
    assert svc.runtime.pipeline.settings.message.nil == "A1"
    json.dumps(rejected[0].reason)
