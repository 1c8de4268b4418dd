"""Mapping stage: local lab codes → LOINC, local units → UCUM, CR-BIO chapters.

``Mappings.load`` reads ``mappings/*.yaml`` (hand-edited by lab IT, with sibling
``*.test.yaml`` examples); ``map_report`` turns a LabReport into a MappedReport;
``check_mappings`` is the lint behind ``connector mappings check``.
"""

from .check import check_mappings
from .files import BatteryMapping, Finding, TestMapping
from .loinc import LOINC_OID
from .loinc_import import import_loinc
from .mapper import MappingSettings, MappingStats, map_report, map_report_with_stats
from .mappings import Mappings, default_mappings_dir
from .suggest import Candidate, suggest

__all__ = [
    "LOINC_OID",
    "BatteryMapping",
    "Candidate",
    "Finding",
    "MappingSettings",
    "MappingStats",
    "Mappings",
    "TestMapping",
    "check_mappings",
    "default_mappings_dir",
    "import_loinc",
    "map_report",
    "map_report_with_stats",
    "suggest",
]
