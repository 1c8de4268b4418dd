"""The Grafana dashboard only queries metrics that connector.service.metrics really exposes.

Every PromQL ``expr`` (panels and template variables) is reduced to its metric names,
which are checked against the exposition text of a real ``Metrics(store)``: renaming a
metric without updating deploy/grafana-dashboard.json fails here, not on a lab's wall.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connector.service.metrics import Metrics
from connector.store import Store

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana-dashboard.json"

# Grafana's own variables, replaced by what Grafana would send so the expression is plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan"}
# Suffixes a query may add to a family name, per family type (prometheus_client naming).
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count", "_created"),
            "gauge": (), "summary": ("_sum", "_count", "_created")}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def exprs() -> list[tuple[str, str]]:
    """(where, PromQL) for every query in the dashboard, Grafana variables substituted."""
    dash = _dashboard()
    found = [(f"panel {p.get('title')!r}", t["expr"]) for p in _panels(dash["panels"]) for t in p.get("targets", [])
             if t.get("expr")]
    for var in dash["templating"]["list"]:
        if var.get("type") == "query":
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            inner = re.fullmatch(r"label_values\((.+?)(?:,\s*\w+)?\)", query)
            found.append((f"variable {var['name']!r}", inner.group(1) if inner else query))
    return [(where, _plain(expr)) for where, expr in found]


def _plain(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return re.sub(r"\$\{?(\w+)\}?", r"\1", expr)  # $job inside a label matcher: any text will do


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression, without a full parser.

    Strings, label matchers, ranges and grouping clauses are removed; what is left that is an
    identifier not followed by "(" (a function or aggregation) and not a keyword is a metric.
    """
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*+)(?!\s*\()", text):
        if m.group(1).lower() not in PROMQL_KEYWORDS:
            names.add(m.group(1))
    return names


@pytest.fixture(scope="module")
def exposed(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    store = Store(tmp_path_factory.mktemp("store") / "connector.sqlite")
    try:
        text = Metrics(store).render().decode("utf-8")
    finally:
        store.close()
    names = set()
    for family in text_string_to_metric_families(text):
        if family.type in ("gauge", "unknown"):  # a counter or histogram has no series under its bare name
            names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_extractor_reads_promql() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, milestone) (rate(connector_latency_seconds_bucket'
            '{job=~"a|b", state="x"}[5m]))) / on (job) group_left sum(connector_reports offset 1h) > bool 0')
    assert metric_names(expr) == {"connector_latency_seconds_bucket", "connector_reports"}


def test_bare_counter_and_histogram_names_are_not_series(exposed: set[str]) -> None:
    assert "connector_unmapped_codes_total" in exposed and "connector_unmapped_codes" not in exposed
    assert "connector_latency_seconds_bucket" in exposed and "connector_latency_seconds" not in exposed
    assert "connector_queue_depth" in exposed


def test_the_dashboard_is_grafana_json() -> None:
    dash = _dashboard()
    assert 36 <= dash["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in _panels(dash["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(dash["panels"]):
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]


def test_every_queried_metric_is_exposed(exposed: set[str]) -> None:
    missing = {f"{where}: {name}" for where, expr in exprs() for name in metric_names(expr) if name not in exposed}
    assert not missing, (
        "the dashboard queries metrics connector.service.metrics does not expose:\n" + "\n".join(sorted(missing))
    )


def test_the_dashboard_covers_the_operator_questions() -> None:
    used = set().union(*(metric_names(expr) for _, expr in exprs()))
    for needed in ("connector_reports", "connector_queue_depth", "connector_oldest_waiting_seconds",
                   "connector_latency_seconds_bucket", "connector_unmapped_codes_total",
                   "connector_validation_failures_total", "connector_smtp_errors_total", "connector_imap_errors_total"):
        assert needed in used, needed


def _selector_name(node: Any, seen: set[str]) -> None:
    if type(node).__name__ == "VectorSelector" and node.name:
        seen.add(node.name)


def test_every_expr_parses_as_promql() -> None:
    parser = pytest.importorskip("promql_parser", reason="promql-parser not installed: syntax check skipped")
    for where, expr in exprs():
        ast = parser.parse(expr)  # raises ValueError on a syntax error
        seen: set[str] = set()
        parser.walk(ast, lambda node, seen=seen: _selector_name(node, seen))
        assert seen == metric_names(expr), f"{where}: the regex extractor and the parser disagree"


def test_the_alert_rules_in_operations_md_query_exposed_metrics(exposed: set[str]) -> None:
    import yaml

    text = (DASHBOARD.parents[1] / "docs" / "operations.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    rules = [rule for block in blocks for group in yaml.safe_load(block)["groups"] for rule in group["rules"]]
    assert rules, "docs/operations.md lost its Prometheus alert rules"
    scraped = {"up"}  # Prometheus' own series for every target
    missing = {f"{rule['alert']}: {name}" for rule in rules for name in metric_names(rule["expr"])
               if name not in exposed | scraped}
    assert not missing, (
        "alert rules query metrics connector.service.metrics does not expose:\n" + "\n".join(sorted(missing)))
