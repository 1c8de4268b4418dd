"""The six ANS schematrons of CR-BIO 2024.01, run with SaxonC-HE (``saxonche``, XSLT 2/3, no JVM).

The schematrons are ``queryBinding="xslt2"``: libxslt (lxml) cannot run them. Each ``.sch``
is compiled with the kit's ISO skeleton (include → abstract expand → SVRL for XSLT2) into
an ``.xsl`` written *next to its .sch* in a private copy of the kit, so the relative
``doc()`` paths to the value sets resolve. Compiling takes ≈12 s, so compiled stylesheets
are cached in ``work_dir`` under a hash of the kit; a second process reuses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from connector.errors import CdaBuildError

__all__ = ["LEVEL1_WAIVER", "SCHEMATRONS", "Failure", "SchematronValidator"]

# Relative to ``<kit>/schematrons``: the full check of a CR-BIO 2024.01 document.
SCHEMATRONS = (
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/IHE.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "CI-SIS_BIO-CR-BIO_2024.01.sch",
)
ENGINE_STEPS = (
    "iso_dsdl_include.xsl",
    "iso_abstract_expand.xsl",
    "iso_svrl_for_xslt2.xsl",
)
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
# Roles that report, not fail (ANS uses role="warning"/"info" on some asserts).
NON_FAILING_ROLES = frozenset({"warning", "warn", "info", "information"})
COMPILED_SUFFIX = ".compiled.xsl"
# The one assert of the six that a level-1 (nonXMLBody) CR-BIO cannot satisfy: the volet wants the
# XD-LAB templateId 1.3.6.1.4.1.19376.1.3.3 on every ClinicalDocument, while StrucMin admits exactly
# three templateIds (…1.2.20, …2.8.2.1, …1.1.1.1) on a nonXMLBody document. The ANS's own level-1
# example (BIO-CR-BIO_2021.01_CDA-R2-Niveau-1.xml) fails it too and declares only StrucMin +
# terminologies. Waived for nonXMLBody documents only; proof: tests/integration/test_cda_level1.py.
LEVEL1_WAIVER = (
    "CI-SIS_BIO-CR-BIO_2024.01.sch",
    "/ClinicalDocument",
    "@root='1.3.6.1.4.1.19376.1.3.3'",
)
_NON_XML_BODY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?nonXMLBody[\s>/]")
_STRUCTURED_BODY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?structuredBody[\s>/]")


@dataclass(frozen=True, slots=True)
class Failure:
    """One SVRL ``failed-assert``: which schematron, the XPath location and the assertion text."""

    schematron: str
    location: str
    text: str

    def __str__(self) -> str:
        return f"{self.schematron}: {self.location}: {self.text}"


def kit_digest(kit_dir: Path) -> str:
    """A hash of the kit's schematron and value-set files (names, sizes, mtimes): the cache key."""
    h = hashlib.sha256()
    for path in sorted(kit_dir.rglob("*")):
        if path.is_file() and path.suffix in (".sch", ".xsl", ".xml"):
            st = path.stat()
            h.update(
                f"{path.relative_to(kit_dir)}|{st.st_size}|{int(st.st_mtime)}\n".encode()
            )
    return h.hexdigest()[:16]


def _default_work_dir() -> Path:
    return (
        Path(tempfile.gettempdir())
        / f"connector-schematron-{os.getuid() if hasattr(os, 'getuid') else 0}"
    )


