"""The one place that turns a :class:`Config` into what each stage takes.

Stages never read the configuration, environment variables or paths of their own: they
receive values built here. A new configuration key is read here and nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from connector.dmp import DmpCredentials, DmpSettings, SignatureDigest, load_credentials
from connector.errors import ConfigError
from connector.intake import FolderSettings, MllpSettings, PeerPolicy, server_tls_context
from connector.mapping import MappingSettings
from connector.model import IdentityStatus, LabIdentity
from connector.package import MessageSettings
from connector.parse import ParseSettings
from connector.pipeline import PipelineSettings, RetryPolicy, SilIdentity
from connector.send import RoutingSettings, SmtpSettings, TlsSettings
from connector.store import StoreSettings, default_instance
from connector.track import FolderOutbox, ImapSettings, MllpOutbox, SilOutbox
from connector.validation import GateSettings, ValidationMode

from .schema import Config, TlsFiles

__all__ = [
    "dmp_credentials",
    "dmp_settings",
    "folder_settings",
    "imap_settings",
    "instance_name",
    "lab_identity",
    "mllp_settings",
    "parse_settings",
    "pipeline_settings",
    "secret",
    "sil_outbox",
    "smtp_settings",
    "store_settings",
    "tls_settings",
    "validation_settings",
]

# Where secrets may come from instead of a file (systemd credentials, a vault agent): never the YAML itself.
SMTP_PASSWORD_ENV = "CONNECTOR_SMTP_PASSWORD"
IMAP_PASSWORD_ENV = "CONNECTOR_IMAP_PASSWORD"
STORE_PASSWORD_ENV = "CONNECTOR_STORE_PASSWORD"


def secret(config: Config, file_key: str, env: str) -> str:
    """A secret from the environment variable ``env``, else from the file ``file_key`` names."""
    if os.environ.get(env):
        return os.environ[env]
    return config.path(file_key).read_text(encoding="utf-8").strip() if file_key else ""


def lab_identity(config: Config) -> LabIdentity:
    lab = config.lab
    return LabIdentity(
        name=lab.name, finess=lab.finess, oid_root=lab.oid_root, ipp_oid=lab.ipp_oid, street=lab.street,
        postal_code=lab.postal_code, city=lab.city, telecom=lab.telecom, mailbox=lab.mailbox,
        default_biologist_rpps=lab.biologist_rpps, default_biologist_family=lab.biologist_family,
        default_biologist_given=lab.biologist_given, timezone=lab.timezone,
        biologist_standin=lab.biologist_standin,
    )


def identity_status_map(config: Config) -> Mapping[str, IdentityStatus]:
    return {k: IdentityStatus(v) for k, v in config.identity.status_map.items()}


def parse_settings(config: Config) -> ParseSettings:
    return ParseSettings(identity_status_map=identity_status_map(config),
                         allow_test_ins=config.identity.allow_test_ins,
                         fallback_charsets=dict(config.identity.charset_fallback))


def pipeline_settings(config: Config) -> PipelineSettings:
    lab = lab_identity(config)
    return PipelineSettings(
        lab=lab,
        parse=parse_settings(config),
        mapping=MappingSettings(hold_unmapped=config.mappings.hold_unmapped),
        routing=RoutingSettings(mailbox_choice=config.routing.mailbox_choice,
                                patient_mailbox=config.routing.patient_mailbox, copy_to=config.routing.copy_to),
        message=MessageSettings(sender=lab.mailbox, nil=config.message.nil, request_mdn=config.message.request_mdn,
                                source_oid=lab.oid_root),
        retry=RetryPolicy(first_seconds=config.retry.first_seconds, max_seconds=config.retry.max_seconds,
                          give_up_hours=config.retry.give_up_hours),
        sil=SilIdentity(application=config.sil.ack_application, facility=config.sil.ack_facility),
        build_budget_seconds=config.build.budget_seconds,
        dmp_discrete_feed=config.dmp.discrete_feed,
    )


def dmp_settings(config: Config) -> DmpSettings:
    """The ``dmp:`` section; what it leaves empty comes from the ``lab:`` section (one place for each value)."""
    dmp, lab = config.dmp, lab_identity(config)
    try:
        digest = SignatureDigest(dmp.digest)
    except ValueError:
        raise ConfigError(f"expected one of: {', '.join(d.value for d in SignatureDigest)}", key="dmp.digest") from None

    def file(name: str) -> str:
        return str(config.path(name)) if name else ""

    return DmpSettings(
        base_url=dmp.base_url, repository_suffix=dmp.repository_suffix, registry_suffix=dmp.registry_suffix,
        structure_id=dmp.structure_id or f"1{lab.finess}", structure_name=dmp.structure_name or lab.name,
        sector=dmp.sector,
        responsible_id=dmp.responsible_id or (f"8{lab.default_biologist_rpps}" if lab.default_biologist_rpps else ""),
        software_name=dmp.software_name or lab.application_name,
        software_version=dmp.software_version or lab.application_version,
        homologation_number=dmp.homologation_number, lps_id=dmp.lps_id, source_oid=dmp.source_oid or lab.oid_root,
        auth_cert_file=file(dmp.auth_cert_file), auth_key_file=file(dmp.auth_key_file),
        sign_cert_file=file(dmp.sign_cert_file), sign_key_file=file(dmp.sign_key_file), ca_file=file(dmp.ca_file),
        vihf_version=dmp.vihf_version, digest=digest, connect_timeout=dmp.connect_timeout,
        read_timeout=dmp.read_timeout, transactions_per_second=dmp.transactions_per_second,
    )


def dmp_credentials(config: Config) -> DmpCredentials:
    """The signature key and chain of the ``dmp:`` section, loaded once (ConfigError naming the key)."""
    return load_credentials(dmp_settings(config))


def folder_settings(config: Config) -> FolderSettings:
    f = config.intake.folder
    return FolderSettings(drop=config.path(f.drop), archive=config.path(f.archive),
                          quarantine=config.path(f.quarantine), stable_seconds=f.stable_seconds,
                          log_names=f.log_names, max_file_bytes=config.intake.max_message_bytes,
                          # a shared store: the folder may be shared by the instances, each claims in its own
                          instance=instance_name(config) if config.store.url else "")


def mllp_settings(config: Config) -> MllpSettings:
    m = config.intake.mllp
    tls = None
    if m.tls.certfile:
        tls = server_tls_context(certfile=config.path(m.tls.certfile),
                                 keyfile=config.path(m.tls.keyfile) if m.tls.keyfile else None,
                                 client_cafile=config.path(m.tls.client_cafile) if m.tls.client_cafile else None)
    return MllpSettings(host=m.host, port=m.port, max_message_bytes=config.intake.max_message_bytes,
                        idle_timeout=m.idle_timeout, read_timeout=m.read_timeout, max_connections=m.max_connections,
                        max_connections_per_peer=m.max_connections_per_peer, tls=tls,
                        peers=PeerPolicy.parse(m.allowed_peers, m.tls.allowed_subjects))


def tls_settings(config: Config, tls: TlsFiles) -> TlsSettings:
    return TlsSettings(cafile=config.path(tls.cafile), certfile=config.path(tls.certfile) if tls.certfile else None,
                       keyfile=config.path(tls.keyfile) if tls.keyfile else None, verify=tls.verify)


def smtp_settings(config: Config) -> SmtpSettings:
    smtp = config.smtp
    return SmtpSettings(
        host=smtp.host, port=smtp.port, starttls=smtp.starttls, tls=tls_settings(config, smtp.tls),
        timeout=smtp.timeout, dsn=smtp.dsn, username=smtp.username or None,
        password=secret(config, smtp.password_file, SMTP_PASSWORD_ENV) or None,
    )


def imap_settings(config: Config) -> ImapSettings:
    """The ack mailbox's connection settings from the ``imap:`` section (secrets read here)."""
    imap = config.imap
    return ImapSettings(
        host=imap.host, port=imap.port, tls=tls_settings(config, imap.tls), username=imap.username,
        password=secret(config, imap.password_file, IMAP_PASSWORD_ENV), sasl_external=imap.sasl_external,
        mailbox=imap.mailbox, done_folder=imap.done_folder, unknown_folder=imap.unknown_folder,
        starttls=imap.starttls, timeout=imap.timeout,
    )


