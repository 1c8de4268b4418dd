"""End to end on one core: 20-OBX ORU → pipeline.receive → build (map, PDF/A, CDA + XSD, XDM, e-mail)
→ SMTP 250 from a local STARTTLS + client-certificate server, beside parse-only and transport-only
baselines measured in the same run; latency at an offered load; RSS with a large backlog; schematron cost.

    python bench/bench_e2e.py [--reports 600] [--e2e-runs 3] [--rates 50,20] [--latency-seconds 20]
                              [--backlogs 1000,10000,100000] [--rss-seconds 15] [--profile]

The connector runs in this process, pinned to CPU 0 (os.sched_setaffinity). The SMTP server is
connector.demo.server.DemoSmtpServer (aiosmtpd, STARTTLS required, client certificate checked,
DSN advertised) with a counting handler, in a separate process pinned to CPU 1, so it does not share
the connector's core. The store is the real one (SQLite WAL, synchronous=FULL) in a temp dir on the
same disk as the checkout. Logs are the production JSON lines, written to /dev/null.
Writes the table to bench/results.md. Bars: ≥ 50 reports/s end to end; RSS within 20 % from the
smallest to the largest backlog.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import email
import email.policy
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _common import (
    OBX_COUNT,
    ROOT,
    SmtpSinkProcess,
    bench_config,
    open_bench_runtime,
    oru,
    peak_rss_mb,
    percentile,
    quiet_logs,
    rss_mb,
)

BAR_REPORTS_PER_S = 50
BAR_RSS_GROWTH = 0.20
CONNECTOR_CPU, SERVER_CPU = 0, 1
WARMUP_REPORTS = 10  # first PDF fonts, XSD, SMTP session and imports are paid before the clock starts
WARMUP_OFFSET = 10_000_000  # warm-up messages get ids no measured message uses
SCHEMATRON_DOCS = 5  # 0.5 s each: enough for a mean


def instrument(pipeline, timings: dict[str, float],  # type: ignore[no-untyped-def]
               build_profiler: cProfile.Profile | None = None) -> None:
    """Wrap build / send / store.due on this instance to split the end-to-end time by stage.

    Builds run in a worker thread (Pipeline.step), which cProfile on the loop's thread does not see:
    ``build_profiler`` is switched on around each build, in the thread that runs it.
    """
    # The step calls the build stage (``pipeline._build``, with its budget's ticket), not ``pipeline.build``.
    build, send, due = pipeline._build, pipeline.send, pipeline.store.due

    def timed_build(row, *args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        if build_profiler:
            build_profiler.enable()
        try:
            return build(row, *args, **kwargs)
        finally:
            if build_profiler:
                build_profiler.disable()
            timings["build"] += time.perf_counter() - t

    async def timed_send(row):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return await send(row)
        finally:
            timings["send"] += time.perf_counter() - t

    def timed_due(*a, **kw):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return due(*a, **kw)
        finally:
            timings["store.due"] += time.perf_counter() - t

    pipeline._build, pipeline.send, pipeline.store.due = timed_build, timed_send, timed_due
    db = pipeline.store.db
    transaction = db.transaction

    def counted_transaction():  # type: ignore[no-untyped-def]
        timings["commits"] += 1
        return transaction()

    db.transaction = counted_transaction


def commit_ms(directory: Path, count: int = 200) -> float:
    """Baseline: one small committed write on this disk with the store's settings (WAL, synchronous=FULL)."""
    from connector.store.db import Database

    db = Database(directory / "commit-baseline.sqlite")
    try:
        with db.transaction() as c:
            c.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        start = time.perf_counter()
        for i in range(count):
            with db.transaction() as c:
                c.execute("INSERT INTO t VALUES (?)", (i,))
        return 1000 * (time.perf_counter() - start) / count
    finally:
        db.close()


