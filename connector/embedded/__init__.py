"""Shape B (ANS "Transmission de documents CDA en HL7v2"): the SIL sends the CDA, the connector forwards it.

artifacts_from_embedded   the zip and e-mail around the SIL's own CDA (N3, else N1)
check_embedded            every check needing no directory or store (for the AE before ACK)
lifecycle                 "F" new, "C" replaces, "D" delete, from the document OBX-11
"""

from __future__ import annotations

from .document import SilDocument, read_document
from .forward import artifacts_from_embedded, check_embedded, lifecycle

__all__ = ["SilDocument", "artifacts_from_embedded", "check_embedded", "lifecycle", "read_document"]
