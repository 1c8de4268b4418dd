"""The gate's check of one document, in one process: XSD, then the six rewritten schematrons.

The document is parsed once by Saxon and that one tree goes to the six executables; the
value sets the rewrite turned into parameters are parsed once per process. A gate worker
process holds one :class:`GateEngine` for its whole life (compiling takes 15–40 s).

Should a rewritten stylesheet raise on some document, the engine runs the official
stylesheet of that schematron instead (compiled on first need), so the gate is never less
able than the official run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lxml import etree

from connector.errors import KitError
from connector.xmlsafe import SAFE_PARSER

from .fastpath import rewritten_path
from .kit import SCHEMATRONS, compiled_path, saxon_processor
from .locate import result_codes
from .svrl import Failure, SvrlEntry, failures_of, is_level1, refused_input, svrl_entries
from .valuesets import AVAILABLE_DIR, AVAILABLE_SUFFIX, HREF, XSL
from .xsd import XSD_RELATIVE, XsdValidator

__all__ = ["Check", "Engine", "GateEngine", "LightEngine", "bind_parameters"]

# The kit's stylesheets (ours to read, up to 11 MB); documents go through connector.xmlsafe.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One document's outcome: XSD errors, schematron failures (texts without document values)."""

    xsd_errors: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
    seconds: float = 0.0
    fallbacks: int = 0  # schematrons run with the official stylesheet because the rewrite raised


class Engine(Protocol):
    """What a worker process holds: a build task checks its document with it."""

    @property
    def xsd(self) -> XsdValidator | None: ...

    @property
    def schematrons(self) -> bool: ...

    def check(self, document: bytes, *, xsd: bool = True) -> Check: ...


class LightEngine:
    """A worker without the schematrons: the XSD only (mode ``xsd``), or nothing (``off``, reduced)."""

    def __init__(self, xsd_path: Path | None) -> None:
        self._xsd = XsdValidator(xsd_path) if xsd_path is not None else None

    @property
    def xsd(self) -> XsdValidator | None:
        return self._xsd

    @property
    def schematrons(self) -> bool:
        return False

    def check(self, document: bytes, *, xsd: bool = True) -> Check:
        start = time.perf_counter()
        errors = tuple(self._xsd.errors(document)) if self._xsd is not None and xsd else ()
        return Check(xsd_errors=errors, seconds=time.perf_counter() - start)


@dataclass(slots=True)
class _Schematron:
    name: str
    rel: str
    fast: Any  # saxonche ships no type hints
    official: Any = None


