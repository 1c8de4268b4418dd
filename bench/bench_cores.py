"""Every core (issue 16): end to end and the offline build with the builds on worker processes, beside the
one-core figures and the transport-only rate measured in the same run.

    python bench/bench_cores.py [--reports 400] [--runs 3] [--rate 50] [--latency-seconds 20] [--offline 300]

One core: the connector pinned to CPU 0, builds in its own process (validation.workers 1), the SMTP
server pinned to CPU 1 (as bench_e2e.py). Every core: the connector and its two build workers on both
CPUs (validation.workers 2), the same server. The gate runs the kit's XSD, as when the issue's bars were
set; one more every-core run has the gate in mode full (the six schematrons too), as production runs.
Offline: `connector build` of N 20-result reports in process vs on the workers,
start-up (worker spawn) excluded. Medians of interleaved runs. Writes bench/results-cores.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _common import ROOT, SmtpSinkProcess, bench_config, oru, quiet_logs
from bench_e2e import end_to_end, latency

RESULTS = ROOT / "bench" / "results-cores.md"
ALL = set(range(os.cpu_count() or 1))


def offline_rate(n: int, *, parallel: bool) -> float:
    """Reports/s of build_files on n one-report files, the worker start-up excluded (gate opened first)."""
    from connector.ops.offline import _OfflineBuild, offline_gate

    with tempfile.TemporaryDirectory(prefix="bench-cores-") as tmp:
        base = Path(tmp)
        inputs = []
        for i in range(n):
            path = base / f"in{i}.hl7"
            path.write_bytes(oru(i))
            inputs.append(path)
        config = bench_config(base, None, workers=2 if parallel else 1)
        with offline_gate(config, None, parallel=parallel) as gate:
            build = _OfflineBuild(base / "out", config, gate, dmp=False)
            start = time.perf_counter()
            results = build.run(inputs, None)
            elapsed = time.perf_counter() - start
        assert len(results.built) == n and not results.failures, results.failures[:3]
        return n / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--offline", type=int, default=300)
    args = parser.parse_args()
    quiet_logs()
    one: list[float] = []
    every: list[float] = []
    gated: list[float] = []  # every core, the gate in mode full (XSD + six schematrons): issue 12's bar
    transport: list[float] = []
    lat_one: list[dict[str, float]] = []
    lat_every: list[dict[str, float]] = []
    off_one: list[float] = []
    off_every: list[float] = []
    load = os.getloadavg()[0]
    with SmtpSinkProcess(cpu=1) as server:
        for _ in range(args.runs):
            os.sched_setaffinity(0, {0})
            r1 = end_to_end(server, args.reports, workers=1)
            one.append(float(r1["e2e_rate"]))  # type: ignore[arg-type]
            transport.append(float(r1["transport_rate"]))  # type: ignore[arg-type]
            os.sched_setaffinity(0, ALL)
            r2 = end_to_end(server, args.reports, workers=2)
            every.append(float(r2["e2e_rate"]))  # type: ignore[arg-type]
            r3 = end_to_end(server, args.reports, workers=2, schematron=True)
            gated.append(float(r3["e2e_rate"]))  # type: ignore[arg-type]
        os.sched_setaffinity(0, {0})
        lat_one.append(latency(server, args.rate, args.latency_seconds, workers=1))
        os.sched_setaffinity(0, ALL)
        lat_every.append(latency(server, args.rate, args.latency_seconds, workers=2))
    for _ in range(args.runs):
        os.sched_setaffinity(0, {0})
        off_one.append(offline_rate(args.offline, parallel=False))
        os.sched_setaffinity(0, ALL)
        off_every.append(offline_rate(args.offline, parallel=True))
    med = statistics.median

    def runs(xs: list[float], fmt: str = ".1f") -> str:
        return "runs " + ", ".join(format(x, fmt) for x in xs)

    def lat(r: dict[str, float]) -> str:
        return f"p50 {r['p50']:.0f} ms, p99 {r['p99']:.0f} ms"

    rows = [
        ("end to end, every core (2 build workers)", f"{med(every):.1f} reports/s", runs(every)),
        ("end to end, one core (builds in process)", f"{med(one):.1f} reports/s", runs(one)),
        ("  every core / one core", f"{med(every) / med(one):.2f}x", "bar >= 1.7x"),
        ("end to end, every core, gate full (XSD + 6 schematrons)", f"{med(gated):.1f} reports/s",
         runs(gated) + "; issue 12 bar >= 20"),
        ("transport only (same e-mails, same server)", f"{med(transport):.0f} msg/s", ""),
        ("  every core / transport", f"{med(every) / med(transport):.2f}", "bar >= 0.35"),
        ("  one core / transport", f"{med(one) / med(transport):.2f}", ""),
        (f"drop -> 250 at {args.rate:g}/s offered, every core", lat(lat_every[0]),
         f"achieved {lat_every[0]['achieved']:.1f}/s; bar p99 < 100 ms"),
        (f"drop -> 250 at {args.rate:g}/s offered, one core", lat(lat_one[0]),
         f"achieved {lat_one[0]['achieved']:.1f}/s"),
        (f"offline build of {args.offline} reports, every core", f"{med(off_every):.0f} reports/s",
         runs(off_every, ".0f") + "; bar >= 150"),
        (f"offline build of {args.offline} reports, one core", f"{med(off_one):.0f} reports/s",
         runs(off_one, ".0f")),
    ]
    width = max(len(r[0]) for r in rows)
    out = ["# Every core (`python bench/bench_cores.py`)", "",
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} CPUs; load average at start "
           f"{load:.1f} (other work on the machine slows every column alike); {args.reports} reports per e2e run, "
           f"{args.runs} interleaved runs, medians.", "",
           f"| {'measure':<{width}} | value | note |", f"|{'-' * (width + 2)}|---|---|"]
    out += [f"| {a:<{width}} | {b} | {c} |" for a, b, c in rows]
    RESULTS.write_text("\n".join(out) + "\n", encoding="utf-8")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
