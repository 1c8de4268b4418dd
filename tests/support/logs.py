"""The connector's JSON log lines, read back: from a service's stderr file or captured in-process."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connector.logs import JsonFormatter, logger


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects of a log, one a line; a half-written line (a kill mid-write) is skipped."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


class JsonLog:
    """Events logged in this process while :func:`json_log` is open, formatted as the service writes them."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in json_lines(self.stream.getvalue()) if name is None or e.get("event") == name]


@contextmanager
def json_log() -> Iterator[JsonLog]:
    log = JsonLog()
    handler = logging.StreamHandler(log.stream)
    handler.setFormatter(JsonFormatter())
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield log
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
