"""XSD validation of CDA documents against the ANS kit's ``CDA_extended.xsd`` (lxml).

The schema is loaded once (≈0.1 s) with a parser that never touches the network;
``XMLSchema.validate`` is then thread-safe enough for our use because each call gets
its own error log copy under a lock.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from connector.errors import CdaBuildError

__all__ = ["XSD_RELATIVE", "XsdValidator"]

# Where the CDA schema sits in an ANS kit (testContenuCDA layout, kept by `connector kit install`).
XSD_RELATIVE = Path("infrastructure") / "cda" / "CDA_extended.xsd"
# Enough to locate a problem; a broken builder would otherwise flood logs with thousands of lines.
MAX_REPORTED_ERRORS = 50


class XsdValidator:
    """Compiled CDA schema. Error messages hold line numbers and the schema rule, never text content."""

    def __init__(self, xsd_path: Path) -> None:
        # Local includes only: no network, no entities (the kit is trusted but read as data).
        parser = etree.XMLParser(
            no_network=True, resolve_entities=False, load_dtd=False
        )
        try:
            doc = etree.parse(str(xsd_path), parser)
            self._schema = etree.XMLSchema(doc)
        except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
            raise CdaBuildError(
                f"CDA schema {xsd_path} could not be loaded: {type(exc).__name__}"
            ) from None
        self._lock = threading.Lock()
        # libxml2's default limits stay on (huge_tree off): a 10 MB text node holds any embedded PDF.
        self._parser = etree.XMLParser(
            no_network=True, resolve_entities=False, load_dtd=False, huge_tree=False
        )

    def errors(self, document: bytes) -> list[str]:
        """``[]`` when ``document`` is valid, else ``line N: message`` strings."""
        try:
            with self._lock:  # an lxml parser is not to be shared between threads at once
                root = etree.fromstring(document, self._parser)
        except etree.XMLSyntaxError as exc:
            return [f"line {exc.lineno}: document is not well-formed XML"]
        return self.errors_tree(root)

    def errors_tree(self, root: etree._Element) -> list[str]:
        with self._lock:
            ok = self._schema.validate(root)
            log = self._schema.error_log if not ok else None
            # A tree built in memory has no source lines: name the element's path instead.
            entries = [] if log is None else [(e.line or e.path, e.message) for e in log]  # type: ignore[attr-defined]
        return [
            f"{'line ' if isinstance(line, int) else ''}{line}: {_without_values(msg)}"
            for line, msg in entries[:MAX_REPORTED_ERRORS]
        ]


def _without_values(message: str) -> str:
    """lxml quotes the offending value ("'12x' is not a valid value…"); drop it: it may be patient data."""
    message = _QUOTED_VALUE.sub(r"\1'…'\2", message)
    return _THE_VALUE.sub("The value '…'", message)


_QUOTED_VALUE = re.compile(r"(: )'[^']*'( is not)")
_THE_VALUE = re.compile(r"The value '[^']*'")
