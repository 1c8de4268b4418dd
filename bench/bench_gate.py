"""The validation gate's throughput: 20-result reports per second, steady state, compilation excluded.

Three ways of checking the same documents, measured in the same run, in interleaved rounds
(the machine is shared: medians of the rounds are reported):

- gate on: ``ValidationGate`` FULL, a pool of ``--workers`` processes (default 2), as many
  documents in flight as workers (``check_many``); XSD + the six rewritten schematrons;
- gate off: the XSD only (``ValidationGate`` XSD, in process) — what the pipeline does today;
- the old serial path: XSD + ``SchematronValidator`` (the official stylesheets), one document
  after the other in one process — what ``validation.schematron: true`` did before the gate.

The documents are built like the service builds them: the 20-OBX ORU^R01 of bench/_common.py
(9 orders, its PDF/A copy embedded), parsed, mapped and built by ``connector build``; each one
distinct. Target: ≥ 20 reports/s with the gate on, on the 2-core machine.

    python bench/bench_gate.py                         # ≈ 3 min after the first compilation; writes results-gate.md
    python bench/bench_gate.py --rounds 1 --seconds 3  # smoke
    python bench/bench_gate.py --differential 3000     # also the differential run (≈ 1 h on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import ROOT, oru

from connector.config.defaults import demo_config
from connector.ops.offline import build_files
from connector.validation import AnsKit, SchematronValidator, ValidationGate, ValidationMode, XsdValidator
from tests.support.paths import ans_kit_or_none as default_kit_dir

BAR = 20.0  # reports/s with the gate on
RESULTS = ROOT / "bench" / "results-gate.md"


def documents(count: int) -> list[bytes]:
    """``count`` distinct CR-BIO documents built from the bench ORU, as `connector build` writes them."""
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as scratch:
        inputs = []
        for i in range(count):
            path = Path(scratch) / f"{i:04d}.hl7"
            path.write_bytes(oru(i))
            inputs.append(path)
        results = build_files(inputs, Path(scratch) / "out", demo_config())
        assert not results.failures, results.failures
        return [(folder / "cda.xml").read_bytes() for _, folder in results.built]


def rate(check: Callable[[list[bytes]], None], docs: list[bytes], seconds: float, batch: int) -> float:
    """Documents per second over at least ``seconds``, in batches of ``batch`` (cycling through ``docs``)."""
    done, start, i = 0, time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds or done == 0:
        chunk = [docs[(i + k) % len(docs)] for k in range(batch)]
        i += batch
        check(chunk)
        done += len(chunk)
    return done / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    load = os.getloadavg()
    from importlib.metadata import version

    return (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {cpu}, {os.cpu_count()} vCPU "
            f"({platform.machine()}, Linux {platform.release()}); Python {platform.python_version()}, "
            f"saxonche {version('saxonche')}, lxml {version('lxml')}; checkout {commit} + working tree; "
            f"load average at start {load[0]:.1f} (other work on the machine slows every column alike)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--documents", type=int, default=40, help="distinct documents, cycled")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="per round, gate on and gate off")
    parser.add_argument("--serial-docs", type=int, default=8, help="per round, the old serial path")
    parser.add_argument("--differential", type=int, default=0, help="also compare N generated documents")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write results-gate.md")
    args = parser.parse_args()
    kit_dir = default_kit_dir()
    if kit_dir is None:
        sys.exit("ANS kit absent: ../shared/ref/cda/testcontenucda")
    kit = AnsKit.at(kit_dir)
    header = machine()
    docs = documents(args.documents)
    print(f"{len(docs)} documents, {statistics.mean(map(len, docs)) / 1024:.0f} KB each", flush=True)

    t = time.perf_counter()
    official = SchematronValidator(kit.root)
    serial_load = time.perf_counter() - t
    xsd = XsdValidator(kit.xsd_path)
    t = time.perf_counter()
    gate = ValidationGate.open(mode=ValidationMode.FULL, kit=kit, workers=args.workers)
    gate_load = time.perf_counter() - t
    xsd_gate = ValidationGate.open(mode=ValidationMode.XSD, kit=kit)
    try:
        for verdict in gate.check_many(docs):  # warm-up, and every document must pass
            assert verdict.passed, verdict.problems
        assert all(xsd.errors(d) == [] and official.failures(d) == [] for d in docs[:2])

        def gate_on(chunk: list[bytes]) -> None:
            assert all(v.passed for v in gate.check_many(chunk))

        def gate_one_caller(chunk: list[bytes]) -> None:
            assert all(gate.check(d).passed for d in chunk)

        def gate_off(chunk: list[bytes]) -> None:
            assert all(xsd_gate.check(d).passed for d in chunk)

        def serial(chunk: list[bytes]) -> None:
            assert all(not xsd.errors(d) and not official.failures(d) for d in chunk)

        rates: dict[str, list[float]] = {"on": [], "one": [], "off": [], "serial": []}
        pids = [w.pid for w in gate.status().workers]
        cpu_ms: list[float] = []  # CPU of the workers and of this process per document, gate on
        loads: list[float] = []
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            before = sum(cpu_seconds(pid) for pid in pids) + time.process_time()
            counted = [0]

            def gate_on_counted(chunk: list[bytes], counted: list[int] = counted) -> None:
                gate_on(chunk)
                counted[0] += len(chunk)

            rates["on"].append(rate(gate_on_counted, docs, args.seconds, 8 * args.workers))
            cpu_ms.append(1000 * (sum(cpu_seconds(pid) for pid in pids) + time.process_time() - before) / counted[0])
            rates["off"].append(rate(gate_off, docs, args.seconds / 3, 50))
            rates["one"].append(rate(gate_one_caller, docs, args.seconds / 3, 4))
            rates["serial"].append(rate(serial, docs, 0.0, args.serial_docs))
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items()), flush=True)
        workers = gate.status().workers
        memory = [(w.slot, w.rss_mb, vm_hwm_mb(w.pid)) for w in workers]
    finally:
        gate.close()
        xsd_gate.close()
    summary = None
    if args.differential:
        from tests.validation.differential import run
        from tests.validation.support import cache_dir

        summary = run(args.differential, seed=20261203, kit_root=kit.root, cache=cache_dir(), workers=args.workers)
    text = report(header, docs, rates, memory, gate_load, serial_load, args, summary, cpu_ms, loads)
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
    return 0 if statistics.median(rates["on"]) >= BAR else 1


def report(header: str, docs: list[bytes], rates: dict[str, list[float]], memory: list[tuple[int, float, float]],
           gate_load: float, serial_load: float, args: argparse.Namespace, summary: object, cpu_ms: list[float],
           loads: list[float]) -> str:
    med = {k: statistics.median(v) for k, v in rates.items()}
    cpu = statistics.median(cpu_ms)
    cores = len(os.sched_getaffinity(0))
    runs = {k: ", ".join(f"{x:.1f}" for x in v) for k, v in rates.items()}
    rows = [
        ("measure", "value", "note"),
        (f"gate on: XSD + 6 schematrons, pool of {args.workers}, {args.workers} documents in flight",
         f"{med['on']:.1f} reports/s", f"bar ≥ {BAR:.0f}: {'met' if med['on'] >= BAR else 'NOT met'}; "
                                     f"rounds {runs['on']}"),
        ("  the same, one caller (one document at a time)", f"{med['one']:.1f} reports/s",
         f"{1000 / med['one']:.0f} ms per document; rounds {runs['one']}"),
        ("gate off: XSD only, in process (baseline)", f"{med['off']:.0f} reports/s", f"rounds {runs['off']}"),
        ("old serial path: XSD + official schematrons, one process (baseline)", f"{med['serial']:.2f} reports/s",
         f"{1000 / med['serial']:.0f} ms per document; rounds {runs['serial']}"),
        ("  CPU per document, gate on (workers + this process)", f"{cpu:.0f} ms",
         f"so {cores} free cores check {cores * 1000 / cpu:.0f} reports/s; load average before each round: "
         + ", ".join(f"{x:.1f}" for x in loads)),
        ("gate on / old serial path", f"{med['on'] / med['serial']:.0f}×", ""),
        ("start-up (excluded above)", f"gate {gate_load:.0f} s, serial {serial_load:.0f} s",
         "workers compile in parallel; stylesheets cached on disk after the first run"),
        *[(f"  worker {slot} memory", f"{rss:.0f} MB RSS", f"peak {hwm:.0f} MB") for slot, rss, hwm in memory],
    ]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["| " + " | ".join(c.ljust(width[i]) for i, c in enumerate(r)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in width) + "|")
    out = [
        "# Validation gate benchmark (`python bench/bench_gate.py`)", "", header, "",
        f"{len(docs)} distinct documents ({statistics.mean(map(len, docs)) / 1024:.0f} KB: 20 results in 9 orders "
        f"and the PDF/A copy), cycled; {args.rounds} interleaved rounds, medians.", "", *lines, "",
    ]
    if summary is not None:
        out += ["## Differential run (`python -m tests.validation.differential`)", "", "```",
                *summary.lines(), "```", ""]  # type: ignore[attr-defined]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
