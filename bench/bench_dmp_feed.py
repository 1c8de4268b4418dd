"""The DMP channel in the service: what the wiring costs per feed, beside the DMP client alone, same run.

1. The document's source: the CDA read back from the stored e-mail (``cda_from_email``, the choice made)
   beside the baseline "read the stored e-mail" (what any source in the store costs at least).
2. One feed through ``Pipeline.feed_dmp`` (report reloaded, CDA read back, SENDING committed, TD2.1, the
   outcome and its ZAM^Z01 committed) beside ``DmpClient.submit`` alone on other reports of the same kind,
   both against the DMP test double (which validates every request: XSDs, signatures) with no rate limit.
3. The queue at the DMP's ceiling: the same feeds behind the default limiter (5 transactions a second).

Usage: python bench/bench_dmp_feed.py [N]   (N reports per row, default 30). Prints a markdown table.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connector.config import DmpConfig, SmtpConfig, TlsFiles, demo_config
from connector.demo.run import drain
from connector.demo.server import DemoSmtpServer
from connector.dmp import DmpDocument, RateLimiter, make_demo_pki
from connector.package import cda_from_email
from connector.send import import_directory
from connector.service.runtime import Runtime, open_runtime
from tests.dmp.double import DmpDouble
from tests.dmp.support import write_pki
from tests.ledger.dmp_oru import discrete
from tests.support.paths import DIRECTORY, SHARED_REF


def _timed(fn: Callable[[], object], times: int) -> list[float]:
    out = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _row(name: str, samples: list[float]) -> str:
    med = statistics.median(samples)
    unit = f"{med * 1e6:.0f} µs" if med < 1e-3 else f"{med * 1000:.1f} ms"
    return f"| {name} | {unit} | {1 / med:,.0f}/s |"


def _reports(rt: Runtime, first: int, count: int) -> list[str]:
    ids: list[str] = []
    for n in range(first, first + count):
        ids += rt.pipeline.receive(discrete(f"BENCH{n:05d}", patient=n, series=n, version=1),
                                   source=f"b{n}.hl7").reports
    asyncio.run(drain(rt.pipeline))
    return ids


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    tmp = Path(tempfile.mkdtemp(prefix="bench-dmp-feed-"))
    pki = make_demo_pki(structure_id="1999999999", structure_name="Laboratoire de démonstration")
    with DemoSmtpServer() as smtp, DmpDouble(ca=pki.ca.cert, server_cert_pem=pki.server.cert_pem,
                                             server_key_pem=pki.server.key_pem, scratch=tmp / "double",
                                             ref=SHARED_REF / "dmp") as double:
        config = demo_config(
            data_dir=str(tmp / "var"),
            smtp=SmtpConfig(host=smtp.host, port=smtp.port, timeout=10,
                            tls=TlsFiles(cafile=str(smtp.cafile), certfile=str(smtp.client_pem))),
            dmp=DmpConfig(enabled=True, discrete_feed=True, base_url=double.base_url,
                          homologation_number="BENCH", **write_pki(pki, tmp / "pki")))
        import_directory(DIRECTORY, db_path=config.directory_path)
        rt = open_runtime(config)
        store, step = rt.store, rt.pipeline._dmp  # the bench swaps the step's limiter
        assert step is not None
        client = step.client
        ceiling = client.limiter
        client.limiter = RateLimiter(1e6)  # rows 1-2: the wiring's cost, not the DMP's ceiling
        fed, alone, limited = _reports(rt, 0, n), _reports(rt, n, n), _reports(rt, 2 * n, 11)
        email = store.email(fed[0]) or b""
        print(f"{n} reports per row; a stored e-mail of {len(email):,} bytes; "
              f"CDA {len(cda_from_email(email, report_id=fed[0])):,} bytes\n")
        print("| what | median | rate |\n|---|---|---|")
        print(_row("read back: cda_from_email (MIME, base64, zip)", _timed(
            lambda: cda_from_email(store.email(fed[0]) or b"", report_id=fed[0]), 200)))
        print(_row("baseline: store.email() alone", _timed(lambda: store.email(fed[0]), 200)))

        rows = {r.report_id: r for r in store.dmp_due("9999")}
        feed = _timed_each([lambda r=rows[rid]: rt.pipeline.feed_dmp(r) for rid in fed])  # type: ignore[misc]
        docs = []
        for rid in alone:
            row = store.report(rid)
            assert row is not None
            report = rt.pipeline._loader.load(row, rt.pipeline.settings.parse)
            ids = store.document_ids(rid)
            assert ids is not None
            docs.append(DmpDocument(cda=cda_from_email(store.email(rid) or b"", report_id=rid), report=report,
                                    ids=ids, lab=rt.pipeline.settings.lab))
        submit = _timed_each([lambda d=d: client.submit(d) for d in docs])  # type: ignore[misc]
        print(_row("one feed: Pipeline.feed_dmp (store, read-back, TD2.1, outcome + Z01)", feed))
        print(_row("baseline: DmpClient.submit alone (TD2.1)", submit))
        client.limiter = ceiling
        rows = {r.report_id: r for r in store.dmp_due("9999")}
        start = time.perf_counter()
        for rid in limited:
            rt.pipeline.feed_dmp(rows[rid])
        elapsed = time.perf_counter() - start
        print(f"| 11 feeds behind the DMP's limiter (5/s): {elapsed:.2f} s | {elapsed / 11 * 1000:.0f} ms | "
              f"{11 / elapsed:.1f}/s |")
        assert len(double.entries) == 2 * n + 11
        rt.close()


def _timed_each(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


if __name__ == "__main__":
    main()
