"""``connector validate FILE... [--ans-kit DIR]``: XSD + the six schematrons on documents on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.errors import CdaBuildError

from .gate import ValidationGate, ValidationMode
from .kit import AnsKit
from .pool import default_workers
from .schematron import SchematronValidator
from .svrl import Failure
from .xsd import XsdValidator

__all__ = ["FileReport", "validate_files"]


@dataclass(frozen=True, slots=True)
class FileReport:
    """The outcome for one file: XSD errors (with line numbers) and schematron failed asserts."""

    path: Path
    xsd_errors: tuple[str, ...] = ()
    failures: tuple[Failure, ...] = ()
    schematron_checked: bool = False

    @property
    def ok(self) -> bool:
        return not self.xsd_errors and not self.failures

    @property
    def problems(self) -> tuple[str, ...]:
        """XSD errors then schematron failures, one line each (what ``connector validate`` prints)."""
        return tuple(f"xsd {e}" for e in self.xsd_errors) + tuple(
            str(f) for f in self.failures
        )

    def lines(self) -> list[str]:
        """Human-readable lines for the CLI."""
        status = "OK" if self.ok else "FAIL"
        scope = "XSD + schematrons" if self.schematron_checked else "XSD only"
        out = [f"{self.path}: {status} ({scope})"]
        out += [f"  xsd {e}" for e in self.xsd_errors]
        out += [f"  {f}" for f in self.failures]
        return out


def validate_files(
    paths: Sequence[Path], *, kit_dir: Path | None, xsd_only: bool = False, xsd_path: Path | None = None,
    official: bool = False, workers: int | None = None,
) -> list[FileReport]:
    """Validate each file against the kit at ``kit_dir`` (or, XSD only, the schema at ``xsd_path``).

    The schematrons run on the gate's worker pool (every core), or, with ``official``, as the ANS
    compiled them, one file after the other (the reference the gate is proven equal to).
    """
    kit = AnsKit.at(Path(kit_dir)) if kit_dir is not None else None
    xsd_path = kit.xsd_path if kit is not None else xsd_path
    if xsd_path is None or not xsd_path.is_file():
        raise CdaBuildError("CDA schema not found: pass --ans-kit DIR, or install the kit with `connector kit install`")
    if not xsd_only and kit is None:
        raise CdaBuildError("ANS kit not found: pass --ans-kit DIR (or use --xsd-only)")
    documents: dict[Path, bytes] = {}
    unreadable: dict[Path, FileReport] = {}
    for path in map(Path, paths):
        try:
            documents[path] = path.read_bytes()
        except OSError as exc:
            unreadable[path] = FileReport(path, (f"cannot read file: {exc.strerror}",))
    checked = _check(documents, kit, xsd_path, xsd_only=xsd_only, official=official, workers=workers)
    return [unreadable.get(Path(p)) or checked[Path(p)] for p in paths]


_DOCUMENTS_PER_WORKER = 300


def _check(documents: dict[Path, bytes], kit: AnsKit | None, xsd_path: Path, *, xsd_only: bool, official: bool,
           workers: int | None) -> dict[Path, FileReport]:
    if xsd_only or not documents:
        xsd = XsdValidator(xsd_path)
        return {p: FileReport(p, tuple(xsd.errors(d))) for p, d in documents.items()}
    assert kit is not None
    if official:
        xsd = XsdValidator(xsd_path)
        schematron = SchematronValidator(kit.root)
        return {p: FileReport(p, tuple(xsd.errors(d)), tuple(schematron.failures(d)), True)
                for p, d in documents.items()}
    # Each worker first compiles the six schematrons (15–40 s of CPU), then checks a document in
    # about 70 ms: unless asked, a second worker starts only for a few hundred documents.
    size = min(workers or min(default_workers(), -(-len(documents) // _DOCUMENTS_PER_WORKER)), len(documents))
    with ValidationGate.open(mode=ValidationMode.FULL, kit=kit, workers=size) as gate:
        verdicts = gate.check_many(documents.values())
        return {p: FileReport(p, v.xsd_errors, v.failures, True) for p, v in zip(documents, verdicts, strict=True)}
