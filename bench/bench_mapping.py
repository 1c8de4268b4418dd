"""Mapping stage speed: Mappings.load and map_report, beside baselines measured in the same run.

    python bench/bench_mapping.py [ROUNDS]

Baselines: ``yaml.safe_load`` of the same files (load) and ``parse_message`` of the same
corpus (map_report), so the numbers can be compared across machines.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connector.mapping import Mappings, default_mappings_dir, map_report
from connector.mapping.files import mapping_files
from connector.parse import parse_message, split_messages
from tests.support.settings import MAPPING, PARSE


def timed(fn, rounds: int) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        fn()
    return (time.perf_counter() - start) / rounds


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    directory = default_mappings_dir()
    files = mapping_files(directory)
    load = timed(lambda: Mappings.load(directory), rounds)
    baseline_load = timed(lambda: [yaml.safe_load(p.read_text(encoding="utf-8")) for p in files], rounds)
    print(f"Mappings.load: {load * 1000:.2f} ms ({len(files)} files)  "
          f"| baseline yaml.safe_load: {baseline_load * 1000:.2f} ms")

    messages = [m for p in sorted((REPO / "tests/data/oru").glob("*.hl7")) for m in split_messages(p.read_bytes())]
    reports = [r for m in messages for r in parse_message(m, settings=PARSE)]
    mappings = Mappings.load(directory)
    results = sum(len(r.results) for r in reports)
    per_pass = timed(lambda: [map_report(r, mappings, MAPPING) for r in reports], rounds)
    parse_pass = timed(lambda: [parse_message(m, settings=PARSE) for m in messages], max(rounds // 4, 1))
    print(f"map_report: {len(reports) / per_pass:,.0f} reports/s, {per_pass / len(reports) * 1000:.3f} ms/report "
          f"({results} results in {len(reports)} reports)  | baseline parse_message: "
          f"{parse_pass / len(reports) * 1000:.3f} ms/report")


if __name__ == "__main__":
    main()