def end_to_end(server, n: int, profile: bool = False, workers: int = 1,  # type: ignore[no-untyped-def]
               schematron: bool = False) -> dict[str, object]:
    """N distinct reports received then stepped to SENT; parse-only and transport-only on the same data.

    ``schematron``: the gate in mode full (XSD + the six schematrons) instead of the XSD only."""
    from connector.config.settings import smtp_settings
    from connector.parse import parse_message, split_messages
    from connector.send import SmtpClient, create_ssl_context

    messages = [oru(i) for i in range(n)]
    out: dict[str, object] = {"message_kb": len(messages[0]) / 1024}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        rt = open_bench_runtime(bench_config(Path(tmp), server, workers=workers, schematron=schematron))
        pipeline = rt.pipeline
        try:
            out["commit_ms"] = commit_ms(Path(tmp))
            timings = {"receive": 0.0, "build": 0.0, "send": 0.0, "store.due": 0.0, "commits": 0.0}
            profiler = cProfile.Profile() if profile else None
            build_profiler = cProfile.Profile() if profile else None
            instrument(pipeline, timings, build_profiler)
            received: list[str] = []

            async def run() -> float:
                for i in range(WARMUP_REPORTS):
                    pipeline.receive(oru(WARMUP_OFFSET + i), source=f"warm{i}.hl7")
                await _drain_keep(pipeline)
                for key in timings:
                    timings[key] = 0.0
                if profiler:
                    profiler.enable()
                start, cpu = time.perf_counter(), time.process_time()
                for i, data in enumerate(messages):
                    t = time.perf_counter()
                    received.extend(pipeline.receive(data, source=f"bench{i}.hl7").reports)
                    timings["receive"] += time.perf_counter() - t
                await _drain_keep(pipeline)
                elapsed = time.perf_counter() - start
                out["e2e_cpu_s"] = time.process_time() - cpu
                await pipeline.close()
                return elapsed

            elapsed = asyncio.run(run())
            if profiler:
                profiler.disable()
                out["profile"] = (profiler, build_profiler)
            sent = [rid for rid in received if (row := rt.store.report(rid)) and row.state.value == "sent"]
            out.update(reports=n, sent=len(sent), e2e_s=elapsed, e2e_rate=n / elapsed, stages=timings)

            rows = [rt.store.report(rid) for rid in sent]
            mails = [(rt.store.email(r.report_id) or b"", r.envid,
                      [x.address for x in rt.store.recipients(r.report_id)]) for r in rows if r]
            out["email_kb"] = sum(len(m) for m, _, _ in mails) / max(1, len(mails)) / 1024
            out["cdas"] = [_cda_of(m) for m, _, _ in mails[:SCHEMATRON_DOCS]]

            start = time.perf_counter()
            for data in messages:
                for index, message in enumerate(split_messages(data)):
                    parse_message(message, index=index, settings=pipeline.settings.parse)
            out["parse_rate"] = n / (time.perf_counter() - start)

            async def transport() -> float:
                smtp = smtp_settings(rt.config)
                async with SmtpClient(smtp, create_ssl_context(smtp.tls, production=False)) as client:
                    sender = pipeline.settings.lab.mailbox
                    m, envid, rcpt = mails[0]
                    await client.submit(m, sender=sender, recipients=rcpt, envid=envid)  # session up before the clock
                    t, cpu = time.perf_counter(), time.process_time()
                    for m, envid, rcpt in mails:
                        await client.submit(m, sender=sender, recipients=rcpt, envid=envid)
                    out["transport_cpu_s"] = time.process_time() - cpu
                    return time.perf_counter() - t

            out["transport_rate"] = len(mails) / asyncio.run(transport())
        finally:
            rt.close()
    return out


async def _drain_keep(pipeline) -> None:  # type: ignore[no-untyped-def]
    """Drain without closing the SMTP session (demo.run.drain closes it), as the service's loop does."""
    while await pipeline.step():
        pass


def _cda_of(mail: bytes) -> bytes:
    msg = email.message_from_bytes(mail, policy=email.policy.default)
    part = next(p for p in msg.iter_attachments() if p.get_content_type() == "application/zip")
    with zipfile.ZipFile(io.BytesIO(part.get_content())) as z:
        return z.read("IHE_XDM/SUBSET01/DOC0001.XML")


