"""``connector validate FILE... [--ans-kit DIR]``: XSD + the six schematrons on documents on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.errors import CdaBuildError

from .schematron import Failure, SchematronValidator
from .xsd import XSD_RELATIVE, XsdValidator

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
    paths: Sequence[Path], *, kit_dir: Path | None, xsd_only: bool = False, xsd_path: Path | None = None
) -> list[FileReport]:
    """Validate each file against the kit at ``kit_dir`` (or, XSD only, the schema at ``xsd_path``)."""
    kit = Path(kit_dir) if kit_dir is not None else None
    xsd_path = kit / XSD_RELATIVE if kit is not None else xsd_path
    if xsd_path is None or not xsd_path.is_file():
        raise CdaBuildError(
            "CDA schema not found: pass --ans-kit DIR or set CONNECTOR_CDA_XSD"
        )
    xsd = XsdValidator(xsd_path)
    schematron = None
    if not xsd_only:
        if kit is None:
            raise CdaBuildError(
                "ANS kit not found: pass --ans-kit DIR (or use --xsd-only)"
            )
        schematron = SchematronValidator(kit)
    reports = []
    for path in paths:
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reports.append(FileReport(path, (f"cannot read file: {exc.strerror}",)))
            continue
        errors = tuple(xsd.errors(data))
        failures = tuple(schematron.failures(data)) if schematron is not None else ()
        reports.append(FileReport(path, errors, failures, schematron is not None))
    return reports