def store_settings(config: Config) -> StoreSettings:
    """Where the store is: the SQLite file in ``data_dir``, or ``store.url`` (its password read here)."""
    store = config.store
    password = secret(config, store.password_file, STORE_PASSWORD_ENV) if store.url else ""
    return StoreSettings(path=config.store_path, url=store.url, password=password, pool_size=store.pool_size)


def instance_name(config: Config) -> str:
    """This process's name among the instances of one store: ``instance.name``, else ``<host>-<pid>``."""
    return config.instance.name or default_instance()


def sil_outbox(config: Config) -> SilOutbox:
    """Where ZAMs go: a folder the SIL polls (mode and group for its account), or its MLLP listener."""
    sil = config.sil
    if sil.zam_folder:
        return FolderOutbox(directory=config.path(sil.zam_folder), mode=int(sil.zam_file_mode, 8))
    return MllpOutbox(sil.zam_host, sil.zam_port)


def validation_settings(config: Config) -> GateSettings:
    """The gate: its mode, the kit (configured, else installed in ``data_dir``), workers (0: one per core).

    In production a missing kit stops the start unless ``validation.mode`` is ``off``; in test mode
    it leaves the gate reduced (nothing official checked), said once at start.
    """
    v = config.validation
    return GateSettings(mode=ValidationMode(v.mode), kit=config.ans_kit_path, workers=v.workers or None,
                        required=config.production)