class GateEngine:
    """The XSD and the six schematrons of a prepared kit, compiled in this process."""

    def __init__(self, prepared_root: Path) -> None:
        self._root = prepared_root
        self._proc = saxon_processor()
        self._compiler = self._proc.new_xslt30_processor()
        self._lock = threading.Lock()
        self._xsd = XsdValidator(prepared_root / XSD_RELATIVE)
        self._schematrons = [self._load(rel) for rel in SCHEMATRONS]

    def _load(self, rel: str) -> _Schematron:
        path = rewritten_path(compiled_path(self._root / "schematrons" / rel))
        exe = self._compile(path, rel)
        bind_parameters(exe, path, self._proc)
        return _Schematron(Path(rel).name, rel, exe)

    def _compile(self, path: Path, rel: str) -> Any:
        try:
            exe = self._compiler.compile_stylesheet(stylesheet_file=str(path))
        except Exception as exc:  # noqa: BLE001 - PySaxonApiError; its first line names the kit file
            raise KitError(f"schematron {rel} does not compile: {str(exc).strip()[:300]}", path=str(path)) from None
        if exe is None:
            raise KitError(f"schematron {rel} does not compile", path=str(path))
        return exe

    @property
    def xsd(self) -> XsdValidator | None:
        return self._xsd

    @property
    def schematrons(self) -> bool:
        return True

    # ------------------------------------------------------------------ checking

    def check(self, document: bytes, *, xsd: bool = True) -> Check:
        """XSD errors and schematron failures, texts redacted, each failure's result named.

        ``xsd=False``: the caller validated the very tree these bytes serialise (a build in this worker)."""
        start = time.perf_counter()
        refused = refused_input(document)
        if refused is not None:
            return Check(failures=(refused,), seconds=time.perf_counter() - start)
        xsd_errors = tuple(self._xsd.errors(document)) if xsd else ()
        try:
            reports = self._reports(document)
        except _Unreadable:
            unreadable = Failure("input", "/", "the document is not well-formed UTF-8 XML")
            return Check(xsd_errors=xsd_errors, failures=(unreadable,), seconds=time.perf_counter() - start)
        level1 = is_level1(document)
        failures: list[Failure] = []
        fallbacks = 0
        for name, svrl, fell_back in reports:
            fallbacks += fell_back
            if svrl is None:
                failures.append(Failure(name, "/", "the schematron could not run on this document"))
            elif not svrl:
                failures.append(Failure(name, "/", "schematron produced no report"))
            else:
                failures.extend(failures_of(name, svrl, level1=level1, redact=True))
        if failures:
            failures = _with_results(document, failures)
        return Check(xsd_errors=xsd_errors, failures=tuple(failures), seconds=time.perf_counter() - start,
                     fallbacks=fallbacks)

    def each_report(self, document: bytes) -> list[tuple[str, str | None]]:
        """The rewritten stylesheets' SVRL, None where one raised, no fallback: what the differential compares."""
        return [(name, svrl) for name, svrl, _ in self._reports(document, fallback=False)]

    def svrl_entries(self, document: bytes) -> list[SvrlEntry]:
        """Every assertion and report with its full text (fallback included)."""
        out: list[SvrlEntry] = []
        for name, svrl, _ in self._reports(document):  # _Unreadable propagates: the caller made the document
            out.extend(svrl_entries(name, svrl or ""))
        return out

    def _reports(self, document: bytes, *, fallback: bool = True) -> list[tuple[str, str | None, int]]:
        with self._lock:  # one Saxon tree and executables: one document at a time
            try:
                node = self._proc.parse_xml(xml_text=document.decode("utf-8"))
            except Exception:  # noqa: BLE001 - UnicodeDecodeError or PySaxonApiError (its text quotes the input)
                raise _Unreadable from None
            return [self._run(s, node, fallback) for s in self._schematrons]

    def _run(self, schematron: _Schematron, node: Any, fallback: bool) -> tuple[str, str | None, int]:
        try:
            return schematron.name, schematron.fast.transform_to_string(xdm_node=node) or "", 0
        except Exception:  # noqa: BLE001 - PySaxonApiError: a dynamic error in the rewritten form
            if not fallback:
                return schematron.name, None, 0
        if schematron.official is None:
            path = compiled_path(self._root / "schematrons" / schematron.rel)
            schematron.official = self._compile(path, schematron.rel)
        try:
            return schematron.name, schematron.official.transform_to_string(xdm_node=node) or "", 1
        except Exception:  # noqa: BLE001 - the official stylesheet cannot run on it either
            return schematron.name, None, 1


def bind_parameters(exe: Any, stylesheet: Path, processor: Any) -> None:
    """Give a rewritten stylesheet its value sets (R6) and the files ``doc-available`` finds (R9)."""
    for param in etree.parse(str(stylesheet), _PARSER).getroot().iterchildren(f"{{{XSL}}}param"):
        if param.get(HREF) is not None:
            exe.set_parameter(param.get("name"), _value_set(processor, stylesheet.parent / param.get(HREF, "")))
        elif param.get(AVAILABLE_DIR) is not None:
            names = _available(processor, stylesheet.parent / param.get(AVAILABLE_DIR, ""),
                               param.get(AVAILABLE_SUFFIX, ""))
            exe.set_parameter(param.get("name"), processor.make_string_value("|" + "".join(f"{n}|" for n in names)))


def _value_set(processor: Any, path: Path) -> Any:
    try:
        node = processor.parse_xml(xml_file_name=str(path.resolve()))
    except Exception:  # noqa: BLE001 - PySaxonApiError: the kit lacks a value set it names
        node = None
    if node is None:
        raise KitError("a schematron reads a value set the kit does not have", path=str(path.resolve()))
    return node


def _available(processor: Any, folder: Path, suffix: str) -> list[str]:
    """Names ``n`` whose ``folder/n+suffix`` parses: what ``doc-available`` answers true for."""
    names = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:  # iterdir: dot-files too, as doc-available
        if not path.name.endswith(suffix):
            continue
        try:
            parsed = processor.parse_xml(xml_file_name=str(path)) is not None
        except Exception:  # noqa: BLE001 - PySaxonApiError: not XML, so doc-available is false
            parsed = False
        if parsed and path.is_file():
            names.append(path.name[: len(path.name) - len(suffix)])
    return names


class _Unreadable(Exception):
    """Saxon could not parse the document."""


def _with_results(document: bytes, failures: list[Failure]) -> list[Failure]:
    """Each failure with the codes of the result it sits in (parsed again only when something failed)."""
    try:
        root = etree.fromstring(document, SAFE_PARSER)
    except etree.XMLSyntaxError:
        return failures
    return [Failure(f.schematron, f.location, f.text, result_codes(root, f.location)) for f in failures]
