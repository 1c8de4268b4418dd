"""Page layout: text, rules and a fixed-column table that flows over pages.

Coordinates are points from the top-left corner (the PDF's origin is bottom-left; the
conversion happens when an operator is written). Column widths are fixed: measuring
cells is a dictionary lookup per character, which is where fpdf2's generic table spent
its time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .font import FontSubset, ParsedFont, normalize_text
from .writer import PAGE_HEIGHT, PAGE_WIDTH

__all__ = ["CONTENT_WIDTH", "MARGIN", "Canvas", "Cell", "Column", "Style"]

MARGIN = 36.0  # half an inch: room for binding and for printers' unprintable edge
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN
FOOTER_HEIGHT = 30.0  # two footer lines below the text area
CELL_PADDING = 2.0
LEADING = 1.25  # line height as a multiple of the font size

RGB = tuple[float, float, float]
BLACK: RGB = (0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Style:
    size: float = 8.0
    bold: bool = False
    color: RGB = BLACK


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: float
    align: str = "L"  # L or R


@dataclass(frozen=True, slots=True)
class Cell:
    text: str
    style: Style = Style()


class Canvas:
    """One document being laid out: pages of PDF operators and the fonts' subsets."""

    def __init__(self, regular: ParsedFont, bold: ParsedFont) -> None:
        self.fonts = {False: FontSubset(regular), True: FontSubset(bold)}
        self.pages: list[list[str]] = []
        self.ops: list[str] = []  # the page being drawn on (the last one, except for footers)
        self.y = 0.0
        self.bottom = PAGE_HEIGHT - MARGIN - FOOTER_HEIGHT
        self.on_new_page: Callable[[Canvas], None] | None = None

    # ------------------------------------------------------------------ primitives

    def new_page(self) -> None:
        self.ops = []
        self.pages.append(self.ops)
        self.y = MARGIN
        if self.on_new_page is not None:
            self.on_new_page(self)

    def text(self, x: float, y: float, text: str, style: Style = Style()) -> None:
        """Draw one line with its baseline at ``y`` (top-down)."""
        self._line(x, y, normalize_text(text), style)

    def _line(self, x: float, y: float, line: str, style: Style) -> None:
        """Draw a line already normalised (``wrap`` output): ~150 a report, so the style's operators are cached."""
        if not line:
            return
        ops = _STYLE_OPS.get(style) or _style_ops(style)
        code = self.fonts[style.bold].encode(line)
        self.ops.append(f"{ops[0]}{x:.2f} {PAGE_HEIGHT - y:.2f} Tm <{code}> Tj ET{ops[1]}")

    def rect(self, x: float, y: float, width: float, height: float, fill: RGB) -> None:
        self.ops.append(f"{_rgb(fill)} rg {x:.2f} {PAGE_HEIGHT - y - height:.2f} {width:.2f} {height:.2f} re f 0 g")

    def rule(self, y: float, *, x: float = MARGIN, width: float = CONTENT_WIDTH, weight: float = 0.5) -> None:
        self.ops.append(f"{weight:g} w {x:.2f} {PAGE_HEIGHT - y:.2f} m {x + width:.2f} {PAGE_HEIGHT - y:.2f} l S")

    def width(self, text: str, style: Style) -> float:
        return self.fonts[style.bold].font.text_width(text, style.size)

    def wrap(self, text: str, width: float, style: Style) -> list[str]:
        """Greedy word wrap; a word longer than the width is cut. Keeps explicit line breaks.

        Linear in the text: widths are summed per word (in 1/1000 em) rather than re-measuring the
        growing line, and a word longer than a line is measured once, character by character, and
        cut as it goes (re-measuring the rest of the word after each cut made an unbroken 400,000
        characters cost minutes: issue 13).
        """
        font = self.fonts[style.bold].font
        limit = width * 1000.0 / style.size
        space = font.units(" ")
        lines: list[str] = []
        for raw in text.replace("\r\n", "\n").split("\n"):
            paragraph = normalize_text(raw)
            if font.units(paragraph) <= limit:
                lines.append(paragraph)
                continue
            current: list[str] = []
            used = 0.0
            for word in paragraph.split(" "):
                needed = font.units(word)
                if current and used + space + needed <= limit:
                    current.append(word)
                    used += space + needed
                    continue
                if current:
                    lines.append(" ".join(current))
                if needed > limit and len(word) > 1:
                    *full, word = _cut(word, limit, font)
                    lines += full
                    needed = font.units(word)
                current, used = [word], needed
            lines.append(" ".join(current))
        return lines

    # ------------------------------------------------------------------ flowing blocks

    def ensure(self, height: float) -> None:
        """Start a new page unless ``height`` points still fit on this one."""
        if not self.pages or self.y + height > self.bottom:
            self.new_page()

    def paragraph(self, text: str, style: Style = Style(), *, indent: float = 0.0) -> None:
        """Wrapped text across the content width, flowing onto new pages line by line."""
        line_height = style.size * LEADING
        for line in self.wrap(text, CONTENT_WIDTH - indent, style):
            self.ensure(line_height)
            self.y += line_height
            self._line(MARGIN + indent, self.y - style.size * 0.25, line, style)

    def row_height(self, columns: Sequence[Column], cells: Sequence[Cell]) -> tuple[float, list[list[str]]]:
        pairs = zip(columns, cells, strict=True)
        wrapped = [self.wrap(c.text, col.width - 2 * CELL_PADDING, c.style) for col, c in pairs]
        lines = max((len(w) for w in wrapped), default=1)
        size = max((c.style.size for c in cells), default=8.0)
        return lines * size * LEADING + 2 * CELL_PADDING, wrapped

    def row(
        self, columns: Sequence[Column], cells: Sequence[Cell], *, fill: RGB | None = None, keep_with_next: float = 0.0
    ) -> None:
        """One table row; moves to a new page (where the header is redrawn) when it does not fit,
        or when the ``keep_with_next`` points that must follow it (a first comment line) do not."""
        height, wrapped = self.row_height(columns, cells)
        self.ensure(height + keep_with_next)
        if fill is not None:
            self.rect(MARGIN, self.y, CONTENT_WIDTH, height, fill)
        x = MARGIN
        for col, cell, lines in zip(columns, cells, wrapped, strict=True):
            line_height = cell.style.size * LEADING
            baseline = self.y + CELL_PADDING + cell.style.size
            for line in lines:
                left = x + CELL_PADDING
                if col.align == "R":
                    left = x + col.width - CELL_PADDING - self.width(line, cell.style)
                self._line(left, baseline, line, cell.style)
                baseline += line_height
            x += col.width
        self.y += height


