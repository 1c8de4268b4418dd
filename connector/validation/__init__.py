"""validation: the official checks every CDA document passes before it is sent.

The ANS CDA schema (lxml) and the six CR-BIO 2024.01 schematrons (saxonche), run from an ANS kit
whose path is always given by the caller (configured or installed with ``connector kit install``).
"""

from .schematron import Failure, SchematronValidator
from .validate import FileReport, validate_files
from .xsd import XSD_RELATIVE, XsdValidator

__all__ = [
    "XSD_RELATIVE",
    "Failure",
    "FileReport",
    "SchematronValidator",
    "XsdValidator",
    "validate_files",
]
