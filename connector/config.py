"""The service configuration: one YAML file, checked at start.

Every error names the file, the line, the key and what was expected. Secrets are
never in the file itself: ``*_file`` keys point to files (0600), or environment
variables named in the example config supply them. Production mode refuses
settings that would break a promise (TLS verification off, test INS accepted).
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from connector.errors import ConfigError
from connector.labtime import zone_problem
from connector.model import IdentityStatus, LabIdentity
from connector.oids import overlapping_arcs

__all__ = ["Config", "load_config", "parse_config"]


@dataclass(frozen=True)
class TlsFiles:
    cafile: str = ""  # CA bundle the server must chain to (IGC-Santé in production)
    certfile: str = ""  # our client certificate (ORG_AUTH_CLI)
    keyfile: str = ""
    verify: bool = True  # false is refused in production


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 587
    starttls: bool = True
    tls: TlsFiles = TlsFiles()
    timeout: float = 30.0
    username: str = ""
    password_file: str = ""
    dsn: bool = True  # request DSNs (NOTIFY, ENVID, RET=HDRS)


@dataclass(frozen=True)
class ImapConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 143
    starttls: bool = True  # false: implicit TLS (IMAPS, usually port 993)
    timeout: float = 30.0
    tls: TlsFiles = TlsFiles()
    username: str = ""
    password_file: str = ""
    sasl_external: bool = False
    mailbox: str = "INBOX"
    done_folder: str = "Traites"
    unknown_folder: str = "Inconnus"
    poll_seconds: float = 30.0


@dataclass(frozen=True)
class FolderConfig:
    enabled: bool = True
    drop: str = "drop"
    archive: str = "archive"
    quarantine: str = "quarantine"
    stable_seconds: float = 2.0
    log_names: bool = True  # false: logs and the store name files by a digest (names holding patient data)


@dataclass(frozen=True)
class MllpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2575
    max_message_bytes: int = 64 * 1024 * 1024
    max_connections: int = 32


@dataclass(frozen=True)
class IntakeConfig:
    folder: FolderConfig = FolderConfig()
    mllp: MllpConfig = MllpConfig()


@dataclass(frozen=True)
class LabConfig:
    name: str = "Laboratoire de démonstration"
    finess: str = "000000000"
    oid_root: str = "1.2.250.1.999.1"
    ipp_oid: str = "1.2.250.1.999.1.4"
    street: str = ""
    postal_code: str = ""
    city: str = ""
    telecom: str = ""
    mailbox: str = "labo@labo.test"
    biologist_rpps: str = ""
    biologist_family: str = ""
    biologist_given: str = ""
    biologist_standin: bool = False  # true: that biologist signs reports whose validator the SIL does not identify
    timezone: str = "Europe/Paris"  # IANA name; a fixed offset such as "+0100" is deprecated (wrong half the year)


@dataclass(frozen=True)
class MappingsConfig:
    dir: str = "mappings"
    loinc_dir: str = "loinc"
    hold_unmapped: bool = False  # true: a report with an unmapped local code waits for a mapping


@dataclass(frozen=True)
class IdentityConfig:
    # PID-32 codes sent by this site's SIL → RNIV status; anything else is "not qualified".
    status_map: dict[str, str] = field(
        default_factory=lambda: {"QUAL": "QUAL", "VALI": "VALI", "RECUP": "RECUP", "PROV": "PROV"}
    )
    allow_test_ins: bool = False  # test/demo INS OIDs (…4.10, …4.11): refused in production


@dataclass(frozen=True)
class RoutingConfig:
    patient_mailbox: bool = False  # send to <INS>@patient.mssante.fr (qualified INS only)
    copy_to: bool = True  # OBR-28 copy-to doctors
    mailbox_choice: str = "all"  # a person with several mailboxes: all | first


@dataclass(frozen=True)
class MessageConfig:
    nil: str = ""  # X-MSS-NIL product-declaration reference
    request_mdn: bool = True


@dataclass(frozen=True)
class SilConfig:
    ack_application: str = "CONNECTOR"  # MSH-3 of the ACKs and ZAMs we send
    ack_facility: str = "LABO"
    zam_folder: str = ""  # write ZAMs here…
    zam_host: str = ""  # …or send them over MLLP
    zam_port: int = 0


@dataclass(frozen=True)
class ValidationConfig:
    xsd: str = ""  # CDA_extended.xsd of the ANS kit; empty: the kit beside the checkout when present
    schematron: bool = False  # gate every document on the six ANS schematrons (costs ~0.5 s/document)
    ans_kit: str = ""


@dataclass(frozen=True)
class RetryConfig:
    first_seconds: float = 60.0
    max_seconds: float = 3600.0
    give_up_hours: float = 120.0  # then the report is quarantined with the last reason (Postfix: 5 days)


MIN_ARCHIVE_DAYS = 1  # an archived file is already in the store; one day covers a same-day investigation
MIN_QUARANTINE_DAYS = 30  # a person must have had time to read the reason and have the SIL resend
MIN_STORE_DAYS = 30  # MDNs (read receipts) can arrive weeks after delivery and need the input for the ZAM


@dataclass(frozen=True)
class RetentionConfig:
    """Ages in days after which data is removed (`connector prune`); see docs/operations.md."""

    archive_days: int = 90
    quarantine_days: int = 365
    store_days: int = 400

    def check(self) -> None:
        for key, value, floor in (("archive_days", self.archive_days, MIN_ARCHIVE_DAYS),
                                  ("quarantine_days", self.quarantine_days, MIN_QUARANTINE_DAYS),
                                  ("store_days", self.store_days, MIN_STORE_DAYS)):
            if value < floor:
                raise ConfigError(f"expected at least {floor} days, got {value}", key=f"retention.{key}")


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 9464


@dataclass(frozen=True)
class Config:
    mode: str = "production"  # production | test
    data_dir: str = "var"  # store, directory database, imported LOINC table
    lab: LabConfig = LabConfig()
    intake: IntakeConfig = IntakeConfig()
    mappings: MappingsConfig = MappingsConfig()
    identity: IdentityConfig = IdentityConfig()
    routing: RoutingConfig = RoutingConfig()
    directory: str = ""  # the imported directory database; empty: <data_dir>/directory.sqlite
    smtp: SmtpConfig = SmtpConfig()
    imap: ImapConfig = ImapConfig()
    message: MessageConfig = MessageConfig()
    sil: SilConfig = SilConfig()
    validation: ValidationConfig = ValidationConfig()
    retry: RetryConfig = RetryConfig()
    metrics: MetricsConfig = MetricsConfig()
    retention: RetentionConfig = RetentionConfig()
    base_dir: str = ""  # set by the loader: relative paths are relative to the config file

    @property
    def production(self) -> bool:
        return self.mode == "production"

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else Path(self.base_dir or ".") / p

    @property
    def store_path(self) -> Path:
        return self.path(self.data_dir) / "connector.sqlite"

    @property
    def directory_path(self) -> Path:
        return self.path(self.directory) if self.directory else self.path(self.data_dir) / "directory.sqlite"

    def lab_identity(self) -> LabIdentity:
        lab = self.lab
        return LabIdentity(
            name=lab.name, finess=lab.finess, oid_root=lab.oid_root, ipp_oid=lab.ipp_oid, street=lab.street,
            postal_code=lab.postal_code, city=lab.city, telecom=lab.telecom, mailbox=lab.mailbox,
            default_biologist_rpps=lab.biologist_rpps, default_biologist_family=lab.biologist_family,
            default_biologist_given=lab.biologist_given, timezone=lab.timezone,
            biologist_standin=lab.biologist_standin,
        )

    def identity_status_map(self) -> dict[str, IdentityStatus]:
        return {k: IdentityStatus(v) for k, v in self.identity.status_map.items()}

    def secret(self, file_key: str, env: str) -> str:
        """A secret from the environment variable ``env``, else from the file ``file_key`` names."""
        if os.environ.get(env):
            return os.environ[env]
        return self.path(file_key).read_text(encoding="utf-8").strip() if file_key else ""


_MODES = ("production", "test")


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration ({exc.strerror})", path=str(path)) from None
    return parse_config(text, source=str(path), base_dir=path.resolve().parent)


def parse_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> Config:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML ({getattr(exc, 'problem', 'syntax error')})", path=source,
                          line=mark.line + 1 if mark else None) from None
    if node is None:
        node = yaml.MappingNode("tag:yaml.org,2002:map", [])
    config: Config = _build(Config, node, source, "")
    config = dataclasses.replace(config, base_dir=str(base_dir or Path.cwd()))
    _check(config, node, source)
    return config


def _build(cls: type, node: yaml.Node, source: str, prefix: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("expected a mapping of keys", path=source, line=node.start_mark.line + 1, key=prefix)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "base_dir"}
    values: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in names:
            raise ConfigError(f"unknown key (expected one of: {', '.join(sorted(names))})", path=source,
                              line=key_node.start_mark.line + 1, key=dotted)
        values[key] = _value(hints[key], value_node, source, dotted)
    return cls(**values)


def _value(kind: Any, node: yaml.Node, source: str, key: str) -> Any:
    line = node.start_mark.line + 1
    if dataclasses.is_dataclass(kind):
        return _build(kind, node, source, key)  # type: ignore[arg-type]
    origin = typing.get_origin(kind)
    if origin is dict:
        if not isinstance(node, yaml.MappingNode):
            raise ConfigError("expected a mapping", path=source, line=line, key=key)
        return {k.value: str(v.value) for k, v in node.value}
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(f"expected a single {_name(kind)} value", path=source, line=line, key=key)
    raw = yaml.safe_load(yaml.serialize(node))
    if kind is bool:
        if not isinstance(raw, bool):
            raise ConfigError("expected true or false", path=source, line=line, key=key)
        return raw
    if kind in (int, float):
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or (kind is int and isinstance(raw, float)):
            raise ConfigError(f"expected a number ({_name(kind)})", path=source, line=line, key=key)
        return kind(raw)
    return "" if raw is None else str(raw)


def _name(kind: Any) -> str:
    return {bool: "true/false", int: "whole number", float: "number", str: "text"}.get(kind, str(kind))


def _line_of(node: yaml.Node, dotted: str) -> int | None:
    current: yaml.Node | None = node
    for part in dotted.split("."):
        if not isinstance(current, yaml.MappingNode):
            return None
        current = next((v for k, v in current.value if k.value == part), None)
        if current is None:
            return None
    if current is None:  # cannot happen (the loop returns first), but yaml is untyped so mypy loses the narrowing
        return None
    line: int = current.start_mark.line
    return line + 1


def _check(config: Config, node: yaml.Node, source: str) -> None:
    def fail(message: str, key: str) -> None:
        raise ConfigError(message, path=source, line=_line_of(node, key), key=key)

    if config.mode not in _MODES:
        fail(f"expected one of: {', '.join(_MODES)}", "mode")
    try:
        config.retention.check()
    except ConfigError as exc:
        raise ConfigError(str(exc).partition(": ")[2], path=source, line=_line_of(node, exc.key), key=exc.key) from None
    for status in config.identity.status_map.values():
        if status not in {s.value for s in IdentityStatus} or not status:
            fail("expected RNIV statuses PROV, RECUP, VALI or QUAL as values", "identity.status_map")
    if config.routing.mailbox_choice not in ("all", "first"):
        fail("expected all or first", "routing.mailbox_choice")
    zone = zone_problem(config.lab.timezone)
    if zone is not None:
        fail(f"expected {zone}", "lab.timezone")
    shared = overlapping_arcs(config.lab.oid_root, config.lab.ipp_oid)
    if shared:
        fail(f"expected an IPP authority OID distinct from the connector's own arcs ({', '.join(shared)})",
             "lab.ipp_oid")
    if config.lab.biologist_standin and not config.lab.biologist_rpps:
        fail("expected lab.biologist_rpps (the stand-in's RPPS) when biologist_standin is true",
             "lab.biologist_standin")
    if config.production:
        for key, tls in (("smtp.tls.verify", config.smtp.tls), ("imap.tls.verify", config.imap.tls)):
            if not tls.verify:
                fail("TLS verification cannot be turned off in production mode", key)
        if config.identity.allow_test_ins:
            fail("test and demo INS OIDs cannot be accepted in production mode", "identity.allow_test_ins")
        if not config.smtp.tls.cafile:
            fail("a CA bundle (IGC-Santé) is required in production mode", "smtp.tls.cafile")
