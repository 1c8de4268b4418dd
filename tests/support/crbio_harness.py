"""Drive generated ORU messages through parse → route → compose_artifacts, and judge each report.

Shared by the property tests (tests/property/): one :class:`Harness` per session holds the
validators, mappings and directory; :meth:`Harness.run` returns one :class:`Outcome` per report
with what a test needs to check the invariants of issue 12.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from connector.cda import XsdValidator
from connector.errors import ConnectorError, ReportRefused, UnmappedCode
from connector.logs import JsonFormatter, logger
from connector.mapping import Mappings, default_mappings_dir
from connector.model import Artifacts, LabIdentity, LabReport, Recipient, RecipientKind
from connector.ops.offline import offline_identity
from connector.parse import parse_message, split_messages
from connector.pipeline import compose_artifacts
from connector.send import Directory, Routing, RoutingSettings, import_directory, route
from tests.support.settings import MAPPING, message_settings, parse_settings, routing_settings

from .oru_strategy import GeneratedMessage, GeneratedPatient, directory_extract

__all__ = ["Harness", "Outcome", "mapping_caused"]

H = "{urn:hl7-org:v3}"
UCUM_FAILURE = "Ce code n'est pas dans UCUM"

# The six CR-BIO schematrons as one call: a document's failures, one line each ([] when it passes).
Schematrons = Callable[[bytes], list[str]]


@dataclass
class Outcome:
    """One report's fate: ``kind`` is built, refused:<reason>, held_by_mapping:<class> or error:<class>."""

    kind: str
    report: LabReport
    meant: GeneratedPatient
    message: bytes  # the message as split_messages returned it (the bytes the ids derive from)
    routing: Routing | None
    artifacts: Artifacts | None = None
    failures: list[str] = field(default_factory=list)  # XSD + schematron failures of a built document
    error: str = ""  # the refusal's or error's text
    logged: list[str] = field(default_factory=list)  # log lines written while building

    @property
    def root(self) -> etree._Element:
        assert self.artifacts is not None
        return etree.fromstring(self.artifacts.cda)


def mapping_caused(failures: list[str]) -> bool:
    """Failures that are all units the mapping stage let through without a UCUM spelling (its defect)."""
    return bool(failures) and all("terminologie.sch" in f and UCUM_FAILURE in f for f in failures)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    handler = _Capture()
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def generated_lab(*, standin: bool) -> LabIdentity:
    return LabIdentity(
        name="Laboratoire des Messages Générés", finess="920000001", oid_root="1.2.250.1.999.6",
        ipp_oid="1.2.250.1.999.6.4", street="2 rue des Essais", postal_code="92100", city="BOULOGNE",
        telecom="tel:0100000001", mailbox="labo@generes.test.mssante.fr", default_biologist_rpps="10000000099",
        default_biologist_family="RESPONSABLE", default_biologist_given="Jeanne", biologist_standin=standin,
    )


class Harness:
    """Validators, mappings and directory for a whole session; ``run`` judges one generated message."""

    def __init__(self, *, xsd: XsdValidator, schematron: Schematrons | None, scratch: Path) -> None:
        """``schematron``: the six schematrons' failures on a document (the gate's engine or the official
        run); None: XSD only, for tests that check other things (value sets)."""
        self.xsd = xsd
        self.schematron = schematron
        self.mappings = Mappings.load(default_mappings_dir())
        extract = scratch / "directory.txt"
        extract.write_text(directory_extract(), encoding="utf-8")
        import_directory(extract, db_path=scratch / "directory.sqlite")
        self.directory = Directory(scratch / "directory.sqlite")
        self.parse_settings = parse_settings(allow_test_ins=False)
        self.stats: Counter[str] = Counter()
        self.ids: dict[str, str] = {}  # every id minted so far → the input (message digest|patient) it came from

    def run(self, generated: GeneratedMessage, *, standin: bool, copy_to: bool = True) -> list[Outcome]:
        lab = generated_lab(standin=standin)
        routing = routing_settings(copy_to=copy_to)
        messages = split_messages(generated.data, source="generated.hl7")
        assert len(messages) == 1, "the generator writes one message per input"
        reports = parse_message(messages[0], source="generated.hl7", settings=self.parse_settings)
        assert len(reports) == len(generated.patients), "one report per PID group"
        return [self._one(report, meant, messages[0], lab, routing)
                for report, meant in zip(reports, generated.patients, strict=True)]

    def _one(self, report: LabReport, meant: GeneratedPatient, message: bytes, lab: LabIdentity,
             settings: RoutingSettings) -> Outcome:
        routing = route(report, self.directory, settings)
        ids = offline_identity(report, message=message, oid_root=lab.oid_root, zone=lab.timezone)
        outcome = Outcome("", report, meant, message, routing)
        recipients = routing.recipients
        if not recipients:
            # The service would wait for a directory entry (NoAddressYet); the document is still judged,
            # addressed to a placeholder (the CDA does not depend on who receives it).
            self.stats["waits_for_an_address"] += 1
            recipients = (Recipient(address="attente@generes.test.mssante.fr", kind=RecipientKind.PRESCRIBER),)
        with captured_logs() as lines:
            try:
                art = compose_artifacts(
                    report, mappings=self.mappings, mapping_settings=MAPPING, lab=lab, ids=ids,
                    recipients=recipients, message_settings=message_settings(sender=lab.mailbox),
                    xsd=self.xsd)
            except ReportRefused as exc:
                outcome.kind, outcome.error = f"refused:{exc.reason.value}", str(exc)
            except UnmappedCode as exc:
                outcome.kind, outcome.error = f"held_by_mapping:{type(exc).__name__}", str(exc)
            except ConnectorError as exc:
                outcome.kind, outcome.error = f"error:{type(exc).__name__}", str(exc)
            else:
                outcome.artifacts = art
                outcome.failures = self.xsd.errors(art.cda)
                if self.schematron is not None:
                    outcome.failures += self.schematron(art.cda)
                if not outcome.failures:
                    outcome.kind = "built"
                elif mapping_caused(outcome.failures):
                    outcome.kind = "invalid_by_mapping:unit_not_ucum"
                else:
                    outcome.kind = "invalid"
        outcome.logged = lines
        self.stats[outcome.kind] += 1
        if outcome.artifacts is not None and outcome.artifacts.standin is not None:
            self.stats["built_with_standin"] += 1
        self.stats["unresolved_recipients"] += len(routing.unresolved)
        return outcome

    def claim_ids(self, outcome: Outcome) -> list[str]:
        """Record the outcome's ids; return the ids another input already holds (must be empty)."""
        art = outcome.artifacts
        if art is None:
            return []
        owner = hashlib.sha256(outcome.message).hexdigest() + f"|{outcome.report.report_id}"
        ids = art.ids
        mine = [f"doc {ids.document_id_root}^{ids.document_id_extension}",
                f"set {ids.set_id_root}^{ids.set_id_extension}", f"msg {art.message_id}"]
        clashes = []
        for key in mine:
            if self.ids.setdefault(key, owner) != owner:
                clashes.append(key)
        return clashes

    def summary(self) -> str:
        return json.dumps(dict(sorted(self.stats.items())), indent=1)
