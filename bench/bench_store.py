"""The store on SQLite and on PostgreSQL (loopback), in the same run, on the same disk.

    python bench/bench_store.py [--commits 500] [--reports 300] [--out bench/results_store.md]

Measured, each on both engines through the store's own code (connector.store):
- one small committed write (an event row): commits/s; beside the floor of any durable commit on
  this disk, a 100-byte write + fsync of a plain file;
- the intake-to-built path of one report, as the pipeline commits it: record_input (a 20-OBX ORU)
  + record_split + document_identity + mark_built (a 67 KB e-mail), 4 commits: ms/report, reports/s;
- the same path from two and four writers at once (threads; on PostgreSQL each its own Store, as
  instances would be: concurrent commits share the server's WAL flushes, SQLite takes one at a time);
- claiming work: due() on SQLite (a read), claim_due() (SKIP LOCKED + lease, committed) then release()
  on PostgreSQL, 64 of 1,000 waiting.

PostgreSQL is a throwaway cluster (initdb) started by this script with the server's defaults (fsync on,
synchronous_commit on), its data folder on the same disk as the SQLite file (not /dev/shm). Needs the
server binaries (bash tests/install-servers.sh). Writes the table to --out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _common import ROOT, oru

from connector.model import Recipient
from connector.store import NewReport, Store, open_backend
from connector.store.migrations import migrate
from tests.support.postgres import PgCluster, _free_port, _server_user, find_bindir

EMAIL = os.urandom(67 * 1024)  # the size of a 20-OBX report's e-mail with its PDF/A and XDM zip
RECIPIENTS = [Recipient(address="dr.a@hopital.mssante.fr", kind="prescriber"),
              Recipient(address="dr.b@cabinet.mssante.fr", kind="copy")]


def fsync_floor_ms(folder: Path, count: int) -> float:
    path = folder / "fsync-floor"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        start = time.perf_counter()
        for _ in range(count):
            os.write(fd, b"x" * 100)
            os.fsync(fd)
        return 1000 * (time.perf_counter() - start) / count
    finally:
        os.close(fd)


def commit_ms(store: Store, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        with store.db.transaction() as c:
            c.execute("INSERT INTO events (report_id, at, event, detail) VALUES (?, ?, ?, ?)",
                      (f"bench-{i}", "2026-01-01T00:00:00.000+00:00", "bench.commit", ""))
    return 1000 * (time.perf_counter() - start) / count


def one_report(store: Store, i: int) -> None:
    """What the pipeline commits from an ORU's arrival to its built e-mail (4 transactions)."""
    data = oru(i)
    record = store.record_input(data, source=f"bench-{i}.hl7")
    report_id = f"SIL-LABO-BENCH{i:08d}-0"
    store.record_split(record.input_id, [NewReport(report_id=report_id, message_index=0, patient_index=0,
                                                   control_id=f"BENCH{i:08d}", series_key=f"order-{i}")], [])
    store.document_identity(report_id, oid_root="1.2.250.1.999.1", effective_time="20261120101500+0100",
                            corrects=False)
    store.mark_built(report_id, email=EMAIL, message_id=f"<{i}@bench>", envid=f"env{i}", recipients=RECIPIENTS)


