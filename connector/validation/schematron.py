"""The six ANS schematrons of CR-BIO 2024.01, run as the ANS compiled them (SaxonC-HE, no JVM).

This is the *official run*: each ``.sch`` compiled by the kit's own ISO skeleton, executed
unchanged on the document. It is the reference the fast gate (:mod:`connector.validation.gate`)
is proven equal to, and what ``connector validate --official`` runs. About 0.8 s per 20-result
report on one core, after ≈15 s of compilation (cached on disk, see :func:`prepare_kit`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from connector.errors import CdaBuildError, KitError

from .kit import SCHEMATRONS, AnsKit, compiled_path, prepare_kit, saxon_processor
from .svrl import LEVEL1_WAIVER, Failure, SvrlEntry, failures_of, is_level1, refused_input, svrl_entries

__all__ = ["LEVEL1_WAIVER", "SCHEMATRONS", "Failure", "SchematronValidator", "is_level1"]


class SchematronValidator:
    """Compiles the six schematrons once; ``failures()`` may be called from several threads."""

    def __init__(self, kit_dir: Path, *, work_dir: Path | None = None) -> None:
        try:
            kit = AnsKit.at(Path(kit_dir))
        except KitError as exc:
            raise CdaBuildError(f"ANS kit not usable: {exc}") from None
        root = prepare_kit(kit, work_dir=work_dir)
        self._proc = saxon_processor()
        self._lock = threading.Lock()
        self._executables: list[tuple[str, Any]] = []  # saxonche ships no type hints
        compiler = self._proc.new_xslt30_processor()
        for rel in SCHEMATRONS:
            xsl = compiled_path(root / "schematrons" / rel)
            try:
                exe = compiler.compile_stylesheet(stylesheet_file=str(xsl))
            except Exception:  # noqa: BLE001 - PySaxonApiError
                exe = None
            if exe is None:
                raise CdaBuildError(f"schematron {rel} did not compile")
            self._executables.append((Path(rel).name, exe))

    def reports(self, document: bytes) -> list[tuple[str, str]]:
        """(schematron name, SVRL text) for each of the six, in order; a Saxon error propagates."""
        with self._lock:  # SaxonC processors are not documented as thread-safe: serialise
            node = self._proc.parse_xml(xml_text=document.decode("utf-8"))
            return [(name, exe.transform_to_string(xdm_node=node) or "") for name, exe in self._executables]

    def each_report(self, document: bytes) -> list[tuple[str, str | None]]:
        """Like :meth:`reports`, with None for a schematron that raised (the differential test's view)."""
        with self._lock:
            node = self._proc.parse_xml(xml_text=document.decode("utf-8"))
            out: list[tuple[str, str | None]] = []
            for name, exe in self._executables:
                try:
                    out.append((name, exe.transform_to_string(xdm_node=node) or ""))
                except Exception:  # noqa: BLE001 - PySaxonApiError: recorded as "did not run"
                    out.append((name, None))
            return out

    def failures(self, document: bytes, *, waive_level1: bool = True,
                 reports: list[tuple[str, str]] | None = None) -> list[Failure]:
        """SVRL ``failed-assert`` of the six schematrons (warnings and info ignored).

        For a level-1 document (``nonXMLBody``) the :data:`LEVEL1_WAIVER` assert is left
        out unless ``waive_level1`` is False (tests that prove the contradiction).
        ``reports``: this document's :meth:`reports`, when the caller already ran them.
        """
        refused = refused_input(document)
        if refused is not None:
            return [refused]
        level1 = waive_level1 and is_level1(document)
        failures: list[Failure] = []
        for name, svrl in self.reports(document) if reports is None else reports:
            if not svrl:
                failures.append(Failure(name, "/", "schematron produced no report"))
                continue
            failures.extend(failures_of(name, svrl, level1=level1))
        return failures

    def svrl_entries(self, document: bytes) -> list[SvrlEntry]:
        """All assertions and reports with their full texts (the differential test's reference)."""
        return [entry for name, svrl in self.reports(document) for entry in svrl_entries(name, svrl)]
