"""docs/events.md lists every event the code logs, so operators can rely on the catalogue.

The source is grepped, not imported: a new ``event("stage.thing", …)`` anywhere under
connector/ fails this test until it is catalogued. f-string names expand to their family
(``report.<state>`` for each ReportState, ``recipient.<state>`` for each RecipientState).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector.states import DmpState, RecipientState, ReportState

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "connector"
CATALOGUE = ROOT / "docs" / "events.md"

# event("name", …) or logs.event(f"prefix.{…}", …); not _event(…) (the store's timeline writer).
CALL = re.compile(r"(?<![\w.])(?:logs\.)?event\(\s*(f?)(['\"])(.+?)\2", re.DOTALL)
FAMILIES: dict[str, list[str]] = {
    "report": [s.value for s in ReportState],
    "recipient": [s.value for s in RecipientState],
    "dmp": [s.value for s in (DmpState.SENT, DmpState.FAILED, DmpState.REFUSED)],  # a feed's final outcomes
}
NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def _calls() -> list[tuple[str, str, str]]:
    """(file:line, is_f_string, literal) for every event(...) call under connector/."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in CALL.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group(1), m.group(3)))
    return found


def _expand(where: str, is_f: str, literal: str) -> list[str]:
    if not is_f:
        return [literal]
    prefix, _, rest = literal.partition(".{")
    if prefix not in FAMILIES or not rest.endswith("}") or "{" in prefix:
        pytest.fail(f"{where}: event name f-string {literal!r} is not a known family "
                    f"({', '.join(f'{p}.{{state}}' for p in FAMILIES)}); add it to FAMILIES and docs/events.md")
    return [f"{prefix}.{value}" for value in FAMILIES[prefix]]


def code_events() -> dict[str, str]:
    names: dict[str, str] = {}
    for where, is_f, literal in _calls():
        for name in _expand(where, is_f, literal):
            names.setdefault(name, where)
    return names


def documented() -> set[str]:
    return set(re.findall(r"`([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)`", CATALOGUE.read_text(encoding="utf-8")))


def test_the_scan_finds_the_core_events() -> None:
    names = code_events()
    # If these vanish the regex broke, not the code: the test would pass vacuously.
    assert {"service.started", "input.received", "report.quarantined", "recipient.error"} <= set(names)


def test_every_logged_event_is_catalogued() -> None:
    missing = {name: where for name, where in code_events().items() if name not in documented()}
    assert not missing, "add these events to docs/events.md (name, level, fields, meaning, action):\n" + "\n".join(
        f"  {name}  (first seen at {where})" for name, where in sorted(missing.items()))


def test_event_names_are_stage_dot_thing() -> None:
    bad = {name: where for name, where in code_events().items() if not NAME.match(name)}
    assert not bad, f"event names are lowercase 'stage.thing': {bad}"


def test_the_scan_expands_f_string_families(tmp_path: Path) -> None:
    sample = 'event(f"report.{state.value}", report_id=r)\nevent(\n    "x.y", a=1)\n_event(c, r, "not.this")\n'
    found = [(m.group(1), m.group(3)) for m in CALL.finditer(sample)]
    assert found == [("f", "report.{state.value}"), ("", "x.y")]
    assert "report.delivered" in _expand("sample", "f", "report.{state.value}")


def test_event_names_are_literals() -> None:
    """A name held in a variable escapes the scan above, so the catalogue could silently miss it."""
    dynamic = re.compile(r"(?<![\w.])(?:logs\.)?event\(\s*(?![fF]?['\"])([^\s,)]+)")
    bad = []
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for m in dynamic.finditer(text):
            if text[max(0, m.start() - 4):m.start()] == "def ":
                continue
            bad.append(f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: event({m.group(1)}")
    assert not bad, "use a literal event name (or an f-string family) so docs/events.md can be checked:\n" + \
        "\n".join(bad)
