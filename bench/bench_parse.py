"""Parse-stage throughput on one core: our parse_message beside python-hl7's bare hl7.parse.

    python bench/bench_parse.py [--seconds 1.0]

Bar: >= 300 reports/s for the 20-OBX ORU. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import hl7

from connector.parse import parse_message, split_messages
from tests.support.settings import PARSE

BAR_REPORTS_PER_S = 300

MSH = "MSH|^~\\&|SIL|LABO|CONNECTEUR|LABO|20261120101500||ORU^R01^ORU_R01|{ctrl}|P|2.5|||||FRA|UNICODE UTF-8"
PID = (
    "PID|1||285057512004242^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.8&ISO^INS~IPP0001^^^LABO&1.2.250.1.999.1.1&ISO^PI"
    "||TESTBENCH^ALICE^ALICE^^^^L||19850507|F|||12 RUE DES TESTS^^PARIS^^75001^FRA^H" + "|" * 21 + "QUAL"
)
PRESC = "810000000001^TESTEUR^JEAN^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
ORC = "ORC|RE|CMD{n}^SIL|DOS{n}^LABO||CM||||20261119080000|||" + PRESC
OBR = (
    "OBR|{n}|CMD{n}^SIL|DOS{n}^LABO|NFS^Numération formule sanguine^L||20261119080000|202611190815|||||||202611190900||"
    + PRESC
    + "||||||202611191630|||F|||||||810000000002&BIOLO&Anne&&&DR&&&ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO"
)
OBX = (
    "OBX|{n}|NM|HB^Hémoglobine^L||13.{n}|g/dL|12.0-16.0|N|||F|||202611191500||"
    "810000000002^BIOLO^Anne^^^DR^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"
)
NTE = "NTE|1|L|Commentaire de résultat\\.br\\sur deux lignes"


def message(orders: int, obx_per_order: int, notes: bool) -> bytes:
    segments = [MSH.format(ctrl="BENCH1"), PID]
    for o in range(1, orders + 1):
        segments += [ORC.format(n=o), OBR.format(n=o)]
        for n in range(1, obx_per_order + 1):
            segments.append(OBX.format(n=n))
            if notes:
                segments.append(NTE)
    return ("\r".join(segments) + "\r").encode("utf-8")


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second over at least ``seconds`` (after one warm-up call)."""
    fn()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(10):
            fn()
        count += 10
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    cases = {
        "20-OBX ORU": message(1, 20, notes=False),
        "150-segment ORU": message(6, 11, notes=True),  # 2 + 6 * (2 + 22) = 146 segments
    }
    print("| message | segments | KB | parse_message reports/s | ms/report | hl7.parse msgs/s (baseline) |")
    print("|---|---|---|---|---|---|")
    ok = True
    for name, data in cases.items():
        (msg,) = split_messages(data)
        text = msg.decode("utf-8")
        ours = rate(lambda m=msg: parse_message(m, settings=PARSE), args.seconds)  # type: ignore[misc]
        base = rate(lambda t=text: hl7.parse(t), args.seconds)  # type: ignore[misc]
        segs = text.count("\r")
        print(f"| {name} | {segs} | {len(data) / 1024:.1f} | {ours:,.0f} | {1000 / ours:.2f} | {base:,.0f} |")
        if name.startswith("20-OBX"):
            ok = ours >= BAR_REPORTS_PER_S
    print(f"\nbar: >= {BAR_REPORTS_PER_S} reports/s for the 20-OBX ORU: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
