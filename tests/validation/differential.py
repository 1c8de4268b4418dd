"""The differential run: the gate's rewritten schematrons against the untouched official run.

For each generated document (:mod:`tests.validation.documents`), both runs see the same
bytes; per schematron they must agree on whether it ran at all and, if it did, on every SVRL
``failed-assert`` and ``successful-report``: kind, role, location, full text and pattern, in
order. A pattern the gate does not run (fastpath R10) is left out of that comparison, and the
official run must have written no failing assertion in it. The
gate's verdict (``GateEngine.check``) must also list the same failures, at the same locations,
as ``SchematronValidator.failures``. One disagreement fails the run.

    python -m tests.validation.differential --docs 3000 --seed 20261203 --workers 2

The test suite runs a few hundred (tests/validation/test_differential.py); the thousands run is
quoted in bench/results-differential.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.validation.engine import GateEngine
from connector.validation.kit import AnsKit, prepare_kit
from connector.validation.schematron import SchematronValidator
from connector.validation.svrl import SvrlEntry, svrl_entries, verdict_free_patterns
from tests.validation.documents import corpus
from tests.validation.support import KIT_DIR, cache_dir

_RUNS: dict[str, Any] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    label: str
    agree: bool
    failures: tuple[tuple[str, str], ...]  # (schematron, assertion text start) of the official failures
    detail: str = ""
    fallbacks: int = 0  # schematrons whose rewritten form raised (the gate then runs the official one)


@dataclass(slots=True)
class Summary:
    documents: int = 0
    disagreements: list[Outcome] = field(default_factory=list)
    failing_documents: int = 0  # documents the official run rejects
    fallbacks: int = 0
    distinct_failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        per_schematron = Counter(name for name, _ in self.distinct_failures)
        return [
            f"documents compared: {self.documents} in {self.seconds:.0f} s",
            f"documents the official run rejects: {self.failing_documents}",
            f"distinct failed assertions seen: {len(self.distinct_failures)} "
            f"({', '.join(f'{n} {c}' for n, c in sorted(per_schematron.items()))})",
            f"schematron runs where the rewritten form raised and the official one was used: {self.fallbacks}",
            f"disagreements: {len(self.disagreements)}",
            *(f"  {o.label}: {o.detail}" for o in self.disagreements[:20]),
        ]


def _start(kit_root: str, cache: str) -> None:
    kit = AnsKit.at(Path(kit_root))
    _RUNS["official"] = SchematronValidator(kit.root, work_dir=Path(cache))
    _RUNS["gate"] = GateEngine(prepare_kit(kit, work_dir=Path(cache)))


def compare(label: str, document: bytes) -> Outcome:
    official: SchematronValidator = _RUNS["official"]
    gate: GateEngine = _RUNS["gate"]
    fallbacks = 0
    official_runs = official.each_report(document)
    for (name, expected), (_, got) in zip(official_runs, gate.each_report(document), strict=True):
        if expected is None and got is not None:
            return Outcome(label=label, agree=False, failures=(), detail=f"{name}: only the official run raised")
        if got is None:  # the gate runs the official stylesheet instead: its verdict is the official one
            fallbacks += 1
            continue
        if expected is None:
            continue
        want, have, dropped_failure = comparable_entries(name, expected, got)
        if dropped_failure:
            return Outcome(label=label, agree=False, failures=(),
                           detail=f"{name}: the official run failed in a pattern the gate does not run (R10)")
        if want != have:
            pairs = enumerate(zip(want, have, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), min(len(want), len(have)))
            return Outcome(label=label, agree=False, failures=(),
                           detail=f"{name}: {len(want)} vs {len(have)} SVRL entries, first difference at #{at}")
    verdict = gate.check(document)
    ran = [(name, svrl) for name, svrl in official_runs if svrl is not None]
    try:  # the official SVRL read once: running the six again would double the run's cost
        failures = official.failures(document, reports=ran if len(ran) == len(official_runs) else None)
    except Exception:  # noqa: BLE001 - a schematron cannot run on it: the gate must say so, not pass it
        if any(f.text == "the schematron could not run on this document" for f in verdict.failures):
            return Outcome(label=label, agree=True, failures=(("(none)", "could not run"),), fallbacks=fallbacks)
        return Outcome(label=label, agree=False, failures=(), detail="the official run raised, the gate did not say")
    if [(f.schematron, f.location) for f in failures] != [(f.schematron, f.location) for f in verdict.failures]:
        return Outcome(label=label, agree=False, failures=(), detail="the gate's verdict lists other failures")
    return Outcome(label=label, agree=True, failures=tuple((f.schematron, f.text[:60]) for f in failures),
                   fallbacks=fallbacks)


def comparable_entries(name: str, official: str, rewritten: str) -> tuple[list[SvrlEntry], list[SvrlEntry], bool]:
    """Both runs' entries minus the patterns the rewrite does not run, and whether the official run
    failed in one of those (which would make R10 wrong)."""
    skipped = verdict_free_patterns(rewritten)
    want = svrl_entries(name, official)
    dropped_failure = any(e.failing for e in want if e.pattern in skipped)
    return [e for e in want if e.pattern not in skipped], svrl_entries(name, rewritten), dropped_failure


def run(count: int, *, seed: int, kit_root: Path, cache: Path, workers: int,
        compiled: tuple[SchematronValidator, GateEngine] | None = None) -> Summary:
    """Compile both runs in each of ``workers`` processes, then compare ``count`` documents.

    ``compiled``: both runs already compiled in this process (the test session's); the documents
    are then compared here, one after the other, and ``workers`` is not used."""
    prepared = prepare_kit(AnsKit.at(kit_root), work_dir=cache)  # once, before the workers race for it
    documents = list(corpus(count, seed=seed, kit_root=kit_root, prepared_root=prepared))
    labels, payloads = zip(*documents, strict=True)
    summary = Summary()
    started = time.perf_counter()
    if compiled is not None:
        _RUNS["official"], _RUNS["gate"] = compiled
        _add(summary, map(compare, labels, payloads))
    else:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_start,
                                 initargs=(str(kit_root), str(cache))) as pool:
            _add(summary, pool.map(compare, labels, payloads, chunksize=4))
    summary.seconds = time.perf_counter() - started
    return summary


def _add(summary: Summary, outcomes: Iterable[Outcome]) -> None:
    for outcome in outcomes:
        summary.documents += 1
        summary.fallbacks += outcome.fallbacks
        if not outcome.agree:
            summary.disagreements.append(outcome)
        if outcome.failures:
            summary.failing_documents += 1
            summary.distinct_failures.update(set(outcome.failures))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    summary = run(args.docs, seed=args.seed, kit_root=KIT_DIR, cache=cache_dir(), workers=args.workers)
    print(f"seed {args.seed}")
    print("\n".join(summary.lines()))
    return 1 if summary.disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
