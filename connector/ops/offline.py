"""`connector build` and `connector preview`: the pipeline's build path on files, offline.

Sends nothing and writes no store: each report gets version-1 ids derived from its report id
*and the message bytes*, so building the same input twice gives the same files while two SIL
messages that reuse an MSH-10 never share a document id, setId or Message-ID (nor a folder).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from connector.cda import XsdValidator, default_xsd_path
from connector.config import Config
from connector.config.settings import dmp_credentials, dmp_settings, pipeline_settings
from connector.dmp import DmpCredentials, DmpSettings, plain_oid_identity
from connector.dmp.demo import demo_settings
from connector.dmp.offline import REQUEST_FILE, dmp_request_for
from connector.errors import ConnectorError, InputError, RoutingError
from connector.files import DIR_MODE, fsync_dir, write_private
from connector.mapping import Mappings
from connector.model import DocumentIdentity, LabReport, Recipient
from connector.model.labtime import with_zone
from connector.model.oids import IdKind, offline_extension, oid_for
from connector.parse import parse_message, split_messages
from connector.pipeline import compose_artifacts
from connector.send import Directory, RoutingSettings, import_directory, route

__all__ = ["BuildResults", "build_files", "offline_identity"]


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


def build_files(inputs: list[Path], out_dir: Path, config: Config,
                progress: Callable[[int], object] | None = None, *, dmp: bool = False) -> BuildResults:
    """``dmp``: documents get root-only OID ids (the DMP's rule) and each report with a qualified INS also gets
    ``dmp-request.mime``, the TD2.1 signed with the configured DMP certificates (else a demo one made for this run)."""
    results = BuildResults()
    settings = pipeline_settings(config)
    lab = settings.lab
    mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
    xsd_path = config.path(config.validation.xsd) if config.validation.xsd else default_xsd_path()
    xsd = XsdValidator(xsd_path) if xsd_path else None
    folders: dict[str, str] = {}  # report id → the document extension written under that folder name
    with tempfile.TemporaryDirectory(prefix="connector-build-") as scratch:
        directory = _directory(config, Path(scratch))
        if directory is None:
            results.notes.append(f"no MSSanté directory at {config.directory_path}: recipients are not looked up "
                                 "(each one the messages name is a warning); `connector directory import FILE`")
        dmp_setup = _dmp_signing(config, Path(scratch), results.notes) if dmp else None
        for path in inputs:
            if progress is not None:
                progress(1)
            data = path.read_bytes()
            messages = split_messages(data, source=path.name)
            if not messages:
                results.failures.append(InputError("at least one HL7 message starting with MSH",
                                                   source=str(path)).describe())
            for index, message in enumerate(messages):
                try:
                    reports = parse_message(message, source=str(path), index=index, settings=settings.parse)
                except InputError as exc:
                    results.failures.append(exc.located(str(path)).describe())
                    continue
                for report in reports:
                    try:
                        recipients, warnings = _route_offline(report, directory, settings.routing, f"{path}")
                        ids = offline_identity(report, message=message, oid_root=lab.oid_root, zone=lab.timezone)
                        extension = ids.document_id_extension  # before the DMP's root-only form
                        ids = plain_oid_identity(ids) if dmp else ids
                        art = compose_artifacts(report, mappings=mappings, mapping_settings=settings.mapping,
                                                lab=lab, ids=ids, recipients=recipients,
                                                message_settings=settings.message, xsd=xsd, draft=True)
                    except ConnectorError as exc:  # its message names the report, the segment and the field
                        text = str(exc)
                        results.failures.append(f"{path}: {text}" if text.startswith("report ")
                                                else f"{path}: report {report.report_id}: {text}")
                        continue
                    # Two inputs that reuse an MSH-10 share a report id: never let one overwrite the other
                    # (the same bytes twice are the same document: same ids, same folder).
                    folder_name = report.report_id
                    if folders.setdefault(folder_name, extension) != extension:
                        folder_name = f"{report.report_id}-{extension[:8]}"
                    folder = out_dir / folder_name
                    folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                    files = [("cda.xml", art.cda), ("IHE_XDM.ZIP", art.xdm), ("message.eml", art.email),
                             ("report.pdf", art.pdf)]
                    if dmp_setup is not None:
                        request, why = dmp_request_for(report, cda=art.cda, ids=art.ids, lab=lab,
                                                       settings=dmp_setup[0], credentials=dmp_setup[1])
                        if request is not None:
                            files.append((REQUEST_FILE, request))
                        else:
                            results.notes.append(why)
                    for name, data in files:
                        write_private(folder / name, data, sync_dir=False)
                    fsync_dir(folder)  # one folder fsync for the files of a report
                    results.warnings += warnings
                    results.built.append((report.report_id, folder))
    return results