_STYLE_OPS: dict[Style, tuple[str, str]] = {}
_NO_GLYPH = "\U0010fffd"  # a private-use character no font draws: measured as the replacement


def _style_ops(style: Style) -> tuple[str, str]:
    """The operators before a line's position (colour, font, size) and after it (colour reset)."""
    color = "" if style.color == BLACK else f"{_rgb(style.color)} rg "
    ops = _STYLE_OPS[style] = (f"{color}BT /{'F2' if style.bold else 'F1'} {style.size:g} Tf 1 0 0 1 ",
                               " 0 g" if color else "")
    return ops


def _rgb(color: RGB) -> str:
    return " ".join(f"{c:.3g}" for c in color)


def _cut(word: str, limit: float, font: ParsedFont) -> list[str]:
    """``word`` in pieces that each fit ``limit`` (1/1000 em; at least one character a piece), in one pass
    over its characters' widths (a dictionary lookup each, as ``ParsedFont.units`` does)."""
    widths, fallback = font.width_of, font.units(_NO_GLYPH)  # what a character the font lacks measures
    pieces: list[str] = []
    start, used = 0, 0.0
    for at, ch in enumerate(word):
        width = widths.get(ch, fallback)
        if used + width > limit and at > start:
            pieces.append(word[start:at])
            start, used = at, 0.0
        used += width
    pieces.append(word[start:])
    return pieces
