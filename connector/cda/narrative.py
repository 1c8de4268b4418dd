"""Section narrative (``<text>``): one table per section, whose ``<content ID>`` cells the
entries point to (``originalText/reference``). Ids are unique in the whole document."""

from __future__ import annotations

from itertools import count

from lxml import etree

from .elements import sub, text_sub, xml_text

__all__ = ["COLUMNS", "IdSource", "SectionText"]

COLUMNS = ("Examen", "Résultat", "Unité", "Valeurs de référence", "Antériorités")


class IdSource:
    """Narrative ids for one document: ``res-1``, ``com-2``… (XML IDs, so NCName-safe)."""

    def __init__(self) -> None:
        self._next = count(1)

    def __call__(self, prefix: str) -> str:
        return f"{prefix}-{next(self._next)}"


class SectionText:
    """The results table of one section; rows are added while the entries are built."""

    def __init__(self, section: etree._Element, ids: IdSource) -> None:
        self.ids = ids
        self.name_cell: etree._Element | None = None  # the name cell of the last result row
        self.text = sub(section, "text")
        table = sub(self.text, "table", border="1")
        head = sub(sub(table, "thead"), "tr")
        for title in COLUMNS:
            text_sub(head, "th", title)
        self.body = sub(table, "tbody")

    def heading(self, label: str) -> str:
        """A full-width row (battery, isolate); returns its content id."""
        cid = self.ids("bat")
        td = sub(sub(self.body, "tr"), "td", colspan=str(len(COLUMNS)))
        text_sub(td, "content", label, {"ID": cid, "styleCode": "Bold"})
        return cid

    def result_row(
        self, label: str, value: str, unit: str, reference: str
    ) -> tuple[str, str, etree._Element]:
        """Row of one result: (id of its name, id of its value, the antériorités cell)."""
        tr = sub(self.body, "tr")
        name_id, value_id = self.ids("res"), self.ids("val")
        self.name_cell = sub(tr, "td")
        text_sub(self.name_cell, "content", label, {"ID": name_id})
        text_sub(sub(tr, "td"), "content", value, {"ID": value_id})
        text_sub(tr, "td", unit)
        text_sub(tr, "td", reference)
        return name_id, value_id, sub(tr, "td")

    def detail(self, text: str) -> str:
        """A line under the last result's name (its technique, the lab that ran it), as the kit's TSH
        example writes the method: ``<br/><content ID>…</content>``. Returns the content id."""
        assert self.name_cell is not None, "detail() follows result_row()"
        sub(self.name_cell, "br")
        cid = self.ids("det")
        text_sub(self.name_cell, "content", text, {"ID": cid, "styleCode": "Italics"})
        return cid

    def previous(self, cell: etree._Element, text: str) -> str:
        if len(cell):
            sub(cell, "br")
        cid = self.ids("ant")
        text_sub(cell, "content", text, {"ID": cid})
        return cid

    def comment(self, text: str) -> str:
        cid = self.ids("com")
        td = sub(sub(self.body, "tr"), "td", colspan=str(len(COLUMNS)))
        multiline(sub(td, "content", {"ID": cid, "styleCode": "Italics"}), text)
        return cid


def multiline(parent: etree._Element, text: str) -> None:
    """``text`` with its line breaks as ``<br/>``."""
    lines = xml_text(text).splitlines() or [""]
    parent.text = lines[0]
    for line in lines[1:]:
        br = sub(parent, "br")
        br.tail = line
