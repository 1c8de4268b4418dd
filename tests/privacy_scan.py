"""Suite-wide privacy canary: every event the connector logs during the whole test run is scanned.

The canaries are the identifying values of the synthetic patients in ``tests/data`` (names, birth
dates, INS/NIR) and of the shared report factory. Any of them in a formatted log line (the JSON
that reaches the log dashboards) fails the run at the end, naming the test, the event and the
kind of value. ``tests/acceptance/test_service_privacy.py`` does the same for the real service
process: its stderr, metrics, CLI output, store events, ACK/ZAM bytes and reason files.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest

from connector.logs import JsonFormatter
from tests.support.samples import ACCENTED_NAME, TEST_INS

DATA = Path(__file__).resolve().parent / "data"
MIN_NAME = 4  # shorter name parts (LUC, ZOÉ) would match ordinary words and ids


def canaries() -> dict[str, str]:
    """value → what it is, from every PID segment of the test data and the shared factory."""
    found: dict[str, str] = {TEST_INS: "INS", "19790328": "birth date"}
    for part in (ACCENTED_NAME.family, *ACCENTED_NAME.given, "CAMILLE"):
        _add_name(found, part)
    for path in sorted(DATA.rglob("*.hl7")):
        raw = path.read_bytes()
        text = raw.decode("utf-8") if _is_utf8(raw) else raw.decode("latin-1")
        for segment in re.split(r"[\r\n]+", text):
            if segment.startswith("PID|"):
                _add_pid(found, segment.split("|"))
    return found


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _add_pid(found: dict[str, str], fields: list[str]) -> None:
    def field(n: int) -> str:
        return fields[n] if len(fields) > n else ""

    for repetition in field(3).split("~"):
        value = repetition.split("^")[0]
        if re.fullmatch(r"\d{13,15}", value):
            found[value] = "INS/NIR"
    for repetition in field(5).split("~"):
        for component in repetition.split("^")[:3]:  # family, given, second given
            _add_name(found, component)
    birth = field(7)[:8]
    if re.fullmatch(r"\d{8}", birth):
        found[birth] = "birth date"


def _add_name(found: dict[str, str], text: str) -> None:
    for word in re.split(r"[\s\-']+", text):
        if len(word) >= MIN_NAME and word.isalpha():
            found.setdefault(word.upper(), "name")


class _Scanner(logging.Filter):
    """A filter, not a handler: ``connector.logs.configure`` replaces handlers, never filters."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__()
        self.values = values
        words = sorted(values, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, words)) + r")(?!\w)", re.IGNORECASE)
        self.formatter = JsonFormatter()
        self.test = ""
        self.hits: list[str] = []
        self.lines = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.lines += 1
        line = self.formatter.format(record)
        for match in self.pattern.finditer(line):
            kind = self.values.get(match.group(1).upper(), "value")
            self.hits.append(f"{self.test}: event {getattr(record, 'event', record.msg)!s} holds a patient {kind}")
        return True


_scanner = _Scanner(canaries())


def pytest_sessionstart(session: pytest.Session) -> None:
    connector = logging.getLogger("connector")
    connector.addFilter(_scanner)
    # A logger drops records below its level before its filters run: let every event through
    # (pytest captures them; a test that configures logging sets its own level).
    connector.setLevel(logging.DEBUG)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _scanner.test = item.nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: its counts go to the controller, which judges
        worker_output["privacy_scan"] = {"lines": _scanner.lines, "hits": _scanner.hits}
    elif _scanner.hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist's controller: add up what each worker scanned (the events were logged there)."""
    scanned = getattr(node, "workeroutput", {}).get("privacy_scan")
    if scanned:
        _scanner.lines += scanned["lines"]
        _scanner.hits += scanned["hits"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(
        f"privacy scan: {_scanner.lines} connector log lines scanned for {len(_scanner.values)} patient values, "
        f"{len(_scanner.hits)} found"
    )
    for hit in sorted(set(_scanner.hits))[:50]:
        terminalreporter.write_line(f"  PATIENT DATA IN A LOG: {hit}", red=True)
