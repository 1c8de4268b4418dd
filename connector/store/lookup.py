"""Finding reports from what the SIL knows, and the mapping gaps traffic revealed.

A person at the lab knows a message's MSH-10, an order number or the file the SIL dropped; the
store knows report ids. The keys recorded at split time join the two (schema version 3). Codes
and units reports carried without a mapping are recorded once per report, so `connector mappings
unmapped` can say what to map next, with counts and first/last seen. Neither holds patient data.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from connector.store.backend import Tx
from connector.store.db import utcnow
from connector.store.rows import KeyKind, StoreBase

__all__ = ["FoundReport", "Gap", "GapKind", "GapRow", "KeyKind", "LookupStore", "input_label"]


class GapKind(StrEnum):
    CODE = "code"  # a local code with no LOINC mapping (sent with its local code only, or held)
    UNIT = "unit"  # a unit with no UCUM form, or none the mapping converts (the report waits)
    LOINC_UNIT = "loinc_unit"  # the LOINC code sent or mapped measures something else than the unit


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    kind: GapKind
    code: str
    system: str = ""
    label: str = ""
    unit: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GapRow:
    gap: Gap
    reports: int
    first_seen: str
    last_seen: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundReport:
    report_id: str
    control_id: str  # MSH-10
    sending_application: str  # MSH-3 ("" for reports received before schema version 3)
    sending_facility: str  # MSH-4
    state: str
    received_at: str
    matched: str  # what the query matched: report id, MSH-10, placer order, input file…


def input_label(name: str) -> str:
    """The ``source`` the drop folder records for a file name when it does not log names (see intake.folder)."""
    return "file-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:12]


_MATCHED = {
    KeyKind.PLACER_ORDER.value: "placer order number",
    KeyKind.FILLER_ORDER.value: "filler order number",
    KeyKind.PLACER_GROUP.value: "placer group number",
}


class LookupStore(StoreBase):
    def record_keys(self, c: Tx, report_id: str, keys: Iterable[tuple[KeyKind, str]]) -> None:
        for kind, value in dict.fromkeys(keys):
            if value:
                c.execute("INSERT INTO report_keys (report_id, kind, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                          (report_id, kind.value, value))

    def find_reports(self, query: str, *, sending_application: str = "", sending_facility: str = "",
                     limit: int = 50) -> list[FoundReport]:
        """Reports whose id, MSH-10, order number or input file name is ``query``, oldest first.

        ``sending_application`` / ``sending_facility`` (MSH-3 / MSH-4) narrow an MSH-10 or order
        number two SILs both used; a report recorded before the keys existed cannot be narrowed.
        """
        matches: dict[str, str] = {}
        for row in self.db.query("SELECT report_id FROM reports WHERE report_id = ?", (query,)):
            matches[row["report_id"]] = "report id"
        for row in self.db.query("SELECT report_id FROM reports WHERE control_id = ?", (query,)):
            matches.setdefault(row["report_id"], "MSH-10")
        for row in self.db.query("SELECT report_id, kind FROM report_keys WHERE value = ? AND kind IN (?, ?, ?)",
                                 (query, *_MATCHED)):
            matches.setdefault(row["report_id"], _MATCHED[row["kind"]])
        for row in self.db.query(
                "SELECT r.report_id FROM reports r JOIN inputs i ON i.id = r.input_id WHERE i.source IN (?, ?)",
                (query, input_label(query))):
            matches.setdefault(row["report_id"], "input file")
        found = [self._found(report_id, how) for report_id, how in matches.items()]
        found = [f for f in found
                 if (not sending_application or f.sending_application == sending_application)
                 and (not sending_facility or f.sending_facility == sending_facility)]
        return sorted(found, key=lambda f: (f.received_at, f.report_id))[:limit]

    def _found(self, report_id: str, matched: str) -> FoundReport:
        row = self.db.query("SELECT report_id, control_id, state, received_at FROM reports WHERE report_id = ?",
                            (report_id,))[0]
        keys = {r["kind"]: r["value"] for r in self.db.query(
            "SELECT kind, value FROM report_keys WHERE report_id = ? AND kind IN (?, ?)",
            (report_id, KeyKind.SENDING_APPLICATION.value, KeyKind.SENDING_FACILITY.value))}
        return FoundReport(report_id=report_id, control_id=row["control_id"], state=row["state"],
                           received_at=row["received_at"], matched=matched,
                           sending_application=keys.get(KeyKind.SENDING_APPLICATION.value, ""),
                           sending_facility=keys.get(KeyKind.SENDING_FACILITY.value, ""))

    # ------------------------------------------------------------------ mapping gaps

    def record_gaps(self, report_id: str, gaps: Iterable[Gap]) -> None:
        """Record what a report carried without a mapping; a retry of the same report adds nothing."""
        now = utcnow()
        with self.db.transaction() as c:
            for gap in dict.fromkeys(gaps):
                c.execute("INSERT INTO mapping_gaps (report_id, kind, code, system, label, unit, seen_at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                          (report_id, gap.kind.value, gap.code, gap.system, gap.label, gap.unit, now))

    def gaps(self) -> list[GapRow]:
        """Every gap seen, most reports first (with one of the labels the SIL sent for it)."""
        rows = self.db.query(
            "SELECT kind, code, system, unit, count(*) AS reports, min(seen_at) AS first_seen, "
            "max(seen_at) AS last_seen, max(label) AS label FROM mapping_gaps "
            "GROUP BY kind, code, system, unit ORDER BY count(*) DESC, kind, code, system, unit")
        return [GapRow(gap=Gap(kind=GapKind(r["kind"]), code=r["code"], system=r["system"], label=r["label"],
                               unit=r["unit"]),
                       reports=int(r["reports"]), first_seen=r["first_seen"], last_seen=r["last_seen"])
                for r in rows]