def report_ms(stores: list[Store], count: int, offset: int) -> float:
    """ms per report, ``count`` reports shared by the stores' threads (one thread per store)."""
    share = count // len(stores)

    def work(k: int, store: Store) -> None:
        for i in range(share):
            one_report(store, offset + k * share + i)

    threads = [threading.Thread(target=work, args=(k, s)) for k, s in enumerate(stores)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 1000 * (time.perf_counter() - start) / (share * len(stores))


def claim_ms(store: Store, waiting: int, rounds: int, claim: Callable[[Store], object]) -> float:
    for i in range(waiting):
        record = store.record_input(f"claim-{i}".encode(), source="c")
        store.record_split(record.input_id, [NewReport(report_id=f"claim-{i:06d}", message_index=0, patient_index=0,
                                                       control_id=f"C{i}", series_key="")], [])
    start = time.perf_counter()
    for _ in range(rounds):
        claim(store)
    return 1000 * (time.perf_counter() - start) / rounds


def measure(label: str, new_location: Callable[[], Path | str], args: argparse.Namespace) -> dict[str, float]:
    """The four rows for one engine; each phase on a new, empty store."""
    store = Store(new_location())
    try:
        one_report(store, 99_000_000)  # warm-up: statements prepared, pool filled
        out = {"commit_ms": commit_ms(store, args.commits), "report_ms": report_ms([store], args.reports, 0)}
    finally:
        store.close()
    for writers in (2, 4):
        location = new_location()
        stores = [Store(location, instance=f"bench-{k}") for k in range(writers)]
        try:
            out[f"report{writers}_ms"] = report_ms(stores, args.reports, 10_000_000 * writers)
        finally:
            for s in stores:
                s.close()
    store = Store(new_location())
    try:
        if store.db.shared:
            ids = [f"claim-{i:06d}" for i in range(1000)]
            out["claim_ms"] = claim_ms(store, 1000, 50, lambda s: s.release(ids[:64]) if s.claim_due(
                "9999", limit=64) else None)
        else:
            out["claim_ms"] = claim_ms(store, 1000, 50, lambda s: s.due("9999", limit=64))
    finally:
        store.close()
    print(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in out.items()), file=sys.stderr)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--reports", type=int, default=300)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_store.md")
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL server binaries not found: bash tests/install-servers.sh", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-store-", dir=ROOT.parent if os.access(ROOT.parent, os.W_OK)
                                 else None))
    run_as = _server_user()
    pg_base = work / "pg"
    pg_base.mkdir(mode=0o700)
    if run_as:
        shutil.chown(pg_base, user=run_as)
        work.chmod(0o755)  # the server's user must reach its folder
    cluster = PgCluster(bindir=bindir, base=pg_base, port=_free_port(), run_as=run_as)
    try:
        cluster.init()
        cluster.start()
        floor = fsync_floor_ms(work, args.commits)
        counter = iter(range(1_000_000))
        sqlite = measure("sqlite", lambda: work / f"s{next(counter)}" / "connector.sqlite", args)

        def new_database() -> str:
            url = cluster.create_database()
            backend = open_backend(url)
            try:
                migrate(backend)  # as `connector store migrate` before the first start
            finally:
                backend.close()
            return url

        postgres = measure("postgresql", new_database, args)
        server = cluster.admin("SHOW server_version")[0][0]
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
    table = render(args, floor, sqlite, postgres, server)
    args.out.write_text(table, encoding="utf-8")
    print(table)
    return 0


def render(args: argparse.Namespace, floor: float, sqlite: dict[str, float], pg: dict[str, float],
           server: str) -> str:
    import psycopg

    def row(name: str, key: str, per: str, note: str = "") -> str:
        s, p = sqlite[key], pg[key]
        return (f"| {name} | {s:.2f} ms ({1000 / s:.0f} {per}/s) | {p:.2f} ms ({1000 / p:.0f} {per}/s) | "
                f"{p / s:.1f}× | {note} |")

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    lines = [
        "# Store benchmark (`python bench/bench_store.py`)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"vCPU; Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}, PostgreSQL "
        f"{server} on loopback (psycopg {psycopg.__version__}); checkout {head.strip()}",
        "",
        "Both stores on the same disk, durable commits (SQLite WAL + synchronous=FULL; PostgreSQL fsync on, "
        f"synchronous_commit on). {args.commits} commits, {args.reports} reports per row; load average at the "
        f"end {os.getloadavg()[0]:.1f} (the machine's cores are shared).",
        "",
        "| measure | SQLite | PostgreSQL | PostgreSQL / SQLite | note |",
        "|---|---|---|---|---|",
        row("one small committed write", "commit_ms", "commits",
            f"floor: write + fsync of a file {floor:.2f} ms"),
        row("intake → built, one report (4 commits)", "report_ms", "reports",
            "record_input + record_split + document_identity + mark_built, 7 KB ORU, 67 KB e-mail"),
        row("  the same, two writers at once", "report2_ms", "reports",
            "SQLite: one writer at a time; PostgreSQL: two Stores, as two instances"),
        row("  the same, four writers at once", "report4_ms", "reports", "concurrent commits share a WAL flush"),
        row("claim 64 of 1,000 waiting", "claim_ms", "batches",
            "SQLite: due(), a read; PostgreSQL: claim_due() (SKIP LOCKED + lease) and release(), 2 commits"),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
