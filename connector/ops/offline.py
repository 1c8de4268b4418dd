"""`connector build` and `connector preview`: the pipeline's build path on files, offline.

Sends nothing and writes no store: each report gets version-1 ids derived from its report id
*and the message bytes*, so building the same input twice gives the same files while two SIL
messages that reuse an MSH-10 never share a document id, setId or Message-ID (nor a folder).
"""

from __future__ import annotations

import re
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from connector.config import Config
from connector.config.settings import dmp_credentials, dmp_settings, pipeline_settings, validation_settings
from connector.dmp import DmpCredentials, DmpSettings, plain_oid_identity
from connector.dmp.demo import demo_settings
from connector.dmp.offline import REQUEST_FILE, dmp_request_for
from connector.errors import ConnectorError, DocumentRejected, InputError, KitError, RoutingError
from connector.files import DIR_MODE, fsync_dir, write_private
from connector.mapping import Mappings
from connector.model import Artifacts, DocumentIdentity, LabReport, Recipient
from connector.model.labtime import with_zone
from connector.model.oids import IdKind, offline_extension, oid_for
from connector.parse import parse_message, split_messages
from connector.pipeline import compose_artifacts
from connector.pipeline.build import KILL_MARGIN
from connector.pipeline.compose import prepare
from connector.pipeline.workers import BuildJob, WorkerDefect, artifacts_of
from connector.send import Directory, RoutingSettings, import_directory, route
from connector.validation import AnsKit, ValidationGate, ValidationMode

__all__ = ["BuildResults", "build_files", "offline_gate", "offline_identity"]

MAX_LISTED = 20  # problems listed per rejected document: a broken builder would otherwise print thousands


_MSH7 = re.compile(r"(\d{4,14})(?:\.\d+)?([+-]\d{4})?")
_EPOCH = "19700101000000"  # fills what MSH-7 leaves out (a message time with the year only)


