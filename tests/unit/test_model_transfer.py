"""The model's fast pickling (connector/model/transfer.py) gives back equal values, on generated reports.

A build worker receives the mapped report pickled; a value that came back different would build
another document than the one the main process mapped.
"""

from __future__ import annotations

import dataclasses
import pickle

from hypothesis import HealthCheck, given, settings

from connector.errors import ConnectorError
from connector.mapping import Mappings, default_mappings_dir
from connector.model import MappedReport
from connector.parse import parse_message, split_messages
from connector.pipeline.compose import prepare
from tests.support.oru_strategy import GeneratedMessage, oru_messages
from tests.support.samples import sample_mapped_report
from tests.support.settings import MAPPING, parse_settings

MAPPINGS = Mappings.load(default_mappings_dir())


def _objects(value: object) -> list[object]:
    """Every dataclass instance reachable from ``value``."""
    out: list[object] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            out.append(item)
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return out


def _round_trip(mapped: MappedReport) -> tuple[MappedReport, list[object]]:
    """The report as a worker gets it, and the values that did not go through the fast reducer."""
    slow = [obj for obj in _objects(mapped) if b"_rebuild" not in pickle.dumps(obj)]
    return pickle.loads(pickle.dumps(mapped)), slow


def test_the_sample_report_comes_back_equal() -> None:
    mapped = sample_mapped_report(extra_numeric=7)
    back, slow = _round_trip(mapped)
    assert back == mapped
    assert slow == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(oru_messages())
def test_generated_reports_come_back_equal(generated: GeneratedMessage) -> None:
    message = split_messages(generated.data, source="generated.hl7")[0]
    try:
        reports = parse_message(message, source="generated.hl7", settings=parse_settings(allow_test_ins=False))
    except ConnectorError:  # refused at parse: nothing is sent to a worker
        return
    for report in reports:
        try:
            mapped = prepare(report, mappings=MAPPINGS, mapping_settings=MAPPING)
        except ConnectorError:  # refused before any build: nothing is sent to a worker
            continue
        back, slow = _round_trip(mapped)
        assert back == mapped
        assert slow == []