class SchematronValidator:
    """Compiles the six schematrons once; ``failures()`` may be called from several threads."""

    def __init__(self, kit_dir: Path, *, work_dir: Path | None = None) -> None:
        try:
            from saxonche import PySaxonProcessor
        except ImportError:  # pragma: no cover - saxonche is a declared dependency
            raise CdaBuildError(
                "schematron validation needs the saxonche package"
            ) from None
        kit_dir = Path(kit_dir)
        if not (kit_dir / "schematrons").is_dir():
            raise CdaBuildError(
                f"ANS kit not found at {kit_dir} (expected a schematrons/ folder)"
            )
        self._root = self._prepare_copy(kit_dir, work_dir or _default_work_dir())
        self._proc = PySaxonProcessor(license=False)
        self._lock = threading.Lock()
        self._executables = []
        compiler = self._proc.new_xslt30_processor()
        for rel in SCHEMATRONS:
            xsl = self._compiled(rel, compiler)
            exe = compiler.compile_stylesheet(stylesheet_file=str(xsl))
            if exe is None:
                raise CdaBuildError(f"schematron {rel} did not compile")
            self._executables.append((Path(rel).name, exe))

    # ------------------------------------------------------------------ preparation

    @staticmethod
    def _prepare_copy(kit_dir: Path, work_dir: Path) -> Path:
        """A private, writable copy of the kit keyed by its hash (reused when present)."""
        target = work_dir / f"kit-{kit_digest(kit_dir)}"
        marker = target / ".complete"
        if not marker.exists():
            work_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix="kit-", dir=work_dir))
            shutil.copytree(kit_dir, staging / "kit", dirs_exist_ok=True)
            for path in (staging / "kit").rglob("*"):  # the reference kit is read-only
                path.chmod(path.stat().st_mode | 0o200)
            (staging / "kit" / ".complete").write_text("ok\n")
            with contextlib.suppress(OSError):  # another process won the race: use its copy
                os.replace(staging / "kit", target)
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _compiled(self, rel: str, compiler: Any) -> Path:  # saxonche ships no type hints
        sch = self._root / "schematrons" / rel
        out = sch.with_name(sch.stem + COMPILED_SUFFIX)
        if out.exists():
            return out
        engine = self._root / "schematrons" / "moteur"
        source = sch
        for i, step in enumerate(ENGINE_STEPS):
            exe = compiler.compile_stylesheet(stylesheet_file=str(engine / step))
            if exe is None:
                raise CdaBuildError(f"schematron engine step {step} did not compile")
            target = (
                sch.with_name(f"{sch.stem}.step{i}.tmp")
                if i < len(ENGINE_STEPS) - 1
                else out.with_suffix(".tmp")
            )
            exe.transform_to_file(source_file=str(source), output_file=str(target))
            if not target.exists():
                raise CdaBuildError(f"schematron {rel}: step {step} produced nothing")
            source = target
        os.replace(out.with_suffix(".tmp"), out)
        return out

    # ------------------------------------------------------------------ validation

    def failures(self, document: bytes, *, waive_level1: bool = True) -> list[Failure]:
        """SVRL ``failed-assert`` of the six schematrons (warnings and info ignored).

        For a level-1 document (``nonXMLBody``) the :data:`LEVEL1_WAIVER` assert is left
        out unless ``waive_level1`` is False (tests that prove the contradiction).
        """
        if b"<!DOCTYPE" in document[:4096] or b"<!ENTITY" in document:
            # Saxon would resolve entities and external DTDs: such a file is not a CDA we accept.
            return [Failure("input", "/", "DOCTYPE or ENTITY declarations are refused")]
        with (
            self._lock
        ):  # SaxonC processors are not documented as thread-safe: serialise
            node = self._proc.parse_xml(xml_text=document.decode("utf-8"))
            reports = []
            for name, exe in self._executables:
                svrl = exe.transform_to_string(xdm_node=node)
                reports.append((name, svrl or ""))
        failures: list[Failure] = []
        for name, svrl in reports:
            if not svrl:
                failures.append(Failure(name, "/", "schematron produced no report"))
                continue
            failures.extend(_failed_asserts(name, svrl))
        if waive_level1 and is_level1(document):
            failures = [f for f in failures if not _waived(f)]
        return failures


def is_level1(document: bytes) -> bool:
    """A ``nonXMLBody`` document (a tag, not text: escaped text cannot start with ``<``)."""
    return bool(_NON_XML_BODY.search(document)) and not _STRUCTURED_BODY.search(document)


def _waived(failure: Failure) -> bool:
    name, location, marker = LEVEL1_WAIVER
    return failure.schematron == name and failure.location == location and marker in failure.text


def _failed_asserts(name: str, svrl: str) -> list[Failure]:
    root = etree.fromstring(
        svrl.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True)
    )
    out = []
    for fa in root.iter(f"{SVRL}failed-assert"):
        if (fa.get("role") or "").lower() in NON_FAILING_ROLES:
            continue
        text = " ".join("".join(str(t) for t in fa.itertext()).split())
        out.append(Failure(name, fa.get("location", ""), text))
    return out
