"""Directory import and lookup on a generated full-size extract (540,000 lines; written to a temp dir, not kept).

Baseline in the same run: reading and splitting the file without SQLite (the parsing floor). Target: import
under a minute, lookup under 1 ms. Usage: ``python bench/bench_directory.py [LINES]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from connector.send import Directory, import_directory

HEADER = "Type de BAL|Adresse BAL|" + "|".join(f"c{i}" for i in range(2, 31))
LOOKUPS = 10_000


def generate(path: Path, lines: int) -> list[str]:
    """Synthetic professionals: ~1 in 10 has two mailboxes, ~1 in 20 rows is an ORG mailbox."""
    ids = []
    with open(path, "w", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        for i in range(lines):
            idnps = f"8{10_000_000_000 + i // 2 if i % 10 == 0 else 10_000_000_000 + i:011d}"
            ids.append(idnps)
            cols = [""] * 31
            cols[0] = "ORG" if i % 20 == 0 else "PER"
            cols[1], cols[2], cols[3], cols[4] = f"doc{i}@ets{i % 997}.mssante.fr", "8", idnps[1:], idnps
            cols[9], cols[10], cols[14], cols[16] = f"NOM{i}", "PRENOM", "Médecin", "Qualifié en Médecine Générale"
            cols[18], cols[28], cols[29] = f"CABINET {i % 5000}", f"{75000 + i % 900}", "75"
            f.write("|".join(cols) + "\n")
    return ids


def main(lines: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-dir-"))
    extract = tmp / "Extraction_Correspondance_MSSante_synthetic.txt"
    ids = generate(extract, lines)
    print(f"{lines} lines, {extract.stat().st_size / 1e6:.0f} MB")

    start = time.perf_counter()
    with open(extract, encoding="utf-8") as f:
        parsed = sum(1 for line in f if len(line.rstrip("\n").split("|")) == 31)
    print(f"baseline read+split (no SQLite): {time.perf_counter() - start:6.2f} s ({parsed} rows)")

    start = time.perf_counter()
    n = import_directory(extract, db_path=tmp / "directory.sqlite")
    print(f"import_directory:                {time.perf_counter() - start:6.2f} s ({n} rows)")

    directory = Directory(tmp / "directory.sqlite")
    sample = random.Random(1).choices(ids, k=LOOKUPS)
    times = []
    for idnps in sample:
        t = time.perf_counter()
        directory.lookup(idnps)
        times.append(time.perf_counter() - t)
    times.sort()
    print(f"lookup: median {statistics.median(times) * 1e6:.0f} µs, p99 {times[int(0.99 * len(times))] * 1e6:.0f} µs,"
          f" max {times[-1] * 1e6:.0f} µs over {LOOKUPS}")
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 540_000)
