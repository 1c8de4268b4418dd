"""JSON log lines: one event per line, and a raw HL7 segment never gets through."""

from __future__ import annotations

import io
import json

from connector.logs import configure, event, logger


def test_event_is_one_json_line_and_raw_segments_are_redacted() -> None:
    stream = io.StringIO()
    configure(stream=stream)
    try:
        event("report.sent", report_id="r-1", reply="250 ok")
        event("input.quarantined", reason="PID|1||123^^^X||DOE^JOHN")
    finally:
        logger.handlers.clear()
        logger.propagate = True
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["event"] == "report.sent" and lines[0]["report_id"] == "r-1"
    assert "DOE" not in stream.getvalue() and lines[1]["reason"].startswith("[redacted")
