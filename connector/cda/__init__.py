"""cda stage: MappedReport → CR-BIO CDA R2 document.

The validation names are re-exported from ``connector.validation`` (where they moved) for the
callers that still import them from here.
"""

from connector.validation import Failure, FileReport, SchematronValidator, XsdValidator, validate_files

from .biologist import Signer, resolve_biologist, validating_biologist
from .builder import build_document, build_tree, refuse_without_results, serialize

__all__ = [
    "Failure",
    "FileReport",
    "SchematronValidator",
    "Signer",
    "XsdValidator",
    "build_document",
    "build_tree",
    "refuse_without_results",
    "resolve_biologist",
    "serialize",
    "validate_files",
    "validating_biologist",
]
