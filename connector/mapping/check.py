"""The mapping lint behind ``connector mappings check``: every problem with file, line and key.

Checks, beyond what ``Mappings.load`` refuses (YAML syntax, structure, duplicates, missing
chapters, trap units): UCUM grammar (ucumvert), units written in another form than the
one the ANS kit knows (``ug/dl`` → ``ug/dL``), LOINC codes unknown to the subset or to the
imported table, units that contradict the LOINC PROPERTY (a Mass/volume code in mmol/L:
the mapper would hold every such report), displays that do not name the LOINC analyte
(``Urée`` mapped to *Urea nitrogen*), and the sibling test files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from connector.errors import MappingFileError

from .files import Finding, ReadResult, read_directory
from .french import STOP_WORDS, read_query, stem, words
from .loinc import LoincConcept, LoincTable, default_loinc_dir
from .loinc_names import component_of
from .mappings import Mappings
from .property_fit import Fit, property_fit, property_label
from .sibling import run_sibling_tests
from .unit_forms import lab_units, read_unit
from .units import ucum_error, ucum_trap

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
        findings += _display_findings(read, loinc)
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
    known = lab_units()
    for unit, path, line, key in read.unit_refs:
        if reason := ucum_error(unit):
            out.append(Finding(path, line, key, "error", reason))
            continue
        preferred = read_unit(unit).ucum
        if preferred is not None and preferred != unit:
            out.append(Finding(path, line, key, "warning", f"write {preferred} (the form the ANS kit accepts), "
                                                           f"not {unit}"))
        elif unit not in known:
            out.append(Finding(path, line, key, "warning",
                               f"{unit} is valid UCUM but not in connector/mapping/data/units.csv: check that the "
                               "ANS UCUM list accepts it, then add it there with its French label"))
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
                                   f"LOINC {code} is not in loinc/subset.csv: import the LOINC release to check it "
                                   "(`connector loinc import Loinc.csv`)"))
            continue
        if concept.status and concept.status not in ("ACTIVE", "TRIAL"):
            out.append(Finding(path, line, key, "warning", f"LOINC {code} has status {concept.status}"))
        if not unit or ucum_trap(unit) or ucum_error(unit):
            continue
        if property_fit(concept.kind, read_unit(unit).ucum or unit) is Fit.CONFLICT:
            out.append(Finding(path, unit_line, key.replace(".loinc", ".unit"), "error",
                               f"unit {unit} does not fit LOINC {code} (property {concept.kind}: "
                               f"{property_label(concept.kind)}); every report with this test would wait"))
    return out


def _display_findings(read: ReadResult, loinc: LoincTable) -> list[Finding]:
    """A display that names none of the words of the LOINC analyte's main part: a likely wrong code."""
    out = []
    for entry in read.tests.values():
        if entry.loinc is None or not entry.display:
            continue
        concept = loinc.get(entry.loinc.code)
        if concept is None:
            continue
        missing = _unnamed_analyte_words(entry.display, concept)
        if missing:
            hint = f'connector mappings suggest "{entry.display}"' + (f" --unit '{entry.unit}'" if entry.unit else "")
            path, _, line = entry.source.rpartition(":")
            folder = read.files[0].parent if read.files else Path(".")
            out.append(Finding(str(folder / path), int(line) if line.isdigit() else None,
                               f"tests.{entry.local_code}.loinc", "warning",
                               f"LOINC {concept.code} is '{concept.long_name or concept.display}': the display "
                               f"'{entry.display}' does not name '{' '.join(missing)}'; check the code ({hint})"))
    return out


def _unnamed_analyte_words(display: str, concept: LoincConcept) -> list[str]:
    component = concept.component or component_of(concept.long_name, concept.display_fr)
    main = re.sub(r"\([^)]*\)", " ", component.split("/", 1)[0])  # (PT), (T4): abbreviations of the words before
    query = read_query(display)
    if not query.meaningful:
        return []
    asked = query.all_words
    return [w for w in words(main) if w not in STOP_WORDS and not w.isdigit() and stem(w) not in asked
            and w not in ("total", "actual", "normal")]


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