def latency(server, rate: float, seconds: float, workers: int = 1) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Offered load: an arrival loop calls receive at ``rate``/s while connector.service.Service runs."""
    from connector.demo.run import drain
    from connector.service import Service

    count = int(rate * seconds)
    messages = [oru(20_000_000 + i) for i in range(count)]
    with tempfile.TemporaryDirectory(prefix="bench-lat-") as tmp:
        rt = open_bench_runtime(bench_config(Path(tmp), server, workers=workers))
        try:
            for i in range(WARMUP_REPORTS):
                rt.pipeline.receive(oru(WARMUP_OFFSET + 100 + i), source=f"warm{i}.hl7")
            asyncio.run(drain(rt.pipeline))  # closes the SMTP session: the service opens its own
            return asyncio.run(_offered_load(Service(rt), messages, rate))
        finally:
            rt.close()


async def _offered_load(service, messages: list[bytes], rate: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    pipeline, store = service.runtime.pipeline, service.runtime.store
    dropped: dict[str, float] = {}
    answered: dict[str, float] = {}
    receive_ms: list[float] = []
    lateness_ms: list[float] = []
    mark_sent = store.mark_sent

    def stamped_mark_sent(report_id: str, **kw):  # type: ignore[no-untyped-def]
        answered[report_id] = time.perf_counter()  # called right after the 250
        return mark_sent(report_id, **kw)

    store.mark_sent = stamped_mark_sent
    runner = asyncio.create_task(service.run())
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i, data in enumerate(messages):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        t = time.perf_counter()
        lateness_ms.append(1000 * (t - due))
        receipt = pipeline.receive(data, source=f"lat{i}.hl7")
        receive_ms.append(1000 * (time.perf_counter() - t))
        for rid in receipt.reports:
            dropped[rid] = due  # from the scheduled drop: a stalled loop counts (no coordinated omission)
        service.wake.set()
    deadline = time.perf_counter() + 60
    while len(answered.keys() & dropped.keys()) < len(dropped) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    end = time.perf_counter()
    service.stop.set()
    await runner
    lat = [1000 * (answered[r] - dropped[r]) for r in dropped if r in answered]
    return {"offered": rate, "reports": len(dropped), "sent": len(lat), "achieved": len(lat) / (end - start),
            "p50": percentile(lat, 50), "p99": percentile(lat, 99), "max": max(lat, default=float("nan")),
            "receive_p99": percentile(receive_ms, 99), "late_p99": percentile(lateness_ms, 99)}


# ------------------------------------------------------------------ RSS with a backlog (child processes)


def backlog_child(mode: str, directory: str, n: int, seconds: float) -> dict[str, float]:
    """``gen``: N received + parsed inputs via the Store API. ``run``: the work loop over them, no SMTP."""
    os.sched_setaffinity(0, {CONNECTOR_CPU})
    data_dir = Path(directory)
    config = bench_config(data_dir, None)
    if mode == "gen":
        from connector.config.settings import parse_settings
        from connector.parse import (
            header_of,
            parse_message,
            report_id_for,
            split_messages,
        )
        from connector.pipeline import series_key
        from connector.store import NewReport, Store

        check = parse_message(split_messages(oru(0))[0], settings=parse_settings(config))[0]
        assert _series(0) == series_key(check), "the bench's series key must be the pipeline's"
        store = Store(config.store_path)
        start = time.perf_counter()
        for i in range(n):
            data = oru(i)
            header = header_of(data)
            record = store.record_input(data, source=f"backlog{i}.hl7")
            store.record_split(
                record.input_id,
                [
                    NewReport(
                        report_id=report_id_for(header, 0),
                        message_index=0,
                        patient_index=0,
                        control_id=header.control_id,
                        series_key=_series(i),
                    )
                ],
                [],
            )
        store.close()
        return {"gen_s": time.perf_counter() - start}
    quiet_logs()
    rt = open_bench_runtime(config)  # with_smtp False: no SMTP configured, built reports wait
    try:
        from connector.store import utcnow

        t = time.perf_counter()
        for _ in range(5):
            rt.store.due(utcnow())
        due_ms = 1000 * (time.perf_counter() - t) / 5
        start_rss = rss_mb()
        samples: list[float] = []

        async def loop() -> int:
            moved, end = 0, time.perf_counter() + seconds
            while time.perf_counter() < end:
                moved += len(await rt.pipeline.step())
                samples.append(rss_mb())
            return moved

        moved = asyncio.run(loop())
        counts = rt.store.counts()
        return {"waiting": n, "start_rss": start_rss, "max_rss": max(samples), "peak_rss": peak_rss_mb(),
                "steps_moved": moved, "due_ms": due_ms, "built": counts.get("waiting", 0) + counts.get("built", 0),
                "db_mb": config.store_path.stat().st_size / 2**20}
    finally:
        rt.close()


def _series(i: int) -> str:
    """build.series_key for oru(i) without parsing it: facility | first order's filler number | IPP."""
    import hashlib

    basis = f"LABO|DOSBENCH{i:08d}NFS|IPP{i:08d}"
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def backlog(n: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        result: dict[str, float] = {}
        for mode in ("gen", "run"):
            proc = subprocess.run([sys.executable, __file__, "--child", mode, tmp, str(n), str(seconds)],
                                  check=True, capture_output=True, text=True)
            result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        return result


# ------------------------------------------------------------------ schematron gate


def schematron_cost(cdas: list[bytes], server) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from connector.cda import (
        SchematronValidator,
        XsdValidator,
    )
    from tests.support.paths import ans_kit_or_none as default_kit_dir
    from tests.support.paths import cda_xsd_or_none as default_xsd_path

    kit, xsd_path = default_kit_dir(), default_xsd_path()
    if kit is None or xsd_path is None:
        return {}
    xsd = XsdValidator(xsd_path)
    t = time.perf_counter()
    validator = SchematronValidator(kit)
    load_s = time.perf_counter() - t
    validator.failures(cdas[0])  # first run loads the value sets
    t = time.perf_counter()
    for _ in range(20):
        for doc in cdas:
            assert not xsd.errors(doc)
    xsd_ms = 1000 * (time.perf_counter() - t) / (20 * len(cdas))
    t = time.perf_counter()
    failures = sum(len(validator.failures(doc)) for doc in cdas)
    sch_ms = 1000 * (time.perf_counter() - t) / len(cdas)
    return {"xsd_ms": xsd_ms, "schematron_ms": sch_ms, "load_s": load_s, "failures": failures,
            "docs": len(cdas), "cda_kb": len(cdas[0]) / 1024}


# ------------------------------------------------------------------ report


def machine() -> str:
    import platform

    import aiosmtplib
    import lxml

    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True, check=False).stdout.strip()
    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}, {os.cpu_count()} vCPU "
            f"({platform.machine()}, {platform.system()} {platform.release()}); Python {platform.python_version()}, "
            f"lxml {lxml.__version__}, aiosmtplib {aiosmtplib.__version__}; checkout {commit} + working tree")


