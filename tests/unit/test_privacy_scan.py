"""The suite-wide privacy scan (tests/privacy_scan.py) does catch a patient value in an event."""

from __future__ import annotations

import pytest

from connector.logs import event
from tests.privacy_scan import _scanner


@pytest.mark.parametrize("value, kind", [
    ("TestPatient", "name"),  # case-insensitive: a name may be written in any case
    ("19850507", "birth date"),
    ("285057512004242", "INS/NIR"),
])
def test_a_canary_in_an_event_is_caught(value: str, kind: str) -> None:
    before = len(_scanner.hits)
    try:
        event("report.parsed", report_id="r-1", reason=f"something about {value}")
        assert len(_scanner.hits) == before + 1 and _scanner.hits[-1].endswith(f"holds a patient {kind}")
    finally:
        del _scanner.hits[before:]  # this leak was planted: it must not fail the run


def test_ids_and_ordinary_words_are_not_canaries() -> None:
    before = len(_scanner.hits)
    event("report.parsed", report_id="r-2", reason="patient test: waiting for the directory")
    assert len(_scanner.hits) == before
