"""JSON-lines logging: one event per line, named from the catalogue in docs/events.md.

Call :func:`event` with an event name and ids (report_id, input_id, source, codes),
never with patient data. As a last line of defence, :class:`JsonFormatter` drops any
field whose text looks like a raw HL7 patient or result segment.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure", "event", "logger", "where_raised"]

logger = logging.getLogger("connector")

# A raw PID/OBX/NK1/NTE segment in a log field means something upstream leaked one.
_RAW_SEGMENT = re.compile(r"(^|[\r\n])(PID|PD1|NK1|OBX|NTE|PV1|IN1|GT1)\|")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key == "event" or key.startswith("_"):
                continue
            text = value if isinstance(value, (int, float, bool)) or value is None else str(value)
            if isinstance(text, str) and _RAW_SEGMENT.search(text):
                text = "[redacted: raw HL7 segment]"
            doc[key] = text
        if record.exc_info and record.exc_info[0] is not None:
            # The class name only: an exception's text may quote input we did not write.
            doc["exception"] = record.exc_info[0].__name__
        return json.dumps(doc, ensure_ascii=False, sort_keys=False)


def configure(level: str = "info", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one catalogued event with its fields (ids, states, codes; never patient data)."""
    logger.log(level, name, extra={"event": name, **fields})


def where_raised(exc: BaseException) -> str:
    """``connector/x/y.py:123 (function)``: the innermost frame of the connector's own code in ``exc``'s
    traceback (else the innermost frame at all). Names where a failure came from without its message,
    which may quote input: for ``service.crashed`` and the CLI's last-resort error line."""
    import traceback
    from pathlib import Path

    package = Path(__file__).resolve().parent
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(package)]
    candidates = ours or list(frames)
    if not candidates:
        return "unknown place"
    frame = candidates[-1]
    path = Path(frame.filename).resolve()
    shown = path.relative_to(package.parent) if path.is_relative_to(package.parent) else Path(path.name)
    return f"{shown}:{frame.lineno} ({frame.name})"
