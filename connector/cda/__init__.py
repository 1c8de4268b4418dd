"""cda stage: MappedReport → CR-BIO CDA R2 document, and its validation (XSD + ANS schematrons)."""

from .biologist import Signer, resolve_biologist, validating_biologist
from .builder import build_document, build_tree, refuse_without_results, serialize
from .schematron import Failure, SchematronValidator
from .validate import FileReport, validate_files
from .xsd import XsdValidator, default_kit_dir, default_xsd_path

__all__ = [
    "Failure",
    "FileReport",
    "SchematronValidator",
    "Signer",
    "XsdValidator",
    "build_document",
    "build_tree",
    "default_kit_dir",
    "default_xsd_path",
    "refuse_without_results",
    "resolve_biologist",
    "serialize",
    "validate_files",
    "validating_biologist",
]