@dataclass
class BuildResults:
    built: list[tuple[str, Path]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a report got no DMP request
    # Files were written, but someone the message names gets no e-mail (with why): exit code 0 all the same.
    warnings: list[str] = field(default_factory=list)


def offline_identity(report: LabReport, *, message: bytes, oid_root: str, zone: str) -> DocumentIdentity:
    """Version-1 ids from the report id and ``message`` (the bytes the report was parsed from).

    The document time is MSH-7 (its own zone, else the lab's zone at that local time).
    """
    extension = offline_extension(report.report_id, message)
    match = _MSH7.match(report.header.message_datetime)
    digits = match.group(1) if match else ""
    stamp = digits + _EPOCH[len(digits):] + (match.group(2) or "" if match else "")
    effective = with_zone(stamp, zone) or with_zone(_EPOCH, zone) or ""
    return DocumentIdentity(
        document_id_root=oid_for(oid_root, IdKind.DOCUMENT), document_id_extension=extension,
        set_id_root=oid_for(oid_root, IdKind.SET), set_id_extension=extension, version=1,
        effective_time=effective,
    )


def _route_offline(report: LabReport, directory: Directory | None, routing: RoutingSettings,
                   where: str) -> tuple[tuple[Recipient, ...], list[str]]:
    """The recipients, and a warning for each one the message names who cannot be reached: offline nobody is
    waited for, the e-mail is still written (with no To when nobody can be)."""
    where = f"{where}: report {report.report_id}"
    try:
        routed = route(report, directory, routing)
    except RoutingError as exc:
        return (), [f"{where}: {str(exc).removeprefix(f'report {report.report_id}: ')}; "
                    "the e-mail is written with no To"]
    # Printed by `connector build`, as the service logs recipient.unresolved and tells the SIL.
    warnings = [f"{where}: {missing.reason}" for missing in routed.unresolved]
    if not routed.recipients:
        warnings.append(f"{where}: nobody to send to; the e-mail is written with no To")
    return routed.recipients, warnings


def _directory(config: Config, scratch: Path) -> Directory | None:
    if config.directory_path.exists():
        return Directory(config.directory_path)
    if config.mode == "test":  # embedded defaults: the demo's synthetic directory rows
        sample = resources.files("connector.demo").joinpath("directory.txt")
        with resources.as_file(sample) as extract:
            import_directory(extract, db_path=scratch / "directory.sqlite")
        return Directory(scratch / "directory.sqlite")
    return None


def _dmp_signing(config: Config, scratch: Path, notes: list[str]) -> tuple[DmpSettings, DmpCredentials]:
    """The configured DMP settings and certificates; a demo PKI made for this run when none are configured."""
    if config.dmp.sign_cert_file:
        return dmp_settings(config), dmp_credentials(config)
    notes.append("dmp-request.mime is signed with a demo certificate made for this run (dmp.sign_cert_file is "
                 "not configured)")
    return demo_settings(dmp_settings(config), scratch / "dmp-pki")


def offline_gate(config: Config, ans_kit: Path | None, *, parallel: bool = True) -> ValidationGate:
    """``--ans-kit DIR``: the service's full gate (XSD + the six schematrons) on that kit. Without it, the
    configured kit's XSD when there is one (a quick check, no minute of schematron compilation).
    ``parallel``: the builds too run in the worker processes (issue 16), when there are several."""
    settings = validation_settings(config)
    builds = parallel and settings.builds_in_workers
    if ans_kit is not None:
        return ValidationGate.open(mode=ValidationMode.FULL, kit=AnsKit.at(ans_kit), workers=settings.workers,
                                   builds=True)
    if settings.mode is ValidationMode.OFF:
        return ValidationGate.open(mode=ValidationMode.OFF, workers=settings.workers, builds=builds)
    try:
        kit = AnsKit.at(settings.kit)
    except KitError:
        return ValidationGate.open(mode=ValidationMode.OFF, reduced=True, workers=settings.workers, builds=builds)
    return ValidationGate.open(mode=ValidationMode.XSD, kit=kit, workers=settings.workers, builds=builds)


def build_files(inputs: list[Path], out_dir: Path, config: Config,
                progress: Callable[[int], object] | None = None, *, dmp: bool = False,
                ans_kit: Path | None = None, parallel: bool = True) -> BuildResults:
    """``dmp``: documents get root-only OID ids (the DMP's rule) and each report with a qualified INS also gets
    ``dmp-request.mime``, the TD2.1 signed with the configured DMP certificates (else a demo one made for this
    run). ``ans_kit``: every document passes the official XSD and six schematrons first; a failing one is not
    written (named in ``failures``). ``parallel``: build on every core (False for one report: no worker start-up)."""
    with offline_gate(config, ans_kit, parallel=parallel) as gate:
        return _OfflineBuild(out_dir, config, gate, dmp=dmp).run(inputs, progress)


Result = Callable[[], Artifacts]  # the report's artifacts, gated; raises what the build or the gate refused


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pending:
    """A report in flight: where it came from, its folder's extension, its warnings, and its result."""

    path: Path
    report: LabReport
    extension: str
    warnings: list[str]
    result: Result


class _OfflineBuild:
    """Parse and map here, build and validate on the workers, write in input order."""

    def __init__(self, out_dir: Path, config: Config, gate: ValidationGate, *, dmp: bool) -> None:
        self.out_dir, self.config, self.gate, self.dmp = out_dir, config, gate, dmp
        self.results = BuildResults()
        self.settings = pipeline_settings(config)
        self.mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
        # Reports in flight on the workers: enough to keep each busy while this process maps the next ones.
        self.window = 2 * gate.pool.size if gate.builds and gate.pool is not None else 0
        self.pending: deque[_Pending] = deque()
        self.folders: dict[str, str] = {}  # report id → the document extension written under that folder name

    def run(self, inputs: list[Path], progress: Callable[[int], object] | None) -> BuildResults:
        with tempfile.TemporaryDirectory(prefix="connector-build-") as scratch:
            self.directory = _directory(self.config, Path(scratch))
            if self.directory is None:
                self.results.notes.append(
                    f"no MSSanté directory at {self.config.directory_path}: recipients are not looked up (each one "
                    "the messages name is a warning); `connector directory import FILE`")
            self.dmp_setup = _dmp_signing(self.config, Path(scratch), self.results.notes) if self.dmp else None
            for path in inputs:
                if progress is not None:
                    progress(1)
                for report, message in self._reports(path):
                    self._start(path, report, message)
                    while len(self.pending) > self.window:
                        self._finish(self.pending.popleft())
            while self.pending:
                self._finish(self.pending.popleft())
        return self.results

    def _reports(self, path: Path) -> list[tuple[LabReport, bytes]]:
        """Each report with the message bytes it came from (its offline ids derive from them)."""
        messages = split_messages(path.read_bytes(), source=path.name)
        if not messages:
            self.results.failures.append(InputError("at least one HL7 message starting with MSH",
                                                    source=str(path)).describe())
        out: list[tuple[LabReport, bytes]] = []
        for index, message in enumerate(messages):
            try:
                out += [(report, message) for report in
                        parse_message(message, source=str(path), index=index, settings=self.settings.parse)]
            except InputError as exc:
                self.results.failures.append(exc.located(str(path)).describe())
        return out

    def _start(self, path: Path, report: LabReport, message: bytes) -> None:
        settings, lab, gate = self.settings, self.settings.lab, self.gate
        try:
            recipients, warnings = _route_offline(report, self.directory, settings.routing, f"{path}")
            ids = offline_identity(report, message=message, oid_root=lab.oid_root, zone=lab.timezone)
            extension = ids.document_id_extension  # before the DMP's root-only form: names the folder
            ids = plain_oid_identity(ids) if self.dmp else ids
            if self.window and not report.documents:
                mapped = prepare(report, mappings=self.mappings, mapping_settings=settings.mapping)
                job = BuildJob(mapped=mapped, report_id=report.report_id, lab=lab, ids=ids, recipients=recipients,
                               message_settings=settings.message, draft=True)
                future = gate.submit_task(job, timeout=settings.build_budget_seconds + KILL_MARGIN)
                self.pending.append(_Pending(path=path, report=report, extension=extension, warnings=warnings,
                                             result=lambda: _gated(gate, job, future.result())))
                return
            art = compose_artifacts(report, mappings=self.mappings, mapping_settings=settings.mapping, lab=lab,
                                    ids=ids, recipients=recipients, message_settings=settings.message, xsd=gate.xsd,
                                    draft=True)
            if gate.runs_schematrons:
                gate.check(art.cda).raise_if_rejected(report_id=report.report_id)
        except ConnectorError as exc:
            self._failed(path, report, exc)
            return
        self.pending.append(_Pending(path=path, report=report, extension=extension, warnings=warnings,
                                     result=lambda: art))

    def _failed(self, path: Path, report: LabReport, exc: ConnectorError) -> None:
        if isinstance(exc, DocumentRejected):  # written nowhere: each problem named, values never quoted
            self.results.failures.append(f"{path}: {exc}")
            self.results.failures.extend(f"  {problem}" for problem in exc.problems[1:MAX_LISTED])
        else:  # its message names the report, the segment and the field
            text = str(exc)
            self.results.failures.append(f"{path}: {text}" if text.startswith("report ")
                                         else f"{path}: report {report.report_id}: {text}")

    def _finish(self, pending: _Pending) -> None:
        path, report = pending.path, pending.report
        try:
            art = pending.result()
        except ConnectorError as exc:
            self._failed(path, report, exc)
            return
        except WorkerDefect as exc:
            self.results.failures.append(f"{path}: report {report.report_id}: internal error ({exc.kind}) at "
                                         f"{exc.where}: report it to the connector's maintainers")
            return
        # Two inputs that reuse an MSH-10 share a report id: never let one overwrite the other
        # (the same bytes twice are the same document: same ids, same folder).
        folder_name = report.report_id
        if self.folders.setdefault(folder_name, pending.extension) != pending.extension:
            folder_name = f"{report.report_id}-{pending.extension[:8]}"
        folder = self.out_dir / folder_name
        folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        files = [("cda.xml", art.cda), ("IHE_XDM.ZIP", art.xdm), ("message.eml", art.email), ("report.pdf", art.pdf)]
        if self.dmp_setup is not None:
            request, why = dmp_request_for(report, cda=art.cda, ids=art.ids, lab=self.settings.lab,
                                           settings=self.dmp_setup[0], credentials=self.dmp_setup[1])
            if request is not None:
                files.append((REQUEST_FILE, request))
            else:
                self.results.notes.append(why)
        for name, data in files:
            write_private(folder / name, data, sync_dir=False)
        fsync_dir(folder)  # one folder fsync for the files of a report
        self.results.warnings += pending.warnings
        if art.standin is not None:  # never silent
            self.results.warnings.append(f"{path}: report {report.report_id}: signed by the lab's biologist "
                                         f"{art.standin.idnps} in place of one the message does not identify "
                                         f"({art.standin.missing}; lab.biologist_standin)")
        self.results.built.append((report.report_id, folder))


def _gated(gate: ValidationGate, job: BuildJob, reply: object) -> Artifacts:
    art, verdict = artifacts_of(gate, job, reply)
    verdict.raise_if_rejected(report_id=job.report_id)
    return art
