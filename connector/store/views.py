"""Operator views of the store: counts, the oldest report in progress, timelines, quarantine."""

from __future__ import annotations

from connector.states import ReportState
from connector.store.rows import ReportRow, StoreBase, row_of

__all__ = ["OperatorViews"]


class OperatorViews(StoreBase):
    """Read-only views (and the quarantine housekeeping) for `connector status`, `show`, `quarantine`."""

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.query("SELECT state, count(*) FROM reports GROUP BY state")}

    def oldest_waiting(self) -> ReportRow | None:
        rows = self.db.query(
            "SELECT * FROM reports WHERE state NOT IN (?, ?, ?, ?) ORDER BY received_at LIMIT 1",
            (ReportState.SENT.value, ReportState.DELIVERED.value, ReportState.READ.value,
             ReportState.QUARANTINED.value),
        )
        return row_of(rows[0]) if rows else None

    def reports_in(self, *states: ReportState, limit: int = 1000) -> list[ReportRow]:
        marks = ",".join("?" * len(states))
        return [row_of(r) for r in self.db.query(
            f"SELECT * FROM reports WHERE state IN ({marks}) ORDER BY received_at LIMIT ?",
            (*[s.value for s in states], limit))]

    def all_reports(self, limit: int = 10_000) -> list[ReportRow]:
        return [row_of(r) for r in self.db.query("SELECT * FROM reports ORDER BY received_at LIMIT ?", (limit,))]

    def events(self, report_id: str) -> list[tuple[str, str, str]]:
        return [(r["at"], r["event"], r["detail"]) for r in self.db.query(
            "SELECT at, event, detail FROM events WHERE report_id = ? ORDER BY id", (report_id,))]

    def input_errors(self, *, include_released: bool = False) -> list[dict[str, object]]:
        sql = ("SELECT e.input_id, e.message_index, e.reason, e.at, i.source FROM input_errors e "
               "JOIN inputs i ON i.id = e.input_id")
        if not include_released:
            sql += " WHERE e.released = 0"
        return [dict(r) for r in self.db.query(sql + " ORDER BY e.at")]

    def release_input_error(self, input_id: int, message_index: int) -> None:
        with self.db.transaction() as c:
            c.execute("UPDATE input_errors SET released = 1 WHERE input_id = ? AND message_index = ?",
                      (input_id, message_index))

    def purge_released(self) -> list[str]:
        """Forget released quarantine items: their rows, and the input bytes no report needs.

        Returns the sources purged (file names), so their files can go from the quarantine folder.
        """
        with self.db.transaction() as c:
            rows = c.execute("SELECT DISTINCT e.input_id, i.source FROM input_errors e JOIN inputs i "
                             "ON i.id = e.input_id WHERE e.released = 1").fetchall()
            for input_id, _ in rows:
                c.execute("DELETE FROM input_errors WHERE input_id = ? AND released = 1", (input_id,))
                # The sha256 stays: the same bytes arriving again are still recognised.
                c.execute("UPDATE inputs SET data = ? WHERE id = ? AND NOT EXISTS "
                          "(SELECT 1 FROM reports WHERE input_id = ?) AND NOT EXISTS "
                          "(SELECT 1 FROM input_errors WHERE input_id = ?)", (b"", input_id, input_id, input_id))
        return [source for _, source in rows]

    def last_errors(self, limit: int = 10) -> list[tuple[str, str, str, str]]:
        """The latest problems still standing: a wait or quarantine of a report that has since gone on is
        history (``connector show`` keeps it), a recipient's failure stays (that doctor still lacks the report)."""
        return [(r["at"], r["report_id"], r["event"], r["detail"]) for r in self.db.query(
            "SELECT e.at, e.report_id, e.event, e.detail FROM events e JOIN reports r ON r.report_id = e.report_id "
            "WHERE e.event IN ('recipient.failed', 'recipient.error', 'recipient.refused') "
            "OR (e.event = 'report.waiting' AND r.state = ?) OR (e.event = 'report.quarantined' AND r.state = ?) "
            "ORDER BY e.id DESC LIMIT ?", (ReportState.WAITING.value, ReportState.QUARANTINED.value, limit))]