def table(e2e: dict, lats: list[dict], rss: list[dict], sch: dict, server_cpu: int | None) -> str:  # type: ignore[type-arg]
    rows = [("measure", "value", "bar / note")]
    ok_rate = e2e["e2e_rate"] >= BAR_REPORTS_PER_S
    rates = e2e["all_rates"]  # every end-to-end run; e2e is the median one
    st = e2e["stages"]
    n = e2e["reports"]
    rows += [
        (f"end to end, {OBX_COUNT}-OBX ORU → SMTP 250, one core",
         f"{e2e['e2e_rate']:.1f} reports/s ({1000 / e2e['e2e_rate']:.1f} ms/report, {e2e['sent']}/{n} sent)",
         f"≥ {BAR_REPORTS_PER_S}: {'met' if ok_rate else 'NOT met'}"),
        ("  runs (the median above, and its figures below)",
         ", ".join(f"{rate:.1f}" for rate in rates) + " reports/s",
         f"lowest run: {'met' if min(rates) >= BAR_REPORTS_PER_S else 'NOT met'}"),
        ("  connector CPU time per report (process_time)", f"{1000 * e2e['e2e_cpu_s'] / n:.1f} ms",
         f"core busy {e2e['e2e_cpu_s'] / e2e['e2e_s']:.0%}: the rest is waiting on fsync and SMTP replies"),
        ("  receive (commit + split/parse), on the loop", f"{1000 * st['receive'] / n:.2f} ms/report", ""),
        ("  build (reparse, map, PDF/A, CDA+XSD, XDM, e-mail, commit), wall",
         f"{1000 * st['build'] / n:.2f} ms/report", "in a worker thread since 904481f: overlaps sends"),
        ("  send (SMTP session reused, 2 commits), wall", f"{1000 * st['send'] / n:.2f} ms/report", "overlaps builds"),
        ("  store.due (claim queries)", f"{1000 * st['store.due'] / n:.2f} ms/report", ""),
        ("  store commits per report (WAL, synchronous=FULL)", f"{st['commits'] / n:.1f}",
         f"baseline: one small commit on this disk {e2e['commit_ms']:.2f} ms"),
        ("baseline: parse only (split_messages + parse_message)", f"{e2e['parse_rate']:.0f} reports/s", ""),
        (f"baseline: transport only (same {e2e['email_kb']:.0f} KB e-mails, SmtpClient)",
         f"{e2e['transport_rate']:.0f} reports/s", ""),
        ("  transport-only connector CPU per message", f"{1000 * e2e['transport_cpu_s'] / e2e['sent']:.1f} ms",
         f"core busy {e2e['transport_cpu_s'] * e2e['transport_rate'] / e2e['sent']:.0%}"),
        ("ratio end to end / transport only", f"{e2e['e2e_rate'] / e2e['transport_rate']:.3f}", ""),
    ]
    for lat in lats:
        rows += [
            (f"latency drop → 250 at {lat['offered']:.0f}/s offered ({lat['reports']} reports, Service)",
             f"p50 {lat['p50']:.0f} ms, p99 {lat['p99']:.0f} ms, max {lat['max']:.0f} ms",
             f"{lat['sent']}/{lat['reports']} sent, {lat['achieved']:.1f}/s achieved"),
            ("  receive() call (commit before ACK), p99", f"{lat['receive_p99']:.1f} ms",
             f"arrival loop late by p99 {lat['late_p99']:.0f} ms (event loop busy building)"),
        ]
    base = rss[0]["max_rss"] if rss else 0.0
    for r in rss:
        growth = r["max_rss"] / base - 1 if base else 0.0
        rows.append((f"RSS, {r['waiting']:,} reports waiting, work loop running",
                     f"max {r['max_rss']:.0f} MB (start {r['start_rss']:.0f}, peak {r['peak_rss']:.0f})",
                     (f"{growth:+.1%} vs {rss[0]['waiting']:,}; {r['steps_moved']} steps moved; "
                      f"store.due {r['due_ms']:.1f} ms; db {r['db_mb']:.0f} MB")))
    if rss:
        growth = rss[-1]["max_rss"] / base - 1
        rows.append(("RSS growth smallest → largest backlog", f"{growth:+.1%}",
                     f"within {BAR_RSS_GROWTH:.0%}: {'met' if abs(growth) <= BAR_RSS_GROWTH else 'NOT met'}"))
    if sch:
        rows += [
            ("XSD check per document", f"{sch['xsd_ms']:.2f} ms", f"{sch['cda_kb']:.0f} KB CDA"),
            ("full schematron gate (6 ANS schematrons, saxonche) per document", f"{sch['schematron_ms']:.0f} ms",
             (f"{sch['schematron_ms'] / sch['xsd_ms']:.0f}× XSD; {sch['failures']} failures on {sch['docs']} docs; "
              f"validator load {sch['load_s']:.1f} s")),
            ("  → end-to-end ceiling with schematron on (one core)",
             f"{1000 / (1000 / e2e['e2e_rate'] + sch['schematron_ms']):.1f} reports/s",
             "computed: e2e ms + schematron ms"),
        ]
    where = f"own process on CPU {server_cpu}" if server_cpu is not None else "own process, SHARING the core"
    head = (f"Connector pinned to CPU {CONNECTOR_CPU}; SMTP server: DemoSmtpServer (aiosmtpd, STARTTLS, client cert) "
            f"in "
            f"{where}. Store: SQLite WAL, synchronous=FULL, on the checkout's disk. Message: {OBX_COUNT} OBX in "
            f"{len(__import__('_common').ORDERS)} orders, {e2e['message_kb']:.1f} KB.\n\n")
    lines = [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines.insert(1, "|---|---|---|")
    return head + "\n".join(lines) + "\n"


def print_profile(profilers: tuple[cProfile.Profile, cProfile.Profile], top: int = 25) -> None:
    titles = ("event loop thread (receive, claims, sends)", "build worker thread")
    for title, profiler in zip(titles, profilers, strict=True):
        stream = io.StringIO()
        stats = pstats.Stats(profiler, stream=stream)
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"===== {title}\n{stream.getvalue()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--e2e-runs", type=int, default=3, help="end-to-end runs; the table shows the median")
    parser.add_argument("--rates", default="50,20", help="offered loads (reports/s) for the latency runs")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--backlogs", default="1000,10000,100000")
    parser.add_argument("--rss-seconds", type=float, default=15.0)
    parser.add_argument("--profile", action="store_true", help="only profile the end-to-end path (cProfile)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "DIR", "N", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, directory, n, seconds = args.child
        print(json.dumps(backlog_child(mode, directory, int(n), float(seconds))))
        return 0

    server_cpu = SERVER_CPU if len(os.sched_getaffinity(0)) > SERVER_CPU else None
    with SmtpSinkProcess(cpu=server_cpu) as server:
        os.sched_setaffinity(0, {CONNECTOR_CPU})  # after the server started: it keeps its own CPU
        quiet_logs()
        if args.profile:
            result = end_to_end(server, args.reports, profile=True)
            print(f"{result['e2e_rate']:.1f} reports/s under cProfile")
            print_profile(result["profile"])  # type: ignore[arg-type]
            return 0
        t0 = time.perf_counter()
        # This VM's speed drifts by ±10 % over minutes: the table shows the median run, with all of them.
        runs = []
        for _ in range(args.e2e_runs):
            runs.append(end_to_end(server, args.reports))
            _progress(f"end to end: {runs[-1]['e2e_rate']:.1f} reports/s", t0)
        e2e = sorted(runs, key=lambda r: r["e2e_rate"])[len(runs) // 2]
        e2e["all_rates"] = [r["e2e_rate"] for r in runs]
        lats = []
        for rate in (float(x) for x in args.rates.split(",") if x):
            lats.append(latency(server, rate, args.latency_seconds))
            _progress(f"latency at {rate:g}/s: p99 {lats[-1]['p99']:.0f} ms", t0)
        rss = []
        for n in (int(x) for x in args.backlogs.split(",") if x):
            rss.append(backlog(n, args.rss_seconds))
            _progress(f"backlog {n}: max RSS {rss[-1]['max_rss']:.0f} MB (gen {rss[-1]['gen_s']:.0f} s)", t0)
        sch = schematron_cost(e2e["cdas"], server)  # type: ignore[arg-type]
        _progress("schematron done", t0)
    text = table(e2e, lats, rss, sch, server_cpu)
    print(text)
    out = ROOT / "bench" / "results.md"
    out.write_text(f"# End-to-end benchmark (`python bench/bench_e2e.py`)\n\n{machine()}\n\n{text}", encoding="utf-8")
    ok = e2e["e2e_rate"] >= BAR_REPORTS_PER_S and (not rss or rss[-1]["max_rss"] <= rss[0]["max_rss"] * 1.2)
    return 0 if ok else 1


def _progress(text: str, t0: float) -> None:
    print(f"[{time.perf_counter() - t0:6.1f} s] {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
