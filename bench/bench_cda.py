"""CDA stage throughput: build + XSD-validate a 20-result CR-BIO report, on one core.

Baseline in the same run: lxml parse + serialize of the kit's TSH_1 example (what any
XML handling of a document this size costs). Target: ≥300 reports/s with XSD.

    python bench/bench_cda.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from connector.cda import (
    XsdValidator,
    build_document,
    build_tree,
    serialize,
)
from tests.support.paths import ans_kit_or_none as default_kit_dir
from tests.support.paths import cda_xsd_or_none as default_xsd_path
from tests.support.samples import sample_ids, sample_lab, sample_mapped_report, tiny_pdf

SAMPLE_RESULTS = 13  # results in sample_mapped_report() before extra_numeric


def rate(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """(operations per second, ms per operation) over about ``seconds``."""
    fn()  # warm-up
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed, 1000 * elapsed / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    kit, xsd_path = default_kit_dir(), default_xsd_path()
    if kit is None or xsd_path is None:
        sys.exit("ANS kit absent: ../shared/ref/cda/testcontenucda")
    t0 = time.perf_counter()
    xsd = XsdValidator(xsd_path)
    load_ms = 1000 * (time.perf_counter() - t0)
    mapped = sample_mapped_report(extra_numeric=20 - SAMPLE_RESULTS)
    lab, ids, pdf = sample_lab(), sample_ids(), tiny_pdf()
    tsh = (kit / "ExemplesCDA" / "BIO-CR-BIO_2024.01_TSH_1.xml").read_bytes()
    doc = build_document(mapped, lab=lab, ids=ids, pdf=pdf)
    assert xsd.errors(doc) == [], "benchmark document must be valid"

    def build() -> bytes:
        return build_document(mapped, lab=lab, ids=ids, pdf=pdf)

    def build_and_validate() -> None:
        # As connector/pipeline/compose.py does: validate the built tree, then serialise the bytes sent.
        root = build_tree(mapped, lab=lab, ids=ids, pdf=pdf)
        errors = xsd.errors_tree(root)
        assert not errors
        serialize(root)

    def baseline() -> None:
        etree.tostring(etree.fromstring(tsh), xml_declaration=True, encoding="UTF-8")

    print(
        f"XSD load: {load_ms:.0f} ms; document {len(doc)} bytes, {len(mapped.results)} results"
    )
    for name, fn in (
        ("baseline lxml parse+serialize TSH_1", baseline),
        ("build", build),
        ("build + XSD", build_and_validate),
    ):
        per_s, ms = rate(fn, args.seconds)
        print(f"{name:38s} {per_s:8.0f} /s  {ms:6.2f} ms")


if __name__ == "__main__":
    main()
