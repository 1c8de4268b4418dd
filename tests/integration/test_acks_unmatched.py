"""A mail in the lab mailbox that is no acknowledgement of ours is said loudly, not just moved aside."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.config import demo_config
from connector.service.runtime import Runtime, open_runtime

MAIL = Path(__file__).resolve().parents[1] / "data" / "mail"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = open_runtime(demo_config(data_dir=str(tmp_path / "var")), with_smtp=False)
    yield rt
    rt.close()


def _unmatched(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "ack.unmatched"]


def test_a_doctor_replying_to_the_lab_is_a_warning(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="connector"):
        assert runtime.pipeline.handle_ack_mail((MAIL / "plain_reply.eml").read_bytes()) is False
    (record,) = _unmatched(caplog)
    assert record.levelno == logging.WARNING
    assert record.kind == "none" and record.folder == "unknown_folder" and record.reason


def test_an_acknowledgement_for_no_report_of_ours_is_a_warning(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="connector"):
        assert runtime.pipeline.handle_ack_mail((MAIL / "dsn_bounce_5.1.1.eml").read_bytes()) is False
    records = _unmatched(caplog)
    assert records and all(r.levelno == logging.WARNING and r.kind == "dsn" for r in records)
