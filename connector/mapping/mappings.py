"""The loaded mapping set: immutable, built by a pure function of the files (hot reload safe).

The service may call :meth:`Mappings.load` again whenever ``mappings/`` changes and keep
the previous instance when the new load raises :class:`MappingFileError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from connector.errors import MappingFileError
from connector.model import Coded

from .files import BatteryMapping, TestMapping, read_directory
from .loinc import LoincConcept, LoincTable, bundled, default_loinc_dir, is_loinc_system

__all__ = ["Mappings", "default_mappings_dir"]


def default_mappings_dir() -> Path:
    """The default mapping files (``mappings/`` at the top of the project), as the package carries them."""
    return bundled("mappings")


class Mappings:
    """Local test codes → LOINC/UCUM/chapter, battery codes, local unit spellings."""

    __slots__ = ("_batteries", "_by_loinc", "_concepts", "_directory", "_displays", "_loinc", "_tests", "_units",
                 "_version")

    def __init__(
        self,
        tests: Mapping[str, TestMapping],
        batteries: Mapping[str, BatteryMapping],
        units: Mapping[str, str],
        *,
        loinc: LoincTable,
        version: str,
        directory: Path,
    ) -> None:
        self._tests = MappingProxyType(dict(tests))
        self._batteries = MappingProxyType(dict(batteries))
        self._units = MappingProxyType(dict(units))
        by_loinc: dict[str, TestMapping] = {}
        for entry in self._tests.values():
            if entry.loinc is not None:
                by_loinc.setdefault(entry.loinc.code, entry)
        self._by_loinc = MappingProxyType(by_loinc)
        self._loinc = loinc
        self._version = version
        self._directory = directory
        self._displays: dict[str, str | None] = {}  # LOINC display look-ups (the imported table is on disk)
        self._concepts: dict[str, LoincConcept | None] = {}

    @classmethod
    def load(cls, directory: Path, *, loinc_dir: Path | None = None) -> Mappings:
        """Read every mapping file; raise MappingFileError (path, line, key) on the first error."""
        loinc = LoincTable.open(loinc_dir, subset_dir=default_loinc_dir())
        read = read_directory(Path(directory), loinc)
        if read.errors:
            first = read.errors[0]
            more = f" (+{len(read.errors) - 1} more: run `connector mappings check`)" if len(read.errors) > 1 else ""
            raise MappingFileError(first.message + more, path=first.path, line=first.line, key=first.key)
        return cls(read.tests, read.batteries, read.units, loinc=loinc, version=read.version, directory=Path(directory))

    @property
    def version(self) -> str:
        """Short hash of the mapping files' contents, for logs and metrics."""
        return self._version

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def tests(self) -> Mapping[str, TestMapping]:
        return self._tests

    @property
    def batteries(self) -> Mapping[str, BatteryMapping]:
        return self._batteries

    @property
    def units(self) -> Mapping[str, str]:
        return self._units

    def lookup(self, code: Coded) -> TestMapping | None:
        """The mapping for an OBX-3: by local code, or by LOINC (sent as such or as the alternate)."""
        if is_loinc_system(code.system):
            return self._by_loinc.get(code.code.strip())
        found = self._tests.get(code.code.strip())
        if found is None and code.alt_code and is_loinc_system(code.alt_system):
            found = self._by_loinc.get(code.alt_code.strip())
        return found

    def battery(self, code: Coded) -> BatteryMapping | None:
        return self._batteries.get(code.code.strip())

    def ucum_for(self, spelling: str) -> str:
        """The UCUM unit for a local spelling from the ``units:`` tables, else the spelling itself."""
        spelling = spelling.strip()
        return self._units.get(spelling, spelling)

    def loinc_display(self, code: str) -> str | None:
        """French display of a LOINC code from the mappings, else the subset/imported table."""
        entry = self._by_loinc.get(code)
        if entry is not None and entry.loinc is not None:
            return entry.loinc.display
        if code not in self._displays:
            concept = self._loinc.get(code)
            self._displays[code] = concept.display if concept else None
        return self._displays[code]

    def concept(self, code: str) -> LoincConcept | None:
        """The LOINC row for a code (subset, or imported table), cached: the mapper asks per result."""
        if code not in self._concepts:
            self._concepts[code] = self._loinc.get(code)
        return self._concepts[code]

    def french_display(self, code: str) -> str:
        """The mapping's display for a LOINC code, else the French display ANS or LOINC FR gives; never English."""
        entry = self._by_loinc.get(code)
        if entry is not None and entry.loinc is not None:
            return entry.loinc.display
        concept = self.concept(code)
        return concept.display_fr if concept is not None else ""
