"""The mapping lint behind ``connector mappings check``: every problem with file, line and key.

Checks, beyond what ``Mappings.load`` refuses (YAML syntax, structure, duplicates, missing
chapters, trap units): UCUM grammar (ucumvert), LOINC codes unknown to the subset or to
the imported table, unit dimension against the LOINC PROPERTY, and the sibling test files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from connector.errors import MappingFileError

from .files import Finding, ReadResult, read_directory
from .loinc import LoincTable, default_loinc_dir
from .mappings import Mappings
from .sibling import run_sibling_tests
from .units import PROPERTY_DIMENSIONS, ucum_error, ucum_trap, unit_dimension

__all__ = ["check_mappings", "main"]


def check_mappings(directory: Path, *, loinc_dir: Path | None = None) -> list[Finding]:
    """All findings for ``directory``, errors first within each file, in file/line order."""
    directory = Path(directory)
    loinc = LoincTable.open(loinc_dir, subset_dir=default_loinc_dir())
    read = read_directory(directory, loinc)
    findings = list(read.findings)
    findings += _ucum_findings(read)
    findings += _loinc_findings(read, loinc)
    if not read.errors:
        try:
            mappings = Mappings.load(directory, loinc_dir=loinc_dir)
        except MappingFileError as exc:  # the files changed between the two reads
            findings.append(Finding(exc.path, exc.line, exc.key, "error", str(exc)))
        else:
            with_tests = {entry.source.split(":")[0] for entry in mappings.tests.values()}
            for path in read.files:
                if path.name in with_tests:
                    findings += run_sibling_tests(path, mappings)
    return sorted(findings, key=lambda f: (f.path, f.line or 0, f.severity != "error"))


def _ucum_findings(read: ReadResult) -> list[Finding]:
    out = []
    for unit, path, line, key in read.unit_refs:
        if reason := ucum_error(unit):
            out.append(Finding(path, line, key, "error", reason))
    return out


def _loinc_findings(read: ReadResult, loinc: LoincTable) -> list[Finding]:
    out = []
    for code, path, line, key, unit, unit_line in read.loinc_refs:
        concept = loinc.get(code)
        if concept is None:
            if loinc.has_full_table:
                out.append(Finding(path, line, key, "error", f"LOINC {code} is not in the imported LOINC table"))
            else:
                out.append(Finding(path, line, key, "warning",
                                   f"LOINC {code} is not in loinc/subset.csv: import Loinc.csv to check it "
                                   "(`connector mappings import-loinc`) or add its row to the subset"))
            continue
        if concept.status and concept.status not in ("ACTIVE", "TRIAL"):
            out.append(Finding(path, line, key, "warning", f"LOINC {code} has status {concept.status}"))
        reference = PROPERTY_DIMENSIONS.get(concept.kind)
        if unit and reference and not ucum_trap(unit) and not ucum_error(unit):
            actual, expected = unit_dimension(unit), unit_dimension(reference)
            if actual is not None and expected is not None and actual != expected:
                out.append(Finding(path, unit_line, key.replace(".loinc", ".unit"), "error",
                                   f"unit {unit} does not fit LOINC {code} "
                                   f"(property {concept.kind}: a unit like {reference})"))
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m connector.mapping check [DIR] [--loinc-dir DIR]``: print findings; 1 on errors."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "check":
        args = args[1:]
    loinc_dir = None
    if "--loinc-dir" in args:
        at = args.index("--loinc-dir")
        loinc_dir = Path(args[at + 1])
        del args[at:at + 2]
    from .mappings import default_mappings_dir

    directory = Path(args[0]) if args else default_mappings_dir()
    findings = check_mappings(directory, loinc_dir=loinc_dir)
    for finding in findings:
        print(finding)
    errors = sum(f.severity == "error" for f in findings)
    print(f"{directory}: {errors} error(s), {len(findings) - errors} warning(s)")
    return 1 if errors else 0
