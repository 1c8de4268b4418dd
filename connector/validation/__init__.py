"""validation: the official checks every CDA document passes before it is sent.

The ANS CDA schema (lxml) and the six CR-BIO 2024.01 schematrons (saxonche), run from an ANS kit
whose path is always given by the caller (configured, or installed with ``connector kit install``).

- :class:`ValidationGate` — the gate the pipeline calls: a pool of worker processes running the
  rewritten schematrons (:mod:`.fastpath`, proven equal to the official run);
- :class:`SchematronValidator` — the official run, unchanged stylesheets, one document at a time;
- :func:`install_kit` / :func:`check_kit` — the lab's copy of the kit in its data directory.
"""

from .gate import GateSettings, GateStatus, GateVerdict, ValidationGate, ValidationMode
from .install import INSTALL_DIR, KitReport, check_kit, install_kit
from .kit import SCHEMATRONS, AnsKit
from .pool import WorkerInfo, default_workers
from .schematron import SchematronValidator
from .svrl import Failure
from .validate import FileReport, validate_files
from .xsd import XSD_RELATIVE, XsdValidator

__all__ = [
    "INSTALL_DIR",
    "SCHEMATRONS",
    "XSD_RELATIVE",
    "AnsKit",
    "Failure",
    "FileReport",
    "GateSettings",
    "GateStatus",
    "GateVerdict",
    "KitReport",
    "SchematronValidator",
    "ValidationGate",
    "ValidationMode",
    "WorkerInfo",
    "XsdValidator",
    "check_kit",
    "default_workers",
    "install_kit",
    "validate_files",
]
