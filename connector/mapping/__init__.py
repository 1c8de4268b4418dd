"""Mapping stage: local lab codes → LOINC, local units → UCUM, CR-BIO chapters.

``Mappings.load`` reads ``mappings/*.yaml`` (hand-edited by lab IT, with sibling
``*.test.yaml`` examples); ``map_report`` turns a LabReport into a MappedReport (or raises
UnitNotUcum / LoincUnitConflict: the report waits); ``check_mappings`` is the lint behind
``connector mappings check``, ``suggest`` and ``draft_mapping`` help write the files;
``read_unit`` / ``unit_label`` read a unit as UCUM and print it as a French report does.
"""

from .check import check_mappings
from .draft import DraftLine, draft_mapping, render_yaml
from .files import BatteryMapping, Finding, TestMapping
from .loinc import LOINC_OID
from .loinc_import import import_loinc
from .mapper import MappingSettings, MappingStats, covers, map_report, map_report_with_stats
from .mappings import Mappings, default_mappings_dir
from .suggest import Candidate, suggest
from .unit_forms import UnitReading, read_unit, unit_label

__all__ = [
    "LOINC_OID",
    "BatteryMapping",
    "Candidate",
    "DraftLine",
    "Finding",
    "MappingSettings",
    "MappingStats",
    "Mappings",
    "TestMapping",
    "UnitReading",
    "check_mappings",
    "covers",
    "default_mappings_dir",
    "draft_mapping",
    "import_loinc",
    "map_report",
    "map_report_with_stats",
    "read_unit",
    "render_yaml",
    "suggest",
    "unit_label",
]
