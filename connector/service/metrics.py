"""Prometheus metrics and the /healthz, /readyz endpoints.

Report counts are read from the store at scrape time (a collector), so they are right
after a restart and never drift. Labels hold states, stages and error classes only:
never a report id, an address or anything about a patient.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connector.states import DmpState, ReportState
from connector.store import Store, age_seconds

__all__ = ["Metrics", "MetricsServer"]

# Drop → 250 is tens of ms on a healthy host and hours when an operator is down.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400)


class _StoreCollector(Collector):
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self.store.counts()
        by_state = GaugeMetricFamily("connector_reports", "Reports by state", labels=["state"])
        for state in ReportState:
            by_state.add_metric([state.value], counts.get(state.value, 0))
        yield by_state
        busy = sum(counts.get(s.value, 0) for s in (ReportState.RECEIVED, ReportState.PARSED,
                                                      ReportState.BUILT, ReportState.SENDING, ReportState.WAITING))
        yield GaugeMetricFamily("connector_queue_depth", "Reports not yet accepted by the operator", value=busy)
        oldest = self.store.oldest_waiting()
        age = age_seconds(oldest.received_at) if oldest is not None else 0.0
        yield GaugeMetricFamily("connector_oldest_waiting_seconds", "Age of the oldest report in progress",
                                value=age)
        yield GaugeMetricFamily("connector_quarantined_inputs", "Inputs that could not be read, not released",
                                value=len(self.store.input_errors()))
        dmp = self.store.dmp_counts()
        feeds = GaugeMetricFamily("connector_dmp_feeds", "Reports addressed to the DMP, by feed state",
                                  labels=["state"])
        for dmp_state in DmpState:
            if dmp_state is not DmpState.NOT_ASKED:
                feeds.add_metric([dmp_state.value], dmp.get(dmp_state.value, 0))
        yield feeds
        oldest_feed = self.store.dmp_oldest_pending()
        yield GaugeMetricFamily("connector_dmp_oldest_pending_seconds", "Age of the oldest DMP feed still owed",
                                value=age_seconds(oldest_feed) if oldest_feed else 0.0)


class Metrics:
    def __init__(self, store: Store | None = None) -> None:
        self.registry = CollectorRegistry()
        if store is not None:
            self.registry.register(_StoreCollector(store))
        self.latency = Histogram("connector_latency_seconds", "Time from drop to a milestone",
                                 ["milestone"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.unmapped_codes = Counter("connector_unmapped_codes_total", "Results sent with a local code only",
                                registry=self.registry)
        self.validation_failures = Counter("connector_validation_failures_total", "Documents refused by validation",
                                           ["check"], registry=self.registry)
        self.smtp_errors = Counter("connector_smtp_errors_total", "SMTP failures", ["kind"], registry=self.registry)
        self.imap_errors = Counter("connector_imap_errors_total", "IMAP failures", ["kind"], registry=self.registry)
        self.acks = Counter("connector_acks_total", "Acknowledgements applied", ["kind", "state"],
                            registry=self.registry)
        self.dmp_outcomes = Counter("connector_dmp_outcomes_total", "DMP feeds ended (sent, failed, refused)",
                                    ["action", "state"], registry=self.registry)
        self.dmp_paused = Gauge("connector_dmp_paused", "1 while the DMP queue is paused (a cause of ours: "
                                "certificates, TLS)", registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # connector.pipeline.Observer: what the pipeline reports as it moves reports on

    def unmapped(self, count: int) -> None:
        self.unmapped_codes.inc(count)

    def validation_failed(self, check: str) -> None:
        self.validation_failures.labels(check=check).inc()

    def smtp_error(self, kind: str) -> None:
        self.smtp_errors.labels(kind=kind).inc()

    def milestone(self, milestone: str, seconds: float) -> None:
        self.latency.labels(milestone=milestone).observe(seconds)

    def ack(self, kind: str, state: str) -> None:
        self.acks.labels(kind=kind, state=state).inc()

    def dmp_outcome(self, action: str, state: str) -> None:
        self.dmp_outcomes.labels(action=action, state=state).inc()


class MetricsServer:
    """A tiny HTTP server: /metrics, /healthz (process alive), /readyz (store answers, loops running)."""

    def __init__(self, metrics: Metrics, *, host: str, port: int, ready: Callable[[], bool],
                 why_not: Callable[[], str] | None = None) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, owner.metrics.render(), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    self._reply(200, b"ok\n")
                elif self.path == "/readyz":
                    ok = owner.ready()
                    reason = "" if ok or why_not is None else why_not()
                    text = "ready" if ok else "not ready" + (f": {reason}" if reason else "")
                    self._reply(200 if ok else 503, f"{text}\n".encode())
                else:
                    self._reply(404, b"not found\n")

            def _reply(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # access logs would be noise in the JSON stream
                pass

        self.metrics = metrics
        self.ready = ready
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
