"""cda stage: MappedReport → CR-BIO CDA R2 document.

The validation names are re-exported from ``connector.validation`` (where they moved) for the
callers that still import them from here.
"""

from connector.validation import Failure, FileReport, SchematronValidator, XsdValidator, validate_files

from .builder import build_document, build_tree, serialize

__all__ = [
    "Failure",
    "FileReport",
    "SchematronValidator",
    "XsdValidator",
    "build_document",
    "build_tree",
    "serialize",
    "validate_files",
]
