"""The results table: chapters, batteries, results, comments at each level.

Rows keep the order the lab sent. Results are grouped by CR-BIO chapter (first-seen
order), then by battery (the order's service) within a chapter; an order's comments
follow its battery, a result's comments follow its row. The column header is redrawn
at the top of every page the table reaches.
"""

from __future__ import annotations

from connector.model import Comment, MappedReport, MappedResult, Order, Result, ResultValue

from .format import (
    abnormal,
    flag_symbol,
    format_previous,
    format_range,
    format_unit,
    format_value,
)
from .layout import CONTENT_WIDTH, Canvas, Cell, Column, Style

__all__ = ["COLUMNS", "ResultTable", "result_label"]

COLUMNS = (
    Column("Examen", 165.0),
    Column("Résultat", 72.0, "R"),
    Column("Unité", 72.0),
    Column("Valeurs de référence", 100.0),
    Column("Antériorité", CONTENT_WIDTH - 409.0),
)
_HEAD = Style(size=7.5, bold=True)
_HEAD_FILL = (0.85, 0.88, 0.93)
_CHAPTER = Style(size=9, bold=True, color=(0.1, 0.2, 0.45))
_CHAPTER_FILL = (0.93, 0.94, 0.97)
_BATTERY = Style(size=8.5, bold=True)
_CELL = Style(size=8)
_ABNORMAL = Style(size=8, bold=True, color=(0.75, 0.0, 0.0))
_ABNORMAL_FILL = (1.0, 0.93, 0.93)
_COMMENT = Style(size=7.5, color=(0.25, 0.25, 0.25))
_MUTED = Style(size=7.5, color=(0.35, 0.35, 0.35))


def result_label(result: MappedResult) -> str:
    """The name shown for a result: the mapped display, else the lab's own label or code."""
    return result.display or result.local.display or result.local.code


class ResultTable:
    def __init__(self, canvas: Canvas, mapped: MappedReport) -> None:
        self.canvas = canvas
        self.mapped = mapped
        self.in_table = False
        self.where = ""  # chapter — battery being drawn, repeated with "(suite)" on a new page
        self._order_of = {id(r): o for o in mapped.report.orders for r in (*o.results, *_specimen_results(o))}

    def draw(self) -> None:
        canvas = self.canvas
        previous_hook = canvas.on_new_page

        def on_new_page(c: Canvas) -> None:
            if previous_hook is not None:
                previous_hook(c)
            if self.in_table:
                self._column_header()
                if self.where:
                    c.row((Column("", CONTENT_WIDTH),), (Cell(f"{self.where} (suite)", _MUTED),))

        canvas.on_new_page = on_new_page
        canvas.ensure(60)
        self.in_table = True
        self._column_header()
        for chapter, batteries in self._groups():
            canvas.ensure(70)  # a chapter title never ends a page alone
            self.where = ""
            canvas.row((Column("", CONTENT_WIDTH),), (Cell(chapter.upper(), _CHAPTER),), fill=_CHAPTER_FILL)
            for battery, results in batteries:
                self.where = " — ".join(p for p in (chapter.upper(), battery) if p)
                if battery:
                    canvas.ensure(40)
                    canvas.row((Column("", CONTENT_WIDTH),), (Cell(battery, _BATTERY),))
                for result in results:
                    self._result(result)
                self._order_comments(results)
        self.in_table = False
        self.where = ""
        canvas.y += 4
        canvas.rule(canvas.y, weight=0.3)

    def _column_header(self) -> None:
        canvas = self.canvas
        canvas.row(COLUMNS, [Cell(c.title, _HEAD) for c in COLUMNS], fill=_HEAD_FILL)

    def _groups(self) -> list[tuple[str, list[tuple[str, list[MappedResult]]]]]:
        chapters: dict[str, tuple[str, dict[str, tuple[str, list[MappedResult]]]]] = {}
        for result in self.mapped.results:
            chapter = chapters.setdefault(result.chapter.code, (result.chapter.display or result.chapter.code, {}))
            battery = result.battery
            if battery is None:
                order = self._order_of.get(id(result.result))
                battery = order.service if order is not None else None
            key = battery.code if battery else ""
            label = (battery.display or battery.code) if battery else ""
            chapter[1].setdefault(key, (label, []))[1].append(result)
        return [(title, list(batteries.values())) for title, batteries in chapters.values()]

    def _result(self, mapped: MappedResult) -> None:
        flagged = abnormal(mapped.interpretation)
        style = _ABNORMAL if flagged else _CELL
        value = "; ".join(format_value(v) for v in _values(mapped))
        shown = f"{value} {flag_symbol(mapped.interpretation)}".strip()
        # A text result wider than its column (a conclusion, a culture report) goes under the row.
        below = "\n" in shown or self.canvas.width(shown, style) > COLUMNS[1].width - 4
        cells = (
            Cell(result_label(mapped), _CELL),
            Cell("" if below else shown, style),
            Cell(format_unit(mapped.unit or (mapped.result.units.code if mapped.result.units else "")), _CELL),
            Cell(format_range(mapped.reference_range, mapped.result.reference_range), _MUTED),
            Cell(format_previous(mapped.previous or mapped.result.previous, mapped.unit), _MUTED),
        )
        follows = below or mapped.result.comments or mapped.status == "aborted"
        keep = _COMMENT.size * 1.25 if follows else 0.0  # never a row at a page's foot, its comment overleaf
        self.canvas.row(COLUMNS, cells, fill=_ABNORMAL_FILL if flagged else None, keep_with_next=keep)
        if below:
            self.canvas.paragraph(shown, style, indent=COLUMNS[0].width / 2)
            self.canvas.y += 2
        if mapped.status == "aborted" or mapped.result.status in ("X", "D"):
            self._comment("Examen non réalisé ou annulé.")
        for comment in mapped.result.comments:
            self._comment(comment.text)

    def _order_comments(self, results: list[MappedResult]) -> None:
        seen: set[int] = set()
        for result in results:
            order = self._order_of.get(id(result.result))
            if order is None or id(order) in seen:
                continue
            seen.add(id(order))
            for comment in _order_comments(order):
                self._comment(comment.text, indent=4.0)

    def _comment(self, text: str, *, indent: float = 12.0) -> None:
        self.canvas.paragraph(text, _COMMENT, indent=indent)
        self.canvas.y += 1


def _values(mapped: MappedResult) -> tuple[ResultValue, ...]:
    if mapped.value is not None:
        return (mapped.value,)
    return mapped.result.values


def _specimen_results(order: Order) -> tuple[Result, ...]:
    return tuple(r for s in order.specimens for r in s.results)


def _order_comments(order: Order) -> tuple[Comment, ...]:
    return order.comments
