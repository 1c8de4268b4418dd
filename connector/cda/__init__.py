"""cda stage: MappedReport → CR-BIO CDA R2 document, and its validation (XSD + ANS schematrons)."""

from .builder import build_document, build_tree, serialize
from .schematron import Failure, SchematronValidator
from .validate import FileReport, validate_files
from .xsd import XsdValidator, default_kit_dir, default_xsd_path

__all__ = [
    "Failure",
    "FileReport",
    "SchematronValidator",
    "XsdValidator",
    "build_document",
    "build_tree",
    "default_kit_dir",
    "default_xsd_path",
    "serialize",
    "validate_files",
]
