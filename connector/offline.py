"""`connector build` and `connector preview`: the pipeline's build path on files, offline.

Sends nothing and writes no store: each report gets version-1 ids derived from its report id
*and the message bytes*, so building the same input twice gives the same files while two SIL
messages that reuse an MSH-10 never share a document id, setId or Message-ID (nor a folder).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from connector.build import build_artifacts
from connector.cda import XsdValidator, default_xsd_path
from connector.config import Config
from connector.errors import ConnectorError, InputError, RoutingError
from connector.labtime import with_zone
from connector.logs import event
from connector.mapping import Mappings, MappingSettings
from connector.model import DocumentIdentity, LabReport, Recipient
from connector.oids import IdKind, offline_extension, oid_for
from connector.package import MessageSettings
from connector.parse import ParseSettings, parse_message, split_messages
from connector.send import Directory, RoutingSettings, import_directory, route

__all__ = ["BuildResults", "build_files", "offline_identity", "write_private"]


_MSH7 = re.compile(r"(\d{4,14})(?:\.\d+)?([+-]\d{4})?")
_EPOCH = "19700101000000"  # fills what MSH-7 leaves out (a message time with the year only)


@dataclass
class BuildResults:
    built: list[tuple[str, Path]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


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


def write_private(path: Path, data: bytes) -> None:
    """Write a file only its owner can read: temp name, fsync, rename."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _directory(config: Config, scratch: Path) -> Directory | None:
    if config.directory_path.exists():
        return Directory(config.directory_path)
    if config.mode == "test":  # embedded defaults: the demo's synthetic directory rows
        sample = resources.files("connector.demo").joinpath("directory.txt")
        with resources.as_file(sample) as extract:
            import_directory(extract, db_path=scratch / "directory.sqlite")
        return Directory(scratch / "directory.sqlite")
    return None


def build_files(inputs: list[Path], out_dir: Path, config: Config,
                progress: Callable[[int], object] | None = None) -> BuildResults:
    results = BuildResults()
    lab = config.lab_identity()
    mappings = Mappings.load(config.path(config.mappings.dir), loinc_dir=config.path(config.mappings.loinc_dir))
    xsd_path = config.path(config.validation.xsd) if config.validation.xsd else default_xsd_path()
    xsd = XsdValidator(xsd_path) if xsd_path else None
    parse_settings = ParseSettings(identity_status_map=config.identity_status_map(),
                                   allow_test_ins=config.identity.allow_test_ins)
    routing = RoutingSettings(mailbox_choice=config.routing.mailbox_choice,
                              patient_mailbox=config.routing.patient_mailbox, copy_to=config.routing.copy_to)
    message_settings = MessageSettings(sender=lab.mailbox, nil=config.message.nil,
                                       request_mdn=config.message.request_mdn, source_oid=lab.oid_root)
    folders: dict[str, str] = {}  # report id → the document extension written under that folder name
    with tempfile.TemporaryDirectory(prefix="connector-build-") as scratch:
        directory = _directory(config, Path(scratch))
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
                    reports = parse_message(message, source=str(path), index=index, settings=parse_settings)
                except InputError as exc:
                    results.failures.append(exc.located(str(path)).describe())
                    continue
                for report in reports:
                    try:
                        recipients: tuple[Recipient, ...] = ()
                        if directory is not None:
                            try:
                                routed = route(report, directory, routing)
                            except RoutingError:
                                routed = None  # offline: the e-mail is still written, with no To
                            if routed is not None:
                                recipients = routed.recipients
                                for missing in routed.unresolved:
                                    event("recipient.unresolved", level=logging.WARNING, report_id=report.report_id,
                                          kind=missing.kind,
                                          field=missing.field, problem=missing.problem.value,
                                          idnps=missing.idnps, local_id=missing.local_id)
                        ids = offline_identity(report, message=message, oid_root=lab.oid_root, zone=lab.timezone)
                        art = build_artifacts(report, mappings=mappings, mapping_settings=MappingSettings(
                            hold_unmapped=config.mappings.hold_unmapped), lab=lab, ids=ids, recipients=recipients,
                            message_settings=message_settings, xsd=xsd)
                    except ConnectorError as exc:
                        results.failures.append(f"{path}: report {report.report_id}: {exc}")
                        continue
                    # Two inputs that reuse an MSH-10 share a report id: never let one overwrite the other
                    # (the same bytes twice are the same document: same ids, same folder).
                    name = report.report_id
                    if folders.setdefault(name, ids.document_id_extension) != ids.document_id_extension:
                        name = f"{report.report_id}-{ids.document_id_extension[:8]}"
                    folder = out_dir / name
                    write_private(folder / "cda.xml", art.cda)
                    write_private(folder / "IHE_XDM.ZIP", art.xdm)
                    write_private(folder / "message.eml", art.email_bytes())
                    write_private(folder / "report.pdf", art.pdf)
                    results.built.append((report.report_id, folder))
    return results
