"""`connector build` and `connector preview`: the pipeline's build path on files, offline.

Sends nothing and writes no store: each report gets version-1 ids derived from its
report id and the message time, so building the same input twice gives the same files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from connector.cda import XsdValidator, default_xsd_path
from connector.config import Config
from connector.config.settings import pipeline_settings
from connector.dmp import plain_oid_identity
from connector.dmp.demo import demo_settings
from connector.dmp.offline import REQUEST_FILE, dmp_request_for
from connector.errors import ConnectorError, InputError, RoutingError
from connector.files import DIR_MODE, fsync_dir, write_private
from connector.mapping import Mappings
from connector.model import DocumentIdentity, LabReport, Recipient
from connector.parse import parse_message, split_messages
from connector.pipeline import compose_artifacts
from connector.send import Directory, import_directory, recipients_for

__all__ = ["BuildResults", "build_files", "offline_identity"]


@dataclass
class BuildResults:
    built: list[tuple[str, Path]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. why a report got no DMP request


def offline_identity(report: LabReport, *, oid_root: str, zone: str) -> DocumentIdentity:
    when = report.header.message_datetime or "19700101000000"
    when = (when + "00000000000000")[:14] if len(when) < 14 else when[:14]
    return DocumentIdentity(
        document_id_root=f"{oid_root}.1", document_id_extension=report.report_id,
        set_id_root=f"{oid_root}.3", set_id_extension=report.report_id, version=1,
        effective_time=when + zone,
    )


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
                progress: Callable[[int], object] | None = None, *, dmp: bool = False) -> BuildResults:
    """``dmp``: documents get root-only OID ids (the DMP's rule) and each report with a qualified INS also gets
    ``dmp-request.mime``, the TD2.1 signed with a demo certificate made for this run."""
    results = BuildResults()
    settings = pipeline_settings(config)
    lab = settings.lab
    mappings = Mappings.load(config.mappings_path, loinc_dir=config.loinc_path)
    xsd_path = config.path(config.validation.xsd) if config.validation.xsd else default_xsd_path()
    xsd = XsdValidator(xsd_path) if xsd_path else None
    with tempfile.TemporaryDirectory(prefix="connector-build-") as scratch:
        directory = _directory(config, Path(scratch))
        dmp_setup = demo_settings(lab, Path(scratch) / "dmp-pki") if dmp else None
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
                        recipients: tuple[Recipient, ...] = ()
                        if directory is not None:
                            try:
                                recipients = recipients_for(report, directory, settings.routing)
                            except RoutingError:
                                recipients = ()  # offline: the e-mail is still written, with no To
                        ids = offline_identity(report, oid_root=lab.oid_root, zone=lab.timezone)
                        ids = plain_oid_identity(ids) if dmp else ids
                        art = compose_artifacts(report, mappings=mappings, mapping_settings=settings.mapping,
                                                lab=lab, ids=ids, recipients=recipients,
                                                message_settings=settings.message, xsd=xsd)
                    except ConnectorError as exc:
                        results.failures.append(f"{path}: report {report.report_id}: {exc}")
                        continue
                    folder = out_dir / report.report_id
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
                    results.built.append((report.report_id, folder))
    return results
